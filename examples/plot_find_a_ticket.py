"""
Find a winning ticket on the digits
===================================

Iterative magnitude pruning on scikit-learn's digits: 80% of the weights of a
64-100-10 network are pruned in five rounds, rewinding to the initial weights
after each, and the ticket is compared with the dense network on held-out
data.
"""

# %%
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_lth import LotteryTicketMLP

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

dense = make_pipeline(
    StandardScaler(), LotteryTicketMLP(target_sparsity=0.0, random_state=0)
).fit(X_train, y_train)
ticket = make_pipeline(
    StandardScaler(),
    LotteryTicketMLP(target_sparsity=0.8, pruning_rounds=5, random_state=0),
).fit(X_train, y_train)

print(f"dense test accuracy:  {dense.score(X_test, y_test):.4f}")
print(f"ticket test accuracy: {ticket.score(X_test, y_test):.4f}")
print(ticket[-1].ticket_)

# %%
# The round table
# ---------------
history = ticket[-1].history_
for row in zip(history["round"], history["remaining_parameters"], history["n_iter"]):
    print("round {} keeps {:5d} weights, trained {} epochs".format(*row))

# %%
# Which input pixels keep their connections?
# ------------------------------------------
# The number of surviving weights leaving each of the 64 pixels.
mask = ticket[-1].ticket_.masks[0]
fig, ax = plt.subplots()
image = ax.imshow(mask.sum(axis=1).reshape(8, 8), cmap="viridis")
fig.colorbar(image, ax=ax, label="kept outgoing weights")
ax.set_title("Connections kept per input pixel")
plt.show()
