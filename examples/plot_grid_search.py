"""
Grid search over sparsity, rounds and rewinding
===============================================

``target_sparsity``, ``pruning_rounds`` and ``rewind`` are ordinary
constructor parameters, so :class:`~sklearn.model_selection.GridSearchCV`
sweeps them like any other, here inside a pipeline that scales the features
first. Each candidate runs a full lottery-ticket search on every fold.
"""

# %%
import warnings

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import FuncFormatter
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_lth import LotteryTicketMLP

# Every round trains a fixed budget of 60 epochs, which is enough here.
warnings.filterwarnings("ignore", category=ConvergenceWarning)
# The grid tries sparsities that lose accuracy on purpose: each such fit
# warns that its last round scores below an earlier one.
warnings.filterwarnings("ignore", "The fitted network", UserWarning)

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

pipeline = Pipeline(
    [
        ("scale", StandardScaler()),
        (
            "mlp",
            LotteryTicketMLP(hidden_layer_sizes=(64,), max_iter=60, random_state=0),
        ),
    ]
)
grid = {
    "mlp__target_sparsity": [0.5, 0.8, 0.95],
    "mlp__pruning_rounds": [1, 3],
    "mlp__rewind": ["init", "reinit"],
}
search = GridSearchCV(pipeline, grid, cv=3, n_jobs=2).fit(X_train, y_train)

columns = [f"param_{name}" for name in grid] + ["mean_test_score", "std_test_score"]
table = pd.DataFrame(search.cv_results_)[columns].sort_values(
    "mean_test_score", ascending=False
)
print(table.to_string(index=False))
print("best:", search.best_params_)
print(f"test accuracy of the refitted best: {search.score(X_test, y_test):.4f}")

# %%
# Winning tickets against the random re-initialisation control
# ------------------------------------------------------------
# Iterative pruning (3 rounds) with rewinding to the initial weights against
# the same masks with fresh random weights.
results = pd.DataFrame(search.cv_results_)
fig, ax = plt.subplots()
for rewind, marker in (("init", "o"), ("reinit", "s")):
    rows = results[
        (results["param_mlp__rewind"] == rewind)
        & (results["param_mlp__pruning_rounds"] == 3)
    ]
    ax.errorbar(
        100 * (1 - rows["param_mlp__target_sparsity"].astype(float)),
        rows["mean_test_score"],
        yerr=rows["std_test_score"],
        marker=marker,
        label=f"rewind={rewind!r}",
        capsize=3,
    )
# A log axis, so that each sparsity step looks the same size, but labelled in
# plain percentages at the sparsities searched: matplotlib's default labels
# for a log axis are powers of ten such as 4x10^1.
ax.set_xscale("log")
ax.set_xticks([100 * (1 - sparsity) for sparsity in grid["mlp__target_sparsity"]])
ax.xaxis.set_major_formatter(FuncFormatter(lambda percent, _: f"{percent:g}%"))
ax.minorticks_off()
ax.invert_xaxis()
ax.set_xlabel("weights remaining")
ax.set_ylabel("cross-validated accuracy")
ax.legend()
plt.show()
