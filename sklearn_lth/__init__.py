"""Lottery-ticket sparse multi-layer perceptrons for scikit-learn.

Iterative magnitude pruning (Frankle & Carbin, 2019) behind the scikit-learn
estimator API, with weights stored as ``scipy.sparse`` CSR arrays.

The public names are imported on first use (PEP 562), so that importing the
package, or its command line's entry point, loads neither numpy nor
scikit-learn until something needs them: Ctrl-C during the command's start-up
then ends it with one line instead of a traceback through the imports.
"""

import importlib

__version__ = "0.1.0.dev0"

#: The types to trust when loading a fitted model with ``skops.io.load``.
SKOPS_TRUSTED_TYPES = [
    "sklearn_lth._mlp.LotteryTicketMLP",
    "sklearn_lth._mlp.LotteryTicketMLPRegressor",
    "sklearn_lth._cv.LotteryTicketMLPCV",
    "sklearn_lth._cv.LotteryTicketMLPRegressorCV",
    "sklearn_lth._supermask.SupermaskMLP",
    "sklearn_lth._ticket.LotteryTicket",
    "scipy.sparse._csr.csr_array",
    # A checkpoint_dir given as a pathlib.Path is a parameter of the model.
    "pathlib.PosixPath",
    "pathlib.WindowsPath",
]

# Each public name and the module that defines it.
_PUBLIC = {
    "CheckpointError": ".exceptions",
    "InstabilityDisplay": "._instability",
    "LotteryTicket": "._ticket",
    "LotteryTicketDisplay": "._display",
    "LotteryTicketMLP": "._mlp",
    "LotteryTicketMLPCV": "._cv",
    "LotteryTicketMLPRegressor": "._mlp",
    "LotteryTicketMLPRegressorCV": "._cv",
    "SparsityCurveDisplay": "._sparsity_curve",
    "SupermaskMLP": "._supermask",
    "TrainingDivergedError": ".exceptions",
    "config_context": "._config",
    "get_config": "._config",
    "instability": "._instability",
    "per_round_rate": "._pruning",
    "register_onnx_converters": "._onnx",
    "set_config": "._config",
    "sparsity_curve": "._sparsity_curve",
    "stable_rewind_iteration": "._instability",
    "to_onnx": "._onnx",
}

__all__ = ["SKOPS_TRUSTED_TYPES", *_PUBLIC]


def __getattr__(name: str):
    """Import a public name on first use (PEP 562) and keep it here."""
    try:
        module = _PUBLIC[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})
