"""Lottery-ticket sparse multi-layer perceptrons for scikit-learn.

Iterative magnitude pruning (Frankle & Carbin, 2019) behind the scikit-learn
estimator API, with weights stored as ``scipy.sparse`` CSR arrays.
"""

from ._config import config_context, get_config, set_config
from ._cv import LotteryTicketMLPCV, LotteryTicketMLPRegressorCV
from ._display import LotteryTicketDisplay
from ._mlp import LotteryTicketMLP, LotteryTicketMLPRegressor
from ._pruning import per_round_rate
from ._supermask import SupermaskMLP
from ._ticket import LotteryTicket
from .exceptions import CheckpointError, TrainingDivergedError

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

__all__ = [
    "SKOPS_TRUSTED_TYPES",
    "CheckpointError",
    "LotteryTicket",
    "LotteryTicketDisplay",
    "LotteryTicketMLP",
    "LotteryTicketMLPCV",
    "LotteryTicketMLPRegressor",
    "LotteryTicketMLPRegressorCV",
    "SupermaskMLP",
    "TrainingDivergedError",
    "config_context",
    "get_config",
    "per_round_rate",
    "set_config",
]
