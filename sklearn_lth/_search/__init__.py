"""The lottery-ticket search: how it opens, its loop, what it keeps.

=====================  =========================================================
module                 holds
=====================  =========================================================
:mod:`._plan`          :class:`SearchPlan`, the one value that says how a
                       search opens and runs, and what it implies (its rounds,
                       its snapshot step, what its checkpoint holds)
:mod:`._open`          its checkpoint folder, its draws (validation split,
                       seeds) and its first state (W0, a ticket, a fitted
                       search, a checkpoint)
:mod:`._loop`          :func:`find_ticket`, the IMP loop, step by step
:mod:`._state`         the state a search carries between rounds, and what it
                       returns
:mod:`._warm`          ``warm_start``: going on with a fitted search
:mod:`._persistence`   the saved forms of a plan and of a search, each value
                       checked when read back
:mod:`._seeds`         several searches in parallel with joblib
:mod:`._run`           running a fit's searches and keeping what they completed
=====================  =========================================================

The estimators build the plan from their parameters and data, and hand in
what only they know (their validation split); nothing here imports them.
"""

from ._loop import find_ticket
from ._open import draw_split, search_folder
from ._plan import PruningConfig, SearchPlan, Split, TrainingData
from ._run import Kept, SearchDiverged, run_searches
from ._seeds import stack_histories
from ._state import IMPResult, Progress, SearchState
from ._warm import SearchEnd, WarmStart, check_can_warm_start, continue_fitted

__all__ = [
    "IMPResult",
    "Kept",
    "Progress",
    "PruningConfig",
    "SearchDiverged",
    "SearchEnd",
    "SearchPlan",
    "SearchState",
    "Split",
    "TrainingData",
    "WarmStart",
    "check_can_warm_start",
    "continue_fitted",
    "draw_split",
    "find_ticket",
    "run_searches",
    "search_folder",
    "stack_histories",
]
