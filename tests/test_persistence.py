"""Saving fitted models: small pickles, joblib, skops."""

import pickle

import joblib
import numpy as np
import pytest
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_lth import SKOPS_TRUSTED_TYPES, LotteryTicketMLP, LotteryTicketMLPRegressor


def test_pickle_size_grows_with_the_kept_weights():
    """At 90% sparsity: <= 0.2x MLPClassifier's pickle and <= 14 bytes per weight."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 784)).astype(np.float32)
    y = rng.randint(10, size=200)
    ours = LotteryTicketMLP(
        (300, 100), target_sparsity=0.9, pruning_rounds=2, max_iter=2, random_state=0
    ).fit(X, y)
    dense = MLPClassifier((300, 100), max_iter=2, random_state=0).fit(X, y)
    kept = sum(W.nnz for W in ours.coefs_)
    assert kept == pytest.approx(0.1 * 266_200, abs=2)
    size = len(pickle.dumps(ours))
    assert size <= 0.2 * len(pickle.dumps(dense))
    # A single dense float32 copy of the weights (1 MB) would break this bound.
    assert size <= 14 * kept


@pytest.mark.parametrize("Estimator", [LotteryTicketMLP, LotteryTicketMLPRegressor])
def test_joblib_round_trip(small_classification, Estimator, tmp_path):
    X, y = small_classification
    model = Estimator((8,), max_iter=20, random_state=0).fit(X.astype(np.float32), y)
    joblib.dump(model, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(
        loaded.predict(X.astype(np.float32)), model.predict(X.astype(np.float32))
    )


def test_skops_round_trip_with_the_documented_trusted_types(
    small_classification, tmp_path
):
    sio = pytest.importorskip("skops.io")
    X, y = small_classification
    model = make_pipeline(
        StandardScaler(),
        LotteryTicketMLP(
            (8,), max_iter=20, random_state=0, checkpoint_dir=tmp_path / "checkpoints"
        ),
    ).fit(X, y)
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    assert set(sio.get_untrusted_types(file=path)) <= set(SKOPS_TRUSTED_TYPES)
    with pytest.raises(Exception, match="[Uu]ntrusted"):
        sio.load(path)
    loaded = sio.load(path, trusted=SKOPS_TRUSTED_TYPES)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(
        loaded[-1].ticket_.masks[0], model[-1].ticket_.masks[0]
    )
