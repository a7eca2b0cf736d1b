"""Bad input: every case gets a clear error that names the problem."""

import numpy as np
import pytest
import scipy.sparse as sp
from _helpers import no_training
from sklearn.exceptions import NotFittedError

from sklearn_lth import LotteryTicket, LotteryTicketMLP, LotteryTicketMLPRegressor
from sklearn_lth._compat import InvalidParameterError
from sklearn_lth.exceptions import CheckpointError

rng = np.random.RandomState(0)
X = rng.normal(size=(40, 4))
y = np.arange(40) % 2
FAST = dict(hidden_layer_sizes=(5,), max_iter=5, pruning_rounds=1, random_state=0)


def _with(array, index, value, dtype=float):
    array = array.astype(dtype)
    array[index] = value
    return array


FIT_CASES = {
    "NaN in X": (_with(X, (3, 1), np.nan), y, ValueError, "NaN"),
    "inf in X": (_with(X, (3, 1), np.inf), y, ValueError, "infinity"),
    "NaN in y": (X, _with(y, 5, np.nan), ValueError, "NaN"),
    "empty X": (np.empty((0, 4)), np.empty(0), ValueError, "0 sample"),
    "one sample": (X[:1], y[:1], ValueError, "one class"),
    "one class": (X, np.zeros(40), ValueError, "one class.*at least 2 classes"),
    "3-d X": (X.reshape(40, 2, 2), y, ValueError, "dim 3"),
    "complex X": (X + 1j, y, ValueError, "[Cc]omplex"),
    "string X": (
        X.astype(str).astype(object) + "x",
        y,
        ValueError,
        "could not convert|string",
    ),
    "mismatched lengths": (X, y[:-1], ValueError, "inconsistent numbers of samples"),
    "continuous y for a classifier": (X, X[:, 0], ValueError, "Unknown label type"),
}


@pytest.mark.parametrize("case", FIT_CASES, ids=list(FIT_CASES))
def test_bad_fit_input(case):
    X_bad, y_bad, error, message = FIT_CASES[case]
    with pytest.raises(error, match=message):
        LotteryTicketMLP(**FAST).fit(X_bad, y_bad)


@pytest.fixture(scope="module")
def fitted():
    return LotteryTicketMLP(**FAST).fit(X, y)


PREDICT_CASES = {
    "wrong feature count": (
        X[:, :3],
        ValueError,
        "3 features, but LotteryTicketMLP is expecting 4",
    ),
    "NaN at predict": (_with(X, (0, 0), np.nan), ValueError, "NaN"),
    "1-d X at predict": (X[0], ValueError, "Expected 2D array"),
    "sparse with wrong features": (sp.csr_array(X[:, :2]), ValueError, "2 features"),
}


@pytest.mark.parametrize("case", PREDICT_CASES, ids=list(PREDICT_CASES))
@pytest.mark.parametrize("method", ["predict", "predict_proba"])
def test_bad_predict_input(fitted, case, method):
    X_bad, error, message = PREDICT_CASES[case]
    with pytest.raises(error, match=message):
        getattr(fitted, method)(X_bad)


@pytest.mark.parametrize("Estimator", [LotteryTicketMLP, LotteryTicketMLPRegressor])
def test_predict_before_fit(Estimator):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        Estimator().predict(X)


def test_pandas_feature_names():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    model = LotteryTicketMLP(**FAST).fit(frame, y)
    np.testing.assert_array_equal(model.feature_names_in_, ["a", "b", "c", "d"])
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        model.predict(X)
    with pytest.raises(ValueError, match="feature names should match"):
        model.predict(frame.rename(columns={"a": "z"}))
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        from_array = model.predict(frame.to_numpy())
    np.testing.assert_array_equal(model.predict(frame), from_array)


INVALID_PARAMS = {
    "hidden_layer_sizes": "ten",
    "activation": "sigmoid",
    "target_sparsity": 1.0,
    "pruning_rounds": 0,
    "pruning_scope": "local",
    "pruning_criterion": "largest",
    "output_layer_rate": 1.5,
    "rewind": "rewound",
    "rewind_iteration": -1,
    "rewind_fraction": 2.0,
    "ticket": "a ticket",
    "n_seeds": 0,
    "n_jobs": "many",
    "checkpoint_dir": 3.5,
    "solver": "newton",
    "alpha": -1.0,
    "batch_size": 0,
    "learning_rate": "exponential",
    "learning_rate_init": 0.0,
    "power_t": -0.5,
    "max_iter": 0,
    "shuffle": "yes",
    "random_state": "seed",
    "tol": -1.0,
    "momentum": 2.0,
    "nesterovs_momentum": "yes",
    "early_stopping": "yes",
    "warm_start": "yes",
    "validation_fraction": 1.0,
    "beta_1": 1.0,
    "beta_2": -0.5,
    "epsilon": 0.0,
    "n_iter_no_change": 0,
    "max_fun": 0,
}


def test_every_parameter_is_in_the_table():
    assert set(INVALID_PARAMS) | {"verbose"} == set(LotteryTicketMLP().get_params())


@pytest.mark.parametrize("name", INVALID_PARAMS)
def test_invalid_parameter_names_itself(name):
    with pytest.raises(
        InvalidParameterError,
        match=f"The '{name}' parameter of LotteryTicketMLP must be",
    ):
        LotteryTicketMLP(**{name: INVALID_PARAMS[name]}).fit(X, y)


def test_hidden_layer_sizes_must_be_positive():
    with pytest.raises(ValueError, match="positive integers"):
        LotteryTicketMLP(hidden_layer_sizes=(5, 0)).fit(X, y)


def test_ticket_that_does_not_fit_the_data():
    ticket = LotteryTicket(
        [sp.csr_array(np.ones((3, 2))), sp.csr_array(np.ones((2, 1)))],
        [np.zeros(2), np.zeros(1)],
    )
    with pytest.raises(ValueError, match="ticket does not fit the data.*3 features"):
        LotteryTicketMLP(ticket=ticket).fit(X, y)


def test_truncated_checkpoint(tmp_path):
    LotteryTicketMLP(**FAST, checkpoint_dir=tmp_path).fit(X, y)
    (path,) = tmp_path.glob("search-*/imp_state.npz")
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        LotteryTicketMLP(**FAST, checkpoint_dir=tmp_path).fit(X, y)


def test_early_stopping_on_too_few_samples():
    with pytest.raises(ValueError, match="validation set is too small|Cannot hold out"):
        LotteryTicketMLP(**FAST, early_stopping=True).fit(X[:6], y[:6])


def test_a_column_vector_target_warns_and_predicts_one_dimensional():
    # scikit-learn's MLPRegressor warns and ravels such a y.
    from sklearn.exceptions import DataConversionWarning

    with pytest.warns(DataConversionWarning, match="column-vector y"):
        reg = LotteryTicketMLPRegressor(**FAST).fit(X, X[:, :1])
    assert reg.n_outputs_ == 1
    assert reg.predict(X).shape == (40,)


def test_partial_fit_with_another_number_of_targets_names_both():
    reg = LotteryTicketMLPRegressor(**FAST).fit(X, X[:, :2])
    before = [W.copy() for W in reg.coefs_]
    with pytest.raises(ValueError, match="y has 3 target.*fitted with 2"):
        reg.partial_fit(X, X[:, :3])
    # Refused before any step: the network is the fitted one.
    assert all((a != b).nnz == 0 for a, b in zip(before, reg.coefs_))


def test_a_callback_that_cannot_be_called_is_refused_before_training(monkeypatch):
    no_training(monkeypatch, "trained although the callback is not callable")
    with pytest.raises(TypeError, match="on_round_end must be a callable.*int"):
        LotteryTicketMLP(**FAST).fit(X, y, on_round_end=5)
    with pytest.raises(TypeError, match="two arguments.*cannot be called so"):
        LotteryTicketMLP(**FAST).fit(X, y, on_round_end=lambda record: None)


def test_a_callback_with_several_seeds_is_refused_not_ignored():
    with pytest.raises(ValueError, match="on_round_end.*n_seeds=2"):
        LotteryTicketMLP(n_seeds=2, **FAST).fit(X, y, on_round_end=print)
