"""partial_fit (sklearn_lth._incremental): scikit-learn's steps on a stream,
the kept pattern fixed, and a failed pass that changes nothing."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from _helpers import FAST
from sklearn.neural_network import MLPClassifier

from sklearn_lth import LotteryTicketMLP, TrainingDivergedError

# The searches here go too sparse for 120 rows on purpose: partial_fit is
# what is tested, not the rounds' scores.
pytestmark = [
    pytest.mark.filterwarnings("ignore:The fitted network"),
    pytest.mark.filterwarnings("ignore:Round\\(s\\)"),
]


def _stream(estimator, X, y, chunk_sizes):
    start = 0
    for size in chunk_sizes:
        rows = slice(start, start + size)
        estimator.partial_fit(X[rows], y[rows], classes=[0, 1, 2])
        start += size
    return estimator


@pytest.mark.parametrize(
    "solver, learning_rate",
    [("adam", "constant"), ("sgd", "constant"), ("sgd", "invscaling")],
)
def test_partial_fit_takes_scikit_learns_steps(
    small_classification, solver, learning_rate
):
    """Four calls on a stream of 30-row chunks, as MLPClassifier.partial_fit."""
    X, y = small_classification
    params = dict(solver=solver, learning_rate=learning_rate, batch_size=25)
    theirs = MLPClassifier((7,), random_state=0, **params)
    ours = LotteryTicketMLP((7,), random_state=0, target_sparsity=0.0, **params)
    for chunk in range(4):
        rows = slice(30 * chunk, 30 * (chunk + 1))
        theirs.partial_fit(X[rows], y[rows], classes=[0, 1, 2])
        ours.partial_fit(X[rows], y[rows], classes=[0, 1, 2])
    for W, C in zip(theirs.coefs_, ours.coefs_):
        np.testing.assert_allclose(C.toarray(), W, rtol=1e-12, atol=1e-14)
    assert ours.t_ == theirs.t_ and ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-12)


def test_partial_fit_keeps_a_ticket_sparse_and_checks_its_classes(
    small_classification,
):
    X, y = small_classification
    model = LotteryTicketMLP(**FAST).fit(X, y)
    patterns = [(W.indices.copy(), W.indptr.copy()) for W in model.coefs_]
    before = model.predict_proba(X)
    for _ in range(3):
        model.partial_fit(X, y)
    for W, (indices, indptr) in zip(model.coefs_, patterns):
        np.testing.assert_array_equal(W.indices, indices)
        np.testing.assert_array_equal(W.indptr, indptr)
    assert not np.array_equal(model.predict_proba(X), before)
    with pytest.raises(ValueError, match="Expected only labels in classes_"):
        model.partial_fit(X, y + 5)
    with pytest.raises(ValueError, match="classes must be passed on the first"):
        LotteryTicketMLP(**FAST).partial_fit(X, y)
    with pytest.raises(ValueError, match="does not support early_stopping"):
        LotteryTicketMLP(**FAST, early_stopping=True).partial_fit(
            X, y, classes=[0, 1, 2]
        )
    assert not hasattr(LotteryTicketMLP(solver="lbfgs"), "partial_fit")
    # A failed call changes nothing; the next one starts from the fitted network.
    np.testing.assert_array_equal(model.classes_, [0, 1, 2])
    loaded = pickle.loads(pickle.dumps(model))
    assert not hasattr(loaded, "_incremental")
    loaded.partial_fit(X, y)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_chunks_of_changing_sizes_take_scikit_learns_steps(
    small_classification, solver
):
    """batch_size="auto" is min(200, rows): every call has a batch of its own
    size, and the buffers grow with the largest (10, then 45, then 30 rows)."""
    X, y = small_classification
    params = dict(solver=solver, learning_rate_init=0.01, random_state=0)
    theirs = _stream(MLPClassifier((7,), **params), X, y, [10, 45, 30, 35])
    ours = _stream(
        LotteryTicketMLP((7,), target_sparsity=0.0, **params), X, y, [10, 45, 30, 35]
    )
    for W, C in zip(theirs.coefs_, ours.coefs_):
        np.testing.assert_allclose(C.toarray(), W, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-12)
    assert ours.t_ == theirs.t_ == 120


def test_pruned_weights_stay_exactly_zero_through_many_passes(small_classification):
    X, y = small_classification
    model = LotteryTicketMLP(**FAST).fit(X, y)
    masks = [W.toarray() != 0 for W in model.coefs_]
    for _ in range(5):
        model.partial_fit(X, y)
    for W, mask in zip(model.coefs_, masks):
        dense = W.toarray()
        assert np.all(dense[~mask] == 0.0)
        assert W.nnz == mask.sum()  # no kept weight reaches exactly zero


def test_a_diverged_pass_changes_nothing_and_the_next_starts_afresh(
    small_classification,
):
    X, y = small_classification
    model = LotteryTicketMLP(
        **FAST, activation="identity", solver="sgd", batch_size=10
    ).fit(X, y)
    model.partial_fit(X, y)  # a stream in progress: its optimizer state kept
    before = pickle.dumps(model)
    with pytest.raises(TrainingDivergedError, match="diverged in partial_fit"):
        model.partial_fit(X * 1e8, y)
    assert pickle.dumps(model) == before
    assert not hasattr(model, "_incremental")
    # The next call trains from the fitted weights with a fresh optimizer, as
    # a copy that never saw the stream does.
    fresh = pickle.loads(before)
    model.partial_fit(X, y)
    fresh.partial_fit(X, y)
    for W, C in zip(model.coefs_, fresh.coefs_):
        np.testing.assert_array_equal(W.toarray(), C.toarray())


def test_data_refused_before_the_pass_keeps_the_stream_going(small_classification):
    X, y = small_classification
    params = dict(**FAST, solver="adam", batch_size=10)
    streams = []
    for refuse_one in (False, True):
        model = LotteryTicketMLP(**params).fit(X, y)
        model.partial_fit(X[:60], y[:60])
        if refuse_one:
            X_bad = X[60:].copy()
            X_bad[0, 0] = np.nan
            with pytest.raises(ValueError, match="NaN"):
                model.partial_fit(X_bad, y[60:])
            assert hasattr(model, "_incremental")
        model.partial_fit(X[60:], y[60:])  # Adam's moments carried over
        streams.append([W.toarray() for W in model.coefs_])
    for W, C in zip(*streams):
        np.testing.assert_array_equal(W, C)


@pytest.mark.parametrize("kernels", ["numpy", "numba"])
def test_partial_fit_on_data_of_another_dtype(kernels):
    """Buffers made for float32 batches are made again for float64 ones."""
    if kernels == "numba":
        pytest.importorskip("numba")
    from sklearn_lth import config_context

    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 20))
    y = rng.randint(3, size=300)
    with config_context(kernels=kernels):
        model = LotteryTicketMLP(
            (30,), target_sparsity=0.9, pruning_rounds=1, max_iter=2, random_state=0
        ).fit(X[:100].astype(np.float32), y[:100])
        model.partial_fit(X[100:200], y[100:200])
        model.partial_fit(X[200:].astype(np.float32), y[200:])
    assert all(np.isfinite(W.data).all() for W in model.coefs_)


@pytest.mark.parametrize("kernels", ["numpy", "numba"])
@pytest.mark.parametrize(
    "fitted, chunk", [(np.float32, np.float64), (np.float64, np.float32)]
)
def test_partial_fit_after_fit_keeps_the_fitted_dtype(kernels, fitted, chunk):
    """A stream that continues a fitted model trains its weights in their
    own dtype whatever the chunks' (as MLPClassifier does), where it had
    taken the first chunk's for good."""
    if kernels == "numba":
        pytest.importorskip("numba")
    from sklearn_lth import config_context

    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 20))
    y = rng.randint(3, size=300)
    theirs = MLPClassifier((30,), max_iter=2, random_state=0)
    ours = LotteryTicketMLP(
        (30,), target_sparsity=0.5, pruning_rounds=1, max_iter=2, random_state=0
    )
    with config_context(kernels=kernels):
        for model in (theirs, ours):
            model.fit(X[:100].astype(fitted), y[:100])
            model.partial_fit(X[100:200].astype(chunk), y[100:200])
            model.partial_fit(X[200:].astype(fitted), y[200:])
    assert theirs.coefs_[0].dtype == fitted
    assert {W.dtype for W in ours.coefs_} == {np.dtype(fitted)}
    assert {b.dtype for b in ours.intercepts_} == {np.dtype(fitted)}
    assert all(np.isfinite(W.data).all() for W in ours.coefs_)
    assert ours.predict_proba(X[:5].astype(fitted)).dtype == fitted


@pytest.mark.parametrize("kernels", ["numpy", "numba"])
def test_a_float32_stream_takes_a_float64_chunk_at_the_sparsest_layers(kernels):
    """A network first trained on float32 chunks, whose first layer keeps
    so few weights that it computes its gradient at the kept positions only,
    takes a float64 chunk (float64 products into its float32 gradient; the
    numpy path's einsum had refused the cast), as MLPClassifier does."""
    if kernels == "numba":
        pytest.importorskip("numba")
    from sklearn_lth import LotteryTicket, config_context

    rng = np.random.RandomState(1)
    X = rng.normal(size=(300, 50))
    y = rng.randint(3, size=300)
    weights = []
    for shape, density in (((50, 40), 0.02), ((40, 3), 0.5)):
        W = rng.uniform(-0.3, 0.3, shape) * (rng.uniform(size=shape) < density)
        W[0, 0] = 0.2
        weights.append(sp.csr_array(W.astype(np.float32)))
    ticket = LotteryTicket(weights, [np.zeros(40, np.float32), np.zeros(3, np.float32)])
    model = LotteryTicketMLP(ticket=ticket, random_state=0)
    with config_context(kernels=kernels):
        model.partial_fit(X[:100].astype(np.float32), y[:100], classes=[0, 1, 2])
        model.partial_fit(X[100:200], y[100:200])
        model.partial_fit(X[200:].astype(np.float32), y[200:])
    assert all(np.isfinite(W.data).all() for W in model.coefs_)
