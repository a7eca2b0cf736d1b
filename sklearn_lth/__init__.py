"""Lottery-ticket sparse multi-layer perceptrons for scikit-learn.

Iterative magnitude pruning (Frankle & Carbin, 2019) behind the scikit-learn
estimator API, with weights stored as ``scipy.sparse`` CSR arrays.
"""

from ._mlp import LotteryTicketMLP, LotteryTicketMLPRegressor
from ._pruning import per_round_rate
from ._ticket import LotteryTicket
from ._training import TrainingDivergedError

__version__ = "0.1.0.dev0"

__all__ = [
    "LotteryTicket",
    "LotteryTicketMLP",
    "LotteryTicketMLPRegressor",
    "TrainingDivergedError",
    "per_round_rate",
]
