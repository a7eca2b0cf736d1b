"""sklearn_lth's settings: set_config, config_context, and what a fit reads."""

import subprocess
import sys

import numpy as np
import pytest

import sklearn_lth
import sklearn_lth._config as config
from sklearn_lth import LotteryTicketMLP, LotteryTicketMLPCV
from sklearn_lth._training import TrainingStep


def test_config_context_sets_and_restores():
    before = sklearn_lth.get_config()["kernels"]
    with sklearn_lth.config_context(kernels="numpy"):
        assert sklearn_lth.get_config()["kernels"] == "numpy"
        with sklearn_lth.config_context():  # None changes nothing
            assert sklearn_lth.get_config()["kernels"] == "numpy"
    assert sklearn_lth.get_config()["kernels"] == before


def test_an_unknown_path_is_refused_by_name():
    with pytest.raises(ValueError, match="kernels must be one of 'auto'.*'fast'"):
        sklearn_lth.set_config(kernels="fast")
    assert sklearn_lth.get_config()["kernels"] != "fast"


def test_numba_without_numba_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(config, "numba_available", lambda: False)
    with pytest.raises(ImportError, match=r'pip install "sklearn-lth\[fast\]"'):
        sklearn_lth.set_config(kernels="numba")
    # auto falls back to numpy, whatever the network's size.
    with sklearn_lth.config_context(kernels="auto"):
        assert config.resolved_kernels(10**9) == "numpy"


def test_a_numba_that_fails_to_import_counts_as_absent(monkeypatch):
    """After a numpy upgrade numba does not support yet, say."""
    monkeypatch.setattr(config, "_numba_problem", "ImportError: Numba needs NumPy 2.3")
    assert not config.numba_available()
    with sklearn_lth.config_context(kernels="auto"):
        assert config.resolved_kernels(10**9) == "numpy"
    with pytest.raises(ImportError, match="Numba needs NumPy 2.3"):
        sklearn_lth.set_config(kernels="numba")


def test_auto_uses_numba_for_networks_large_enough_to_gain(monkeypatch):
    monkeypatch.setattr(config, "numba_available", lambda: True)
    with sklearn_lth.config_context(kernels="auto"):
        assert config.resolved_kernels(config.AUTO_MIN_WEIGHTS) == "numba"
        assert config.resolved_kernels(config.AUTO_MIN_WEIGHTS - 1) == "numpy"
    with sklearn_lth.config_context(kernels="numpy"):
        assert config.resolved_kernels(10**9) == "numpy"


def _paths_of_fit(monkeypatch, fit):
    """The ``kernels`` of every training step ``fit()`` builds."""
    seen = []
    real = TrainingStep.__init__

    def spy(self, network, training, *args, **kwargs):
        seen.append(training.kernels)
        real(self, network, training, *args, **kwargs)

    monkeypatch.setattr(TrainingStep, "__init__", spy)
    fit()
    return seen


def test_a_fit_reads_the_setting_once_for_all_its_rounds(
    small_classification, monkeypatch
):
    pytest.importorskip("numba")
    X, y = small_classification
    model = LotteryTicketMLP(
        (6,),
        max_iter=20,
        learning_rate_init=0.05,
        target_sparsity=0.5,
        pruning_rounds=2,
    )
    for kernels in ("numpy", "numba"):
        with sklearn_lth.config_context(kernels=kernels):
            seen = _paths_of_fit(monkeypatch, lambda: model.fit(X, y))
        assert seen == [kernels] * 3


def test_cv_folds_in_worker_threads_use_the_callers_setting(
    small_classification, monkeypatch
):
    """A thread (or process) of joblib's starts from the default settings."""
    X, y = small_classification
    model = LotteryTicketMLPCV(
        hidden_layer_sizes=(6,),
        max_iter=20,
        learning_rate_init=0.05,
        max_rounds=1,
        cv=2,
        n_jobs=2,
    )
    from joblib import parallel_config

    with (
        parallel_config(backend="threading"),
        sklearn_lth.config_context(kernels="numpy"),
    ):
        monkeypatch.setattr(config, "AUTO_MIN_WEIGHTS", 0)
        monkeypatch.setattr(config, "numba_available", lambda: True)
        seen = _paths_of_fit(monkeypatch, lambda: model.fit(X, y))
    assert seen and set(seen) == {"numpy"}


def test_the_environment_variable_sets_the_default():
    code = "import sklearn_lth; print(sklearn_lth.get_config()['kernels'])"
    env = {"SKLEARN_LTH_KERNELS": "numpy", "PATH": ""}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert out.stdout.strip() == "numpy", out.stderr
    env["SKLEARN_LTH_KERNELS"] = ""  # empty: unset
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert out.stdout.strip() == "auto", out.stderr
    env["SKLEARN_LTH_KERNELS"] = "gpu"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert out.stdout.strip() == "gpu"  # read as given ...
    with pytest.raises(ValueError, match="got 'gpu'"):
        with sklearn_lth.config_context(kernels="auto"):
            config._config()["kernels"] = "gpu"  # ... and refused by a fit
            LotteryTicketMLP(max_iter=2).fit(np.eye(3), [0, 1, 1])
