"""ONNX export, checked by running the exported models in ONNX Runtime."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_lth import (
    LotteryTicket,
    LotteryTicketMLP,
    LotteryTicketMLPRegressor,
    LotteryTicketMLPRegressorCV,
    SupermaskMLP,
)

ort = pytest.importorskip("onnxruntime")
skl2onnx = pytest.importorskip("skl2onnx")
from sklearn_lth import to_onnx  # noqa: E402  (needs skl2onnx)

pytestmark = pytest.mark.filterwarnings("ignore:Round\\(s\\):UserWarning")


def _run(model, X):
    session = ort.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return session.run(None, {session.get_inputs()[0].name: X})


def _targets(kind, rng, n):
    return {
        "binary": lambda: rng.randint(2, size=n),
        "multiclass": lambda: np.array(["cat", "dog", "eel"])[rng.randint(3, size=n)],
        "multilabel": lambda: rng.randint(2, size=(n, 3)),
        "regression": lambda: rng.normal(size=(n, 2)),
        "poisson": lambda: rng.poisson(2.0, size=n).astype(float),
    }[kind]()


def _ticket_with_dead_units(n_features, n_outputs, rng):
    """A sparse ticket where an input and a hidden unit die."""
    weights = [
        rng.normal(size=(n_features, 12)) * (rng.uniform(size=(n_features, 12)) < 0.3),
        rng.normal(size=(12, n_outputs)),
    ]
    weights[0][1] = 0  # input 1 is read by nothing
    weights[1][3] = 0  # hidden unit 3 is read by nothing
    weights[0][:, 5] = 0  # hidden unit 5 is a constant
    return LotteryTicket(
        [sp.csr_array(W) for W in weights], [rng.normal(size=12), np.zeros(n_outputs)]
    )


@pytest.mark.parametrize("compact", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "kind", ["binary", "multiclass", "multilabel", "regression", "poisson"]
)
def test_onnx_runtime_predicts_what_the_ticket_predicts(kind, dtype, compact):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 6)).astype(dtype)
    y = _targets(kind, rng, 80)
    n_outputs = {"multiclass": 3, "multilabel": 3, "regression": 2}.get(kind, 1)
    params = dict(
        ticket=_ticket_with_dead_units(6, n_outputs, rng),
        activation="tanh",
        max_iter=5,
        random_state=0,
    )
    if kind in ("regression", "poisson"):
        loss = {"loss": "poisson"} if kind == "poisson" else {}
        model = LotteryTicketMLPRegressor(**params, **loss).fit(X, y)
    else:
        model = LotteryTicketMLP(**params).fit(X, y)
    outputs = _run(to_onnx(model, X, compact=compact), X)
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    if kind in ("regression", "poisson"):
        (values,) = outputs
        expected = model.predict(X).reshape(len(X), -1)
        assert values.shape == expected.shape and values.dtype == dtype
        np.testing.assert_allclose(
            values, expected, atol=tolerance * np.abs(expected).max()
        )
    else:
        labels, probabilities = outputs
        np.testing.assert_array_equal(labels, model.predict(X))
        np.testing.assert_allclose(
            probabilities, model.predict_proba(X), rtol=0, atol=tolerance
        )


def test_sparse_layers_are_stored_sparse_and_the_file_shrinks():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 200)).astype(np.float32)
    y = rng.randint(3, size=60)
    dense = LotteryTicketMLP((100,), target_sparsity=0.0, max_iter=2, random_state=0)
    dense.fit(X, y)
    sparse = LotteryTicketMLP(
        (100,), target_sparsity=0.95, pruning_rounds=2, max_iter=2, random_state=0
    ).fit(X, y)
    dense_model, sparse_model = to_onnx(dense, X), to_onnx(sparse, X)
    assert not dense_model.graph.sparse_initializer
    sparse_constants = [
        node for node in sparse_model.graph.node if node.op_type == "Constant"
    ]
    assert sparse_constants  # the 200x100 layer, at about 5% kept
    ratio = len(sparse_model.SerializeToString()) / len(dense_model.SerializeToString())
    assert ratio < 0.15


def test_skl2onnx_converts_our_estimators_inside_pipelines():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 5)).astype(np.float32)
    y = rng.randint(3, size=60)
    pipeline = make_pipeline(
        StandardScaler(),
        LotteryTicketMLP(
            (8,), target_sparsity=0.5, pruning_rounds=2, max_iter=5, random_state=0
        ),
    ).fit(X, y)
    model = skl2onnx.to_onnx(pipeline, X[:1], options={"zipmap": False})
    labels, probabilities = _run(model, X)
    np.testing.assert_array_equal(labels, pipeline.predict(X))
    np.testing.assert_allclose(probabilities, pipeline.predict_proba(X), atol=1e-5)
    # Ours too, compacted, and skl2onnx's default ZipMap output.
    labels, _ = _run(to_onnx(pipeline, X, compact=True), X)
    np.testing.assert_array_equal(labels, pipeline.predict(X))
    labels, zipped = _run(skl2onnx.to_onnx(pipeline, X[:1]), X)
    assert zipped[0].keys() == {0, 1, 2}


def test_cv_and_supermask_estimators_export():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 5)).astype(np.float32)
    y = X[:, :2].sum(axis=1)
    cv_model = LotteryTicketMLPRegressorCV(
        hidden_layer_sizes=(6,), max_rounds=2, max_iter=5, cv=2, random_state=0
    ).fit(X, y)
    (values,) = _run(to_onnx(cv_model, X), X)
    expected = cv_model.predict(X)
    np.testing.assert_allclose(
        values.ravel(), expected, atol=1e-5 * np.abs(expected).max()
    )
    labels = (y > 0).astype(int)
    supermask = SupermaskMLP((8,), max_iter=2, random_state=0).fit(X, labels)
    onnx_labels, _ = _run(to_onnx(supermask, X), X)
    np.testing.assert_array_equal(onnx_labels, supermask.predict(X))


def test_what_cannot_be_exported_is_refused_by_name():
    X = np.zeros((4, 2), np.float32)
    with pytest.raises(TypeError, match="not StandardScaler"):
        to_onnx(StandardScaler().fit(X), X)
    with pytest.raises(NotFittedError):
        to_onnx(LotteryTicketMLP(), X)


def test_whole_float_labels_come_out_as_integers():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(20, 2)).astype(np.float32)
    model = LotteryTicketMLP((4,), max_iter=2, random_state=0)
    model.fit(X, np.repeat([1.0, 2.0], 10))
    labels, _ = _run(to_onnx(model, X), X)
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, model.predict(X))


def _sparse_constants(model) -> int:
    return sum(
        1
        for node in model.graph.node
        for attribute in node.attribute
        if attribute.name == "sparse_value"
    )


@pytest.fixture(scope="module")
def sparse_classifier():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 30)).astype(np.float32)
    y = rng.randint(3, size=80)
    model = LotteryTicketMLP(
        (40,), target_sparsity=0.95, pruning_rounds=2, max_iter=5, random_state=0
    ).fit(X, y)
    return model, X


def test_compact_export_is_dense_and_old_opsets_get_dense_weights(sparse_classifier):
    from onnx.checker import check_model
    from onnx.reference import ReferenceEvaluator

    model, X = sparse_classifier
    assert _sparse_constants(to_onnx(model, X)) > 0
    compacted = to_onnx(model, X, compact=True)
    assert _sparse_constants(compacted) == 0
    labels, _ = ReferenceEvaluator(compacted).run(None, {"X": X})
    np.testing.assert_array_equal(labels, model.predict(X))
    old = to_onnx(model, X, target_opset=9)
    assert _sparse_constants(old) == 0
    check_model(old)
    np.testing.assert_array_equal(_run(old, X)[0], model.predict(X))


def test_a_sample_that_does_not_fit_is_refused(sparse_classifier):
    model, X = sparse_classifier
    with pytest.raises(ValueError, match="X has 29 features, but LotteryTicketMLP"):
        to_onnx(model, X[:, :29])
    with pytest.raises(ValueError, match="2-d sample"):
        to_onnx(model, X[0])


def test_skl2onnx_knows_the_cv_estimators():
    from sklearn.feature_selection import SelectFromModel
    from sklearn.linear_model import LogisticRegression

    from sklearn_lth import LotteryTicketMLPCV

    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 5)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    pipeline = make_pipeline(
        StandardScaler(),
        LotteryTicketMLPCV(hidden_layer_sizes=(6,), max_rounds=2, max_iter=5, cv=2),
    ).fit(X, y)
    labels, _ = _run(skl2onnx.to_onnx(pipeline, X[:1], options={"zipmap": False}), X)
    np.testing.assert_array_equal(labels, pipeline.predict(X))
    # Ours inside, another estimator last: ours converts ours, skl2onnx the rest.
    selecting = make_pipeline(
        SelectFromModel(LotteryTicketMLP((6,), max_iter=5, random_state=0)),
        LogisticRegression(),
    ).fit(X, y)
    labels, _ = _run(to_onnx(selecting, X), X)
    np.testing.assert_array_equal(labels, selecting.predict(X))
