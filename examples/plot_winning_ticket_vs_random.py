"""
Winning tickets against the paper's two controls
================================================

Frankle & Carbin's central comparison, on scikit-learn's digits: a winning
ticket (iterative magnitude pruning, survivors rewound to their initial
weights) against

* **random re-initialisation**: the same masks, fresh random weights
  (``rewind="reinit"``), and
* **random pruning**: the same number of weights removed per round, at random
  positions (``pruning_criterion="random"``).

Each curve is the mean validation accuracy of three seeds (a held-out tenth
of the data), with the band spanning them, as 20% of the remaining weights go
in each of 14 rounds, down to 4.4% of the weights. The winning tickets hold
their accuracy much further down than either control.
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from sklearn_lth import LotteryTicketDisplay, LotteryTicketMLP

warnings.filterwarnings("ignore", category=ConvergenceWarning)
# The searches go far past the sparsity where the controls (and at last the
# tickets) lose accuracy, on purpose: each warns that its last round scores
# below an earlier one.
warnings.filterwarnings("ignore", "The fitted network", UserWarning)
X, y = load_digits(return_X_y=True)
X = StandardScaler().fit_transform(X)

rounds = 14
common = dict(
    hidden_layer_sizes=(100,),
    target_sparsity=1 - 0.8**rounds,
    pruning_rounds=rounds,
    max_iter=40,
    n_seeds=3,
    n_jobs=2,
    random_state=0,
)
searches = {
    "winning ticket": LotteryTicketMLP(**common),
    "random re-initialisation": LotteryTicketMLP(**common, rewind="reinit"),
    "random pruning": LotteryTicketMLP(**common, pruning_criterion="random"),
}
fig, ax = plt.subplots(figsize=(7, 4.5))
for name, search in searches.items():
    search.fit(X, y)
    LotteryTicketDisplay.from_estimator(search, name=name, ax=ax)
ax.set_title("Digits, 64-100-10, validation accuracy (mean of 3 seeds)")
plt.show()

# %%
# The numbers
# -----------
# Mean validation accuracy over the seeds at a few sparsities.
print(f"{'weights remaining':>18}" + "".join(f"{name:>26}" for name in searches))
table = {name: s.seeds_history_ for name, s in searches.items()}
for r in (0, 4, 8, 11, 14):
    first = table["winning ticket"]
    left = 100 * (1 - first["sparsity"][first["round"] == r][0])
    row = [np.mean(t["validation_score"][t["round"] == r]) for t in table.values()]
    print(f"{left:17.1f}%" + "".join(f"{v:26.3f}" for v in row))
