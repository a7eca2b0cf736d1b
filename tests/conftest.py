import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler


@pytest.fixture(scope="session")
def digits():
    X, y = load_digits(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="session")
def small_classification():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 8))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int) + (X[:, 3] > 1)
    return X, y


def pytest_collection_modifyitems(config, items):
    """The documentation's examples (doc/*.rst) fit dozens of searches: they
    are slow, as the tests marked so (``-m "not slow"`` leaves them out)."""
    for item in items:
        if item.nodeid.startswith("doc/"):
            item.add_marker(pytest.mark.slow)
