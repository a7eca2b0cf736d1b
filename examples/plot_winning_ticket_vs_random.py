"""
Winning tickets against the paper's two controls
================================================

Frankle & Carbin's Figure 1 on scikit-learn's digits, in one call of
:func:`sklearn_lth.sparsity_curve`: a winning ticket (iterative magnitude
pruning, survivors rewound to their initial weights) against

* **random re-initialisation**: the same masks, fresh random weights
  (``rewind="reinit"``), and
* **random pruning**: the same number of weights removed per round, at random
  positions (``pruning_criterion="random"``).

Each arm runs three seeds; every round is scored on a test quarter of the
data that no search sees (not even to stop early), as 20% of the remaining
weights go in each of 14 rounds, down to 4.4% of the weights. The left panel
is test accuracy against weights remaining (mean of the seeds, the band
spanning them); the right one is the paper's early-stopping iteration, the
optimizer step of minimum validation loss. With these 40 epochs per round
the winning tickets hold their accuracy much further down than either
control; with longer training (``max_iter=200``) random re-initialisation
comes within the seeds' spread of the tickets down to 6.9% of the weights on
this small problem, while random pruning stays far below.
"""

# %%
import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_lth import LotteryTicketMLP, SparsityCurveDisplay

# The searches go far past the sparsity where the controls lose accuracy, on
# purpose: each warns that its last round scores below an earlier one, and
# short rounds stop at max_iter.
warnings.filterwarnings("ignore", "The fitted network", UserWarning)
warnings.filterwarnings("ignore", category=ConvergenceWarning)
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

rounds = 14
search = LotteryTicketMLP(
    hidden_layer_sizes=(100,),
    target_sparsity=1 - 0.8**rounds,
    pruning_rounds=rounds,
    max_iter=40,
    early_stopping=True,  # holds out validation rows: the early-stopping panel
)
display = SparsityCurveDisplay.from_estimator(
    search,
    X_train,
    y_train,
    X_test=X_test,
    y_test=y_test,
    controls=("reinit", "random"),
    n_seeds=3,
    n_jobs=2,
    random_state=0,
)
display.figure_.suptitle("Digits, 64-100-10, test accuracy (mean of 3 seeds)")
plt.show()

# %%
# The numbers
# -----------
# Mean test accuracy over the seeds at a few sparsities.
print(f"{'weights remaining':>18}" + "".join(f"{arm:>10}" for arm in display.scores))
for r in (0, 4, 8, 11, 14):
    left = 100 * display.weights_remaining[r]
    row = [scores[:, r].mean() for scores in display.scores.values()]
    print(f"{left:17.1f}%" + "".join(f"{v:10.3f}" for v in row))

# %%
# Why rewinding to the initial weights works here
# -----------------------------------------------
# Instability analysis (Frankle, Dziugaite, Roy & Carbin, 2020): two copies
# of the dense network trained from the same initial weights with different
# data orders, and the test error along the straight line between them,
# against the same line between two independently initialised networks. From
# iteration 0 the two copies end in one valley (a barrier near zero), as the
# paper found for LeNet on MNIST: a ticket rewound to its initial weights
# retrains into the same valley.
from sklearn_lth import InstabilityDisplay  # noqa: E402

stability = InstabilityDisplay.from_estimator(
    LotteryTicketMLP(hidden_layer_sizes=(100,), max_iter=40),
    X_train,
    y_train,
    X_test=X_test,
    y_test=y_test,
    random_state=0,
)
stability.ax_.set_title("Digits, 64-100-10: test error between two trainings")
plt.show()
