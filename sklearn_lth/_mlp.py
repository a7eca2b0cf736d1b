"""The public estimators: thin scikit-learn wrappers around :mod:`._imp`."""

from __future__ import annotations

import copy
import inspect
import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_regressor
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    check_classification_targets,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import check_random_state, column_or_1d, validate_data

from ._base import (
    CSRClassifierMixin,
    CSRPredictorMixin,
    encode_classes,
    hidden_layer_units,
)
from ._checkpoint import (
    CheckpointStore,
    SavedPlan,
    SearchLock,
    SearchPlan,
    blas_differences,
    blas_info,
    fingerprint,
    load_plan,
    save_plan,
    search_directory,
)
from ._compat import _fit_context, check_sample_weight
from ._config import resolved_kernels
from ._diagnostics import (
    Scored,
    warn_about_fit,
    warn_if_batch_clipped,
    warn_if_ticket_overrides,
)
from ._imp import (
    IMPResult,
    Progress,
    PruningConfig,
    WeightsFirstRandomState,
    find_ticket,
)
from ._incremental import IncrementalTraining, first_network
from ._interrupt import FitTransaction, StopFlag, current_fit_scope
from ._network import glorot_uniform, prediction_operands
from ._params import (
    DEFAULTS,
    PARAMS,
    REGRESSOR_DEFAULTS,
    REGRESSOR_PARAMS,
    constraints,
    fill_parameters,
)
from ._pruning import check_schedule
from ._rewinding import RewindPolicy
from ._search import SearchEnd, WarmStart
from ._seeds import (
    DivergedSeed,
    SeedsProgress,
    choose_seed,
    draw_seeds,
    recover_seeds,
    search_seeds,
    stack_histories,
    transport_folder,
)
from ._training import EarlierTraining, RoundResult, TrainingConfig
from .exceptions import TrainingDivergedError


def _n_weights(layer_units: list[int]) -> int:
    """Weights of the dense network with these layer sizes."""
    return sum(a * b for a, b in zip(layer_units, layer_units[1:]))


# The estimator's parameters that configure training and pruning (the
# training config's kernels come from sklearn_lth.get_config instead).
_TRAINING_PARAMS = tuple(f.name for f in fields(TrainingConfig) if f.name != "kernels")
_PRUNING_PARAMS = tuple(f.name for f in fields(PruningConfig) if f.name in PARAMS)


def _check_callback(on_round_end) -> None:
    """Refuse an ``on_round_end`` that cannot be called as ``f(record, model)``."""
    problem = None
    if not callable(on_round_end):
        problem = f"got {on_round_end!r} of type {type(on_round_end).__name__}"
    else:
        try:
            inspect.signature(on_round_end).bind(None, None)
        except TypeError as exc:
            problem = f"{on_round_end!r} cannot be called so ({exc})"
        except ValueError:  # no signature to read (some builtins): trust it
            pass
    if problem is not None:
        raise TypeError(
            "on_round_end must be a callable taking two arguments, (record, "
            f"round_model), or None; {problem}."
        )


def _has_stochastic_solver(estimator) -> bool:
    """``partial_fit`` exists for the mini-batch solvers only, as in scikit-learn."""
    if estimator.solver == "lbfgs":
        raise AttributeError(
            "partial_fit is only available for stochastic optimizers; lbfgs is "
            "not stochastic."
        )
    return True


@dataclass
class _FitData:
    """The validated data of one fit and the layer sizes it implies."""

    X: object
    y: np.ndarray
    Y: np.ndarray
    sample_weight: np.ndarray | None
    layer_units: list[int]


@dataclass
class _Interrupt:
    """How a fit reacts to an interrupt: its stop flag, what to keep, whether
    to say so (a nested fit leaves that to the fit around it)."""

    stop: StopFlag
    transaction: FitTransaction
    quiet: bool = False


@dataclass
class _Folder:
    """The checkpoint folder of one search, the fingerprint its files carry,
    and whether it is read-only (its finished search is read, never written)."""

    directory: Path
    key: str
    read_only: bool = False

    def store(self, name: str) -> CheckpointStore:
        """The checkpoint file ``name`` of this folder."""
        return CheckpointStore(self.directory, name, self.key, read_only=self.read_only)


class _BaseLotteryTicketMLP(CSRPredictorMixin, BaseEstimator):
    """Parameters, validation and fitted state shared by both estimators."""

    _parameter_constraints: dict = constraints(PARAMS)

    def __init__(
        self,
        hidden_layer_sizes=DEFAULTS["hidden_layer_sizes"],
        activation=DEFAULTS["activation"],
        *,
        target_sparsity=DEFAULTS["target_sparsity"],
        pruning_rounds=DEFAULTS["pruning_rounds"],
        pruning_scope=DEFAULTS["pruning_scope"],
        pruning_criterion=DEFAULTS["pruning_criterion"],
        output_layer_rate=DEFAULTS["output_layer_rate"],
        rewind=DEFAULTS["rewind"],
        rewind_iteration=DEFAULTS["rewind_iteration"],
        rewind_fraction=DEFAULTS["rewind_fraction"],
        ticket=DEFAULTS["ticket"],
        n_seeds=DEFAULTS["n_seeds"],
        n_jobs=DEFAULTS["n_jobs"],
        checkpoint_dir=DEFAULTS["checkpoint_dir"],
        solver=DEFAULTS["solver"],
        alpha=DEFAULTS["alpha"],
        batch_size=DEFAULTS["batch_size"],
        learning_rate=DEFAULTS["learning_rate"],
        learning_rate_init=DEFAULTS["learning_rate_init"],
        power_t=DEFAULTS["power_t"],
        max_iter=DEFAULTS["max_iter"],
        shuffle=DEFAULTS["shuffle"],
        random_state=DEFAULTS["random_state"],
        tol=DEFAULTS["tol"],
        verbose=DEFAULTS["verbose"],
        warm_start=DEFAULTS["warm_start"],
        momentum=DEFAULTS["momentum"],
        nesterovs_momentum=DEFAULTS["nesterovs_momentum"],
        early_stopping=DEFAULTS["early_stopping"],
        validation_fraction=DEFAULTS["validation_fraction"],
        beta_1=DEFAULTS["beta_1"],
        beta_2=DEFAULTS["beta_2"],
        epsilon=DEFAULTS["epsilon"],
        n_iter_no_change=DEFAULTS["n_iter_no_change"],
        max_fun=DEFAULTS["max_fun"],
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.target_sparsity = target_sparsity
        self.pruning_rounds = pruning_rounds
        self.pruning_scope = pruning_scope
        self.pruning_criterion = pruning_criterion
        self.output_layer_rate = output_layer_rate
        self.rewind = rewind
        self.rewind_iteration = rewind_iteration
        self.rewind_fraction = rewind_fraction
        self.ticket = ticket
        self.n_seeds = n_seeds
        self.n_jobs = n_jobs
        self.checkpoint_dir = checkpoint_dir
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun

    # -- hooks for the subclasses ------------------------------------------------
    def _validate_targets(self, X, y, warm: bool = False):
        """Validate ``X, y``; return ``X, y, Y`` (targets encoded for the network).

        ``warm``: a warm-started fit, whose data must match the fitted one's.
        """
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            y_numeric=is_regressor(self),
            dtype=(np.float64, np.float32),
            reset=not warm,
        )
        return X, *self._encode_targets(y, X.dtype, warm)

    def _encode_targets(self, y, dtype, warm=False) -> tuple[np.ndarray, np.ndarray]:
        """``y`` as the estimator keeps it, and ``Y``, one column per output.

        ``warm``: encoded as the fitted targets were, which ``y`` must match.
        """
        raise NotImplementedError

    def _out_activation(self, Y) -> str:
        """The output activation for the encoded targets ``Y``."""
        raise NotImplementedError

    # -- fitting -------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, *, on_round_end=None):
        """Search for a winning ticket and train it.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; float32 data trains in float32.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels (or a label indicator matrix for multilabel data) for
            the classifier, target values for the regressor.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights of the loss.
        on_round_end : callable, default=None
            Called after every round as ``on_round_end(record, round_model)``
            with the round's row of ``history_`` (a dict) and a copy of the
            estimator fitted at that round, which predicts and scores: to
            score every round on held-out data, log progress, or stop the
            search (an exception raised there ends ``fit`` like any other).
            Only the rounds this call trains are reported: those a resumed
            search reads back from ``checkpoint_dir`` are not. Not available
            with ``n_seeds > 1``, whose searches run in other workers: read
            ``seeds_history_`` after the fit instead.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        # Refused before round 0 trains, not when the first round ends.
        if on_round_end is not None:
            _check_callback(on_round_end)
        if on_round_end is not None and self.n_seeds > 1:
            raise ValueError(
                f"on_round_end reports the rounds of one search, but n_seeds="
                f"{self.n_seeds} runs several in parallel workers: set n_seeds=1, "
                "or read every seed's rounds from seeds_history_ after the fit."
            )
        return self._fit(X, y, sample_weight, on_round_end)

    def _partial_fit(self, X, y, sample_weight, classes=None):
        """One pass over ``X, y`` on the current network (see :mod:`._incremental`)."""
        if self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        with FitTransaction(self):
            try:
                X, Y, weights = self._validate_increment(X, y, sample_weight, classes)
                warn_if_batch_clipped(
                    self.batch_size, self.solver, X.shape[0], stacklevel=4
                )
                hidden = hidden_layer_units(self.hidden_layer_sizes)
                units = [X.shape[1], *hidden, Y.shape[1]]
                config = TrainingConfig(
                    **{k: getattr(self, k) for k in _TRAINING_PARAMS},
                    kernels=resolved_kernels(_n_weights(units)),
                )
                # Anew at every call, as scikit-learn does.
                rng = check_random_state(self.random_state)
                if not hasattr(self, "_incremental"):
                    self._start_incremental(X, Y, config, rng)
                loss = self._incremental.one_pass(config, X, Y, weights, rng)
            except BaseException:
                # The pass may have moved the weights: the next call restarts
                # from the fitted ones (with a fresh optimizer).
                self.__dict__.pop("_incremental", None)
                raise
        network = self._incremental.network
        coefs = [layer.to_csr() for layer in network.layers]
        self.__dict__.update(
            coefs_=coefs,
            intercepts_=[layer.bias.copy() for layer in network.layers],
            _operands=prediction_operands(coefs),
            n_iter_=1,  # scikit-learn counts the epochs of this call
            t_=self.t_ + X.shape[0],
            loss_=loss,
            loss_curve_=[*self.loss_curve_, loss],
        )
        self.best_loss_ = min(self.loss_curve_)
        if self.verbose:
            print(f"Iteration {self.n_iter_}, loss = {loss:.8f}")
        return self

    def _start_incremental(self, X, Y, config, rng) -> None:
        """The network and optimizer that the first ``partial_fit`` trains."""
        hidden = hidden_layer_units(self.hidden_layer_sizes)
        network = first_network(self, [X.shape[1], *hidden, Y.shape[1]], X.dtype, rng)
        self._incremental = IncrementalTraining(network, config, X.dtype)
        self.n_layers_ = len(network.layers) + 1
        if not hasattr(self, "loss_curve_"):  # after fit, the counts go on
            self.t_, self.loss_curve_ = 0, []

    def _validate_increment(self, X, y, sample_weight, classes):
        """The data of one ``partial_fit`` call, checked against earlier calls."""
        reset = not hasattr(self, "n_features_in_")
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            y_numeric=is_regressor(self),
            dtype=(np.float64, np.float32),
            reset=reset,
        )
        if sp.issparse(X):
            X = X.tocsr()
        Y = self._encode_increment(y, X.dtype, classes)
        if sample_weight is not None:
            sample_weight = check_sample_weight(
                sample_weight, X, dtype=X.dtype, ensure_non_negative=True
            )
        self.n_outputs_ = Y.shape[1]
        self.out_activation_ = self._out_activation(Y)
        return X, Y, sample_weight

    def _fit(self, X, y, sample_weight=None, on_round_end=None):
        """Fit, all or nothing (see :mod:`._interrupt` for the rule).

        Inside :func:`~._interrupt.nested_fit` (the folds of another
        estimator's fit) the fit stops with that fit's stop flag and leaves
        it to tell the user what an interrupt keeps.
        """
        # Inside nested_fit: the outer fit's stop flag, and its silence;
        # otherwise a stop flag of its own.
        scope = current_fit_scope()
        with FitTransaction(self) as transaction:
            warm = None
            if self.warm_start and hasattr(self, "coefs_"):
                self._check_warm_start()
            data = self._prepare(X, y, sample_weight, warm=self._is_warm())
            pruning = PruningConfig(**{k: getattr(self, k) for k in _PRUNING_PARAMS})
            rewind = RewindPolicy(
                self.rewind, self.rewind_iteration, self.rewind_fraction
            )
            if self._is_warm():
                warm, pruning = self._warm_start_from_fitted(pruning, rewind)
            with self._checkpoint_folder(data, warm) as folder:
                # The training step's path, for every round and seed of this
                # fit (L-BFGS has no compiled kernels: numpy).
                kernels = (
                    "numpy"
                    if self.solver == "lbfgs"
                    else resolved_kernels(_n_weights(data.layer_units))
                )
                rng, plan = self._plan(data, folder, warm, kernels)
                # What find_ticket takes beside the data, the same for every seed.
                search = dict(
                    layer_units=data.layer_units,
                    activation=self.activation,
                    out_activation=self.out_activation_,
                    training=TrainingConfig(
                        **{k: getattr(self, k) for k in _TRAINING_PARAMS},
                        kernels=kernels,
                    ),
                    pruning=pruning,
                    rewind=rewind,
                    rows=plan.rows,
                    validation_rows=plan.validation_rows,
                    ticket=self.ticket,
                )
                n_train = data.X.shape[0] if plan.rows is None else len(plan.rows)
                warn_if_batch_clipped(
                    self.batch_size, self.solver, n_train, stacklevel=4
                )
                interrupt = _Interrupt(scope.stop, transaction, quiet=scope.nested)
                if plan.seeds is None:
                    result = self._fit_one(
                        data, rng, search, folder, on_round_end, interrupt, warm
                    )
                else:
                    result = self._fit_seeds(data, plan, search, folder, interrupt)
                # The search is complete and fitted: Ctrl-C from here on (the
                # lock's release, the warnings) keeps it.
                transaction.keep()
            warn_about_fit(
                result,
                self.history_,
                self.solver,
                self.max_iter,
                Scored(
                    self.out_activation_,
                    data.Y,
                    data.sample_weight,
                    plan.rows,
                    plan.validation_rows,
                ),
                # Not in the folds of another fit: LotteryTicketMLPCV's paths
                # are meant to go too far (it chooses among their rounds).
                judge_scores=not scope.nested,
                stacklevel=4,
            )
        return self

    # -- warm_start --------------------------------------------------------------
    def _is_warm(self) -> bool:
        """Whether this fit goes on from the fitted search (``warm_start``)."""
        return self.warm_start and hasattr(self, "_search_end")

    def _check_warm_ticket(self) -> None:
        """A ``ticket`` on a warm start must be the fitted network's pattern.

        It never prunes (the fitted network trains on): another ticket is
        refused rather than ignored.
        """
        fitted = [(W.indptr, W.indices) for W in self.coefs_]
        given = [(W.indptr, W.indices) for W in self.ticket.weights]
        if len(fitted) != len(given) or not all(
            np.array_equal(a, b) for pair in zip(fitted, given) for a, b in zip(*pair)
        ):
            raise ValueError(
                "warm_start=True trains the fitted network on, but the ticket "
                "given keeps other weights: set warm_start=False to train that "
                "ticket, or ticket=None to go on from the fitted network."
            )

    def _check_warm_start(self) -> None:
        """Refuse a warm start that cannot go on from the fitted state."""
        if not hasattr(self, "_search_end"):
            raise ValueError(
                "warm_start=True goes on from a search that fit found, but this "
                "estimator was trained by partial_fit only: call fit with "
                "warm_start=False first, or go on with partial_fit."
            )
        if self.n_seeds > 1:
            raise ValueError(
                f"warm_start=True goes on with the fitted network alone, not with "
                f"n_seeds={self.n_seeds} searches: set n_seeds=1 for the "
                "warm-started fits (or warm_start=False to search anew)."
            )

    def _warm_start_from_fitted(self, pruning, rewind):
        """The fitted search to go on with, and the pruning that takes it on.

        The schedule's sparsity so far decides: a higher ``target_sparsity``
        prunes on from it, the same one trains the fitted network on (as
        does a ``ticket``, which never prunes), a lower one is an error. A
        search interrupted before its target (Ctrl-C keeps the last round
        completed) is finished, at the target and ``pruning_rounds`` it was
        given, exactly as it would have gone on.
        """
        end = SearchEnd.from_fitted(self._search_end)
        reached = end.scheduled_sparsity
        if reached is None:  # a ticket trained once: its measured sparsity
            reached = float(self.history_["sparsity"][-1])
        target = self.target_sparsity
        if self.ticket is not None:
            self._check_warm_ticket()
        keeps_training = self.ticket is not None or math.isclose(
            target, reached, rel_tol=1e-9, abs_tol=1e-12
        )
        plan_origin = None
        if end.plan is not None and not keeps_training:
            origin, plan_reached, plan_target, plan_rounds = end.plan
            unfinished = int(self.history_["round"][-1]) < origin + plan_rounds
            if unfinished and (target, self.pruning_rounds) == (
                plan_target,
                plan_rounds,
            ):
                plan_origin, reached = int(origin), plan_reached
        if not keeps_training and target < reached:
            raise ValueError(
                f"target_sparsity={target} is below the sparsity the fitted search "
                f"has reached ({reached:.6g}): warm_start can only prune further, or "
                "train on at the same target. Set warm_start=False to search anew."
            )
        earlier = None
        if keeps_training:
            # scikit-learn's counts and stopping rule go on (see EarlierTraining).
            best = self.best_validation_score_ if self.early_stopping else None
            if not self.early_stopping and self.best_loss_ is not None:
                best = self.best_loss_
            earlier = EarlierTraining(
                samples_seen=self.t_,
                loss_curve=list(self.loss_curve_),
                validation_scores=self.validation_scores_,
                best=best,
                stall_count=self._no_improvement_count,
            )
        elif plan_origin is None:  # (an unfinished schedule was checked)
            check_schedule(
                [W.nnz for W in self.coefs_],
                target,
                self.pruning_rounds,
                self.pruning_scope,
                self.output_layer_rate,
                reached_sparsity=reached,
            )
        if not keeps_training:
            pruning = replace(pruning, reached_sparsity=reached)
        last_round = RoundResult(
            n_iter=self.n_iter_,
            loss_curve=list(self.loss_curve_),
            samples_seen=self.t_,
            stall_count=self._no_improvement_count,
        )
        warm = WarmStart(
            self.coefs_,
            self.intercepts_,
            self.ticket_,
            self.history_,
            last_round,
            end,
            earlier,
            plan_origin,
        )
        if not keeps_training:
            end.check_rewind(rewind)  # before any work, if its point is gone
        return warm, pruning

    def _prepare(self, X, y, sample_weight, warm: bool = False) -> _FitData:
        """Validate the data and derive the architecture; refuse what cannot fit.

        ``warm``: the data and layers must match the fitted network's.
        """
        hidden = hidden_layer_units(self.hidden_layer_sizes)
        X, y, Y = self._validate_targets(X, y, warm)
        if sp.issparse(X):
            X = X.tocsr()  # mini-batches and predictions take rows
        if sample_weight is not None:
            sample_weight = check_sample_weight(
                sample_weight, X, dtype=X.dtype, ensure_non_negative=True
            )
        self.n_outputs_ = Y.shape[1]
        self.out_activation_ = self._out_activation(Y)
        layer_units = [X.shape[1], *hidden, self.n_outputs_]
        if self.ticket is not None:
            # The ticket's layers replace hidden_layer_sizes, and it trains
            # once without pruning: there is no schedule to check.
            layer_units = self._check_ticket(X)
            warn_if_ticket_overrides(
                self.get_params(), DEFAULTS, self.ticket, stacklevel=5
            )
        if warm:
            fitted = [self.coefs_[0].shape[0], *(W.shape[1] for W in self.coefs_)]
            if layer_units != fitted:
                raise ValueError(
                    f"warm_start=True goes on with the fitted network, whose layers "
                    f"have {fitted} units, but hidden_layer_sizes (or the ticket) "
                    f"and the data give {layer_units}: set warm_start=False to "
                    "start over."
                )
            # Its schedule is checked from the fitted sparsity on.
        elif self.ticket is None:
            check_schedule(
                [a * b for a, b in zip(layer_units, layer_units[1:])],
                self.target_sparsity,
                self.pruning_rounds,
                self.pruning_scope,
                self.output_layer_rate,
            )
        self.n_layers_ = len(layer_units)
        return _FitData(X, y, Y, sample_weight, layer_units)

    @contextmanager
    def _checkpoint_folder(self, data: _FitData, warm: WarmStart | None = None):
        """The locked folder of this search inside ``checkpoint_dir``, or None.

        Each distinct search (parameters, data, seed) has a folder of its own,
        named by its fingerprint, so that the folds of a cross-validation and
        the points of a grid never share files.
        """
        if self.checkpoint_dir is None:
            yield None
            return
        fitted = []
        if warm is not None:
            # A warm-started search is also a function of the fitted one.
            for W in (*warm.coefs, *warm.ticket.weights):
                fitted += [W.indices, W.indptr, W.data]
            fitted += [*warm.intercepts, np.asarray(warm.end.rng_state[1])]
        key = fingerprint(
            self.get_params(), data.X, data.Y, data.sample_weight, *fitted
        )
        directory = search_directory(self.checkpoint_dir, key)
        with SearchLock(directory) as lock:
            yield _Folder(directory, key, lock.read_only)

    def _plan(
        self,
        data: _FitData,
        folder,
        warm: WarmStart | None = None,
        kernels: str = "numpy",
    ):
        """The random state, training and validation rows, and seeds of a search.

        With a checkpoint folder they are saved once, with the random state
        after planning, and read back when the search resumes, so that a
        resumed search continues exactly. With a checkpoint folder and
        ``random_state=None``, the random state is a fresh one, recorded too,
        rather than numpy's global one (which reading a plan back would
        overwrite); without a folder, ``random_state=None`` means numpy's
        global random state, as in scikit-learn.

        One search from drawn initial weights with early stopping splits as
        scikit-learn's MLP does (with ``target_sparsity=0.0`` it takes the
        same steps): after the initial weights W0, from the state they leave,
        stratified as there. The search draws W0 later, so the plan draws it
        once aside to split, and returns a random state at W0's own state
        that moves on to the state after the split once the search has drawn
        W0 (:class:`~._imp.WeightsFirstRandomState`; that earlier state is
        saved and read back with the plan). ``random_state`` itself ends at
        the state after the split. With ``n_seeds > 1`` the split comes
        first, then the seeds, each of which draws its own W0 from itself;
        a ticket draws no W0.

        A warm-started fit that trains the fitted network on (``warm``) draws
        no W0 either: its split comes first, as in scikit-learn's. One that
        prunes on plans as the fit it continues did (the same split for the
        same data); its search then takes the fitted search's random state.

        ``kernels``: the training step's path ("numpy" or "numba"), recorded
        with the plan; resuming on the other path warns.
        """
        rng = check_random_state(self.random_state)
        if folder is not None and self.random_state is None:
            rng = np.random.RandomState()
        like_scikit_learn = self.n_seeds == 1 and self.ticket is None
        weights_first = like_scikit_learn and (warm is None or not warm.keeps_training)
        # scikit-learn's L-BFGS ignores early_stopping: it trains on all rows.
        early_stopping = self.early_stopping and self.solver != "lbfgs"
        splits = early_stopping or self.n_seeds > 1
        store = None if folder is None else folder.store("plan.npz")
        if store is not None:
            saved = load_plan(
                store,
                n_samples=data.X.shape[0],
                validation_fraction=self.validation_fraction if splits else None,
                n_seeds=self.n_seeds,
                weights_first=weights_first,
            )
            if saved is not None:
                self._read_plan(store, saved, kernels)
                rng.set_state(saved.random_state)
                if saved.initial_state is not None:
                    # The split was drawn after W0 (see above).
                    rng = WeightsFirstRandomState(saved.initial_state, rng.get_state())
                return rng, saved.plan
        rows = validation_rows = seeds = initial_state = None
        if splits:
            if weights_first:
                # Drawn aside (the search draws it again from this state):
                # scikit-learn's split comes after W0.
                initial_state = rng.get_state()
                glorot_uniform(data.layer_units, self.activation, data.X.dtype, rng)
            rows, validation_rows = self._split_validation(
                data.X, data.y, rng, like_scikit_learn=like_scikit_learn
            )
        if self.n_seeds > 1:
            # Drawn here, before any work is handed out: each seed's search is
            # then a function of its seed alone, whatever n_jobs.
            seeds = draw_seeds(rng, self.n_seeds)
        plan = SearchPlan(rows, validation_rows, seeds)
        if store is not None:
            save_plan(
                store,
                plan,
                rng.get_state(),
                initial_state=initial_state,
                kernels=kernels,
            )
        if initial_state is not None:
            rng = WeightsFirstRandomState(initial_state, rng.get_state())
        return rng, plan

    def _read_plan(self, store: CheckpointStore, saved: SavedPlan, kernels: str):
        """Warn when a saved plan resumes under another BLAS or kernel path.

        :func:`~._checkpoint.load_plan` has checked it against this
        estimator and the data.
        """
        # The same plan and random state; another BLAS (kernel, version,
        # threads) may still change the last bits of the resumed rounds.
        difference = blas_differences(saved.blas, blas_info())
        if difference:
            warnings.warn(
                f"Resuming the search in {store.directory} under another BLAS "
                f"setup: {difference} The resumed rounds may differ in the last "
                "bits from an uninterrupted run.",
                UserWarning,
                stacklevel=6,
            )
        if saved.kernels != kernels:
            warnings.warn(
                f"Resuming the search in {store.directory} on the {kernels!r} "
                f"kernels; its completed rounds ran on the {saved.kernels!r} "
                "kernels (see sklearn_lth.set_config). The resumed rounds may "
                "differ in the last bits from an uninterrupted run.",
                UserWarning,
                stacklevel=6,
            )

    def _fit_one(self, data, rng, search, folder, on_round_end, interrupt, warm):
        """One search, whose result it returns; its completed rounds survive an
        interrupt or divergence.

        ``warm``: the fitted search it goes on with (``warm_start``).
        """
        callback = None
        if on_round_end is not None:

            def callback(record, coefs, intercepts):
                # A shallow copy with the round's weights: it predicts and
                # scores while this estimator's own fit goes on untouched.
                round_model = copy.copy(self)
                round_model.coefs_, round_model.intercepts_ = coefs, intercepts
                round_model._operands = prediction_operands(coefs)
                on_round_end(record, round_model)

        # find_ticket leaves its search here before the first round: the
        # completed rounds outlive whatever exception ends it.
        progress = Progress()
        try:
            result = find_ticket(
                data.X,
                data.Y,
                data.sample_weight,
                rng=rng,
                checkpoint=None if folder is None else folder.store("imp_state.npz"),
                on_round_end=callback,
                progress=progress,
                stop=interrupt.stop,
                warm=warm,
                **search,
            )
        except KeyboardInterrupt:
            self._keep_interrupted([progress.result()], interrupt)
            raise
        except TrainingDivergedError as error:
            raise self._diverged(error, [progress.result()]) from error
        self._set_fitted(result, [result], 0)
        return result

    def _fit_seeds(self, data, plan, search, folder, interrupt):
        """One search per seed, in parallel; keep (and return) the best that
        finished."""
        stores = [
            None if folder is None else folder.store(f"imp_state_seed{i}.npz")
            for i in range(len(plan.seeds))
        ]
        with transport_folder() as transport:
            progress = SeedsProgress(len(plan.seeds), transport, interrupt.stop)
            try:
                outcomes = search_seeds(
                    plan.seeds,
                    data.X,
                    data.Y,
                    data.sample_weight,
                    self.n_jobs,
                    stores,
                    progress,
                    **search,
                )
            except KeyboardInterrupt:
                # Seeds in threads stop at their next mini-batch; worker
                # processes are stopped by their own signal or by joblib.
                # Then each seed's last completed round is collected, from
                # memory or from its file.
                interrupt.stop.set()
                recovered = recover_seeds(plan.seeds, data.X, stores, progress, search)
                self._keep_interrupted(recovered, interrupt)
                raise
        # A diverged seed is never chosen, but its completed rounds stay in
        # ``seeds_history_``.
        finished = [o if isinstance(o, IMPResult) else None for o in outcomes]
        tables = [o if isinstance(o, IMPResult) else o.partial for o in outcomes]
        diverged = [o for o in outcomes if isinstance(o, DivergedSeed)]
        if len(diverged) == len(outcomes):
            raise self._diverged(diverged[0].error, tables) from diverged[0].error
        if diverged:
            warnings.warn(
                f"{len(diverged)} of {len(outcomes)} seeds diverged and are left "
                f"out of the choice (the first: {diverged[0].error})",
                UserWarning,
                stacklevel=5,
            )
        best = choose_seed(finished)
        self._set_fitted(finished[best], tables, best)
        return finished[best]

    def _keep_interrupted(self, results, interrupt: _Interrupt) -> None:
        """Keep the sparsest completed round (if any) when ``fit`` is interrupted.

        A warning names the kept round, unless the fit is a quiet, nested one.
        """
        best = choose_seed(results)
        if best is None:
            return
        self._set_fitted(results[best], results, best)
        interrupt.transaction.keep()
        if interrupt.quiet:
            return
        warnings.warn(
            f"Training interrupted by the user; the estimator keeps round "
            f"{int(self.history_['round'][-1])}, the last one completed "
            f"(sparsity {self.history_['sparsity'][-1]:.4f}).",
            UserWarning,
            stacklevel=6,
        )

    def _diverged(self, error, results) -> TrainingDivergedError:
        """The error to raise: the estimator is left as it was, the completed
        rounds travel in the error's ``estimator``."""
        best = choose_seed(results)
        kept = None
        message = f"{error} The estimator is left as it was before fit"
        if best is not None:
            # A copy: FitTransaction restores ``self`` as the error leaves.
            kept = copy.copy(self)
            kept._set_fitted(results[best], results, best)
            message += (
                f"; the network of round {int(kept.history_['round'][-1])}, the "
                "last one completed, is in this error's `estimator` attribute"
            )
        return TrainingDivergedError(
            message + ".", round_index=error.round_index, estimator=kept
        )

    def _set_fitted(self, result, results, best: int) -> None:
        """Set every fitted attribute from ``result`` in one step."""
        last = result.last_round
        # A network partial_fit was training is not this one any more.
        self.__dict__.pop("_incremental", None)
        self.__dict__.update(
            coefs_=result.coefs,
            intercepts_=result.intercepts,
            # Left out of pickles, rebuilt on loading (see CSRPredictorMixin).
            _operands=prediction_operands(result.coefs),
            ticket_=result.ticket,
            history_=result.history,
            best_seed_=best,
            seeds_history_=stack_histories(results),
            n_iter_=last.n_iter,
            loss_curve_=list(last.loss_curve),
            loss_=last.loss_curve[-1],
            validation_scores_=last.validation_scores,
            best_validation_score_=last.best_validation_score,
            # scikit-learn's: the stopping rule's best training loss, which it
            # keeps for its stochastic solvers and not with early stopping.
            best_loss_=(
                None
                if self.early_stopping or self.solver == "lbfgs"
                else min(last.loss_curve)
            ),
            t_=last.samples_seen,
            # scikit-learn's name; a warm-started fit's stopping rule goes on
            # from it.
            _no_improvement_count=last.stall_count,
            # What a warm-started fit needs to go on with this search.
            _search_end=result.end.as_fitted(),
        )

    def _check_ticket(self, X) -> list[int]:
        """Check the ticket against ``X``; return the layer sizes it implies."""
        # Checked again at every fit: its arrays may have changed since.
        self.ticket.check()
        shapes = self.ticket.layer_shapes
        if shapes[0][0] != X.shape[1] or shapes[-1][1] != self.n_outputs_:
            raise ValueError(
                f"The ticket does not fit the data: its network takes "
                f"{shapes[0][0]} features and has {shapes[-1][1]} outputs, but X has "
                f"{X.shape[1]} features and y needs {self.n_outputs_} outputs."
            )
        return [shapes[0][0]] + [s[1] for s in shapes]

    def _split_validation(self, X, y, rng, *, like_scikit_learn=False):
        """Row indices of the training and the held-out validation parts.

        ``like_scikit_learn``: stratified as scikit-learn's MLP stratifies its
        early-stopping split (see :meth:`_stratify_validation`).
        """
        stratify = self._stratify_validation(y, like_scikit_learn)
        try:
            rows, validation_rows = train_test_split(
                np.arange(X.shape[0]),
                test_size=self.validation_fraction,
                random_state=rng,
                stratify=stratify,
            )
        except ValueError as exc:
            raise ValueError(
                f"Cannot hold out validation_fraction={self.validation_fraction} of "
                f"{X.shape[0]} samples for early stopping or for choosing among "
                f"seeds: {exc}"
            ) from exc
        # As in scikit-learn's MLP: the regressor's R² is undefined on one sample.
        if validation_rows.size < 2:
            raise ValueError(
                "The validation set is too small for early stopping or for choosing "
                "among seeds: increase validation_fraction or the number of samples."
            )
        return rows, validation_rows

    def _stratify_validation(self, y, like_scikit_learn=False):
        """The labels the validation split is stratified by, or None.

        ``like_scikit_learn``: as scikit-learn's MLP, which stratifies by its
        encoded targets only when they are one column (binary classes).
        """
        return None

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


@fill_parameters(PARAMS)
class LotteryTicketMLP(ClassifierMixin, CSRClassifierMixin, _BaseLotteryTicketMLP):
    """Multi-layer perceptron classifier pruned by iterative magnitude pruning.

    ``fit`` searches for a winning lottery ticket (Frankle & Carbin, 2019):
    it trains the dense network, removes the fraction
    ``p = 1 - (1 - target_sparsity) ** (1 / pruning_rounds)`` of the remaining
    weights with the smallest magnitude, rewinds the survivors, and trains
    again, ``pruning_rounds`` times. The fitted model is the network trained
    in the last round; its weights are stored as ``scipy.sparse`` CSR arrays
    and prediction runs on them.

    Parameters
    ----------
    {parameters}

    Notes
    -----
    Nothing finished is lost. Ctrl-C during ``fit`` leaves the estimator
    fitted at the last completed round, with a warning, and the
    ``KeyboardInterrupt`` then propagates. A round that diverges raises
    :class:`TrainingDivergedError` naming the round (and the epoch, for a
    loss that stops being finite); the estimator is left as it was before
    ``fit``, and the error's ``estimator`` attribute holds a copy fitted at
    the last completed round. The strongest path of weights from the output
    back to an input is never pruned, so no layer is ever cut off; if that
    stops a round from pruning its full count, a warning says so.

    Attributes
    ----------
    classes_ : ndarray
        Class labels.
    coefs_ : list of scipy.sparse.csr_array of shape (n_in, n_out)
        Weights of the final network; ``nnz`` is the number of kept weights.
    intercepts_ : list of ndarray
        Biases of the final network.
    ticket_ : LotteryTicket
        The winning ticket: masks and the rewind weights of the last round.
    history_ : dict of ndarray
        One entry per round (``pandas.DataFrame(history_)`` is the round table):
        ``round``, ``sparsity``, ``remaining_parameters``, ``n_iter``,
        ``train_loss``, ``train_score``, ``seconds`` and, with
        ``early_stopping`` or ``n_seeds > 1``, ``validation_score``.
    seeds_history_ : dict of ndarray
        The round tables of all seeds stacked, with a ``seed`` column (the
        seed's index): ``pandas.DataFrame(seeds_history_).groupby("round")``
        gives the mean and spread over seeds.
    best_seed_ : int
        Index of the seed kept (0 with ``n_seeds=1``).
    loss_ : float
        Training loss at the end of the last round.
    loss_curve_ : list of float
        Training loss per epoch of the last round.
    n_iter_ : int
        Epochs run in the last round.
    validation_scores_ : list of float or None
        Validation score per epoch of the last round (``early_stopping``).
    best_validation_score_ : float or None
        Best validation score of the last round (``early_stopping``).
    best_loss_ : float or None
        Minimum training loss over the epochs of the last round; None with
        ``early_stopping`` (which watches the validation score instead) and
        with ``solver="lbfgs"``, as in scikit-learn.
    t_ : int
        Training samples seen by the solver in the last round, summed over
        its epochs (``n_iter_`` times the training rows, validation rows
        excluded), as scikit-learn's ``t_``; 0 with ``solver="lbfgs"``.
    n_layers_ : int
        Number of layers, input and output included.
    n_outputs_ : int
        Number of output units.
    out_activation_ : str
        Output activation (``"softmax"`` or ``"logistic"``).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of str
        Names of the features seen during fit, when they are all strings.

    See Also
    --------
    LotteryTicketMLPRegressor : The regression twin.
    sklearn.neural_network.MLPClassifier : The dense network.

    References
    ----------
    Frankle, J. & Carbin, M. (2019). The Lottery Ticket Hypothesis: Finding
    Sparse, Trainable Neural Networks. ICLR.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_lth import LotteryTicketMLP
    >>> X, y = load_digits(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> clf = LotteryTicketMLP(hidden_layer_sizes=(32,), target_sparsity=0.75,
    ...                        pruning_rounds=2, random_state=0).fit(X, y)
    >>> [int(n) for n in clf.history_["remaining_parameters"]]
    [2368, 1184, 592]
    >>> clf.ticket_.sparsity
    0.75
    >>> clf.coefs_[0]
    <Compressed Sparse Row sparse array of dtype 'float64'
        with ... stored elements and shape (64, 32)>
    >>> clf.score(X, y) > 0.95
    True
    """

    def _encode_targets(self, y, dtype, warm=False):
        if warm:
            # scikit-learn's rule and message: the fitted classes, no other.
            if y.ndim == 2 and y.shape[1] == 1:
                y = column_or_1d(y, warn=True)
            check_classification_targets(y)
            classes = unique_labels(y)
            if set(classes) != set(self.classes_):
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes as "
                    f"in the previous call to fit. Previously got {self.classes_}, "
                    f"`y` has {classes}"
                )
            return y, self._label_binarizer.transform(y).astype(dtype, copy=False)
        y, self._label_binarizer, Y = encode_classes(y, dtype)
        self.classes_ = self._label_binarizer.classes_
        return y, Y

    def _out_activation(self, Y) -> str:
        if self._label_binarizer.y_type_ == "multiclass":
            return "softmax"
        return "logistic"

    def _stratify_validation(self, y, like_scikit_learn=False):
        kind = type_of_target(y)
        if like_scikit_learn:
            # scikit-learn stratifies by its binarized targets, booleans, when
            # they are one column: binary labels (the same split as by the
            # labels, whose classes sort alike, and the same error naming
            # them), not multiclass or multilabel ones.
            if kind != "binary":
                return None
            return self._label_binarizer.transform(y).astype(bool)
        # Otherwise (several seeds, or a ticket) multiclass ones are too.
        return y if kind in ("binary", "multiclass") else None

    @available_if(_has_stochastic_solver)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One pass over the given data, with the kept weights fixed (no pruning).

        As scikit-learn's ``partial_fit``: the first call draws the initial
        weights from ``random_state`` (or starts from ``ticket``, or from the
        fitted network after ``fit``), and each call trains one epoch, keeping
        the optimizer's state for the next. Pruned weights stay exactly zero:
        a found ticket keeps learning on streaming data while staying sparse.
        ``learning_rate="invscaling"`` decays with the samples seen; the
        other schedules train at ``learning_rate_init``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The data of this call.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Its targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights of the loss.
        classes : array-like of shape (n_classes,), default=None
            Every class of the stream; required on the first call.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._partial_fit(X, y, sample_weight, classes)

    def _encode_increment(self, y, dtype, classes):
        """``y`` encoded with the classes of the first call (checked)."""
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        multilabel = type_of_target(y).startswith("multilabel")
        if not hasattr(self, "classes_"):
            if classes is None:
                raise ValueError(
                    "classes must be passed on the first call to partial_fit."
                )
            self._label_binarizer = LabelBinarizer().fit(y if multilabel else classes)
            self.classes_ = self._label_binarizer.classes_
        elif classes is not None and not np.array_equal(
            np.unique(classes), self.classes_
        ):
            raise ValueError(
                f"`classes={list(classes)!r}` is not the same as on the first call "
                f"to partial_fit (or fit), was: {list(self.classes_)!r}."
            )
        unseen = [] if multilabel else np.setdiff1d(unique_labels(y), self.classes_)
        if len(unseen):
            raise ValueError(
                f"Expected only labels in classes_ = {list(self.classes_)!r}, but "
                f"got {list(unseen)!r}."
            )
        return self._label_binarizer.transform(y).astype(dtype, copy=False)

    def predict_log_proba(self, X):
        """Logarithm of the class probabilities.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        return np.log(self.predict_proba(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


@fill_parameters(REGRESSOR_PARAMS)
class LotteryTicketMLPRegressor(RegressorMixin, _BaseLotteryTicketMLP):
    """Multi-layer perceptron regressor pruned by iterative magnitude pruning.

    The regression twin of :class:`LotteryTicketMLP`: the same parameters and
    the same search, plus ``loss`` as in scikit-learn's ``MLPRegressor``:
    ``"squared_error"`` trains an identity output on half the squared error,
    ``"poisson"`` an exponential output (log link) on half the Poisson
    deviance, for counts and other non-negative targets. Single and
    multi-output targets are supported.

    Parameters
    ----------
    {parameters}

    Attributes
    ----------
    coefs_ : list of scipy.sparse.csr_array of shape (n_in, n_out)
        Weights of the final network.
    intercepts_ : list of ndarray
        Biases of the final network.
    ticket_ : LotteryTicket
        The winning ticket.
    history_ : dict of ndarray
        One entry per round; ``train_score`` is R².
    seeds_history_ : dict of ndarray
        The round tables of all seeds stacked, with a ``seed`` column.
    best_seed_ : int
        Index of the seed kept (0 with ``n_seeds=1``).
    loss_ : float
        Training loss at the end of the last round: half the squared error
        (or half the Poisson deviance), summed over outputs and averaged over
        samples.
    loss_curve_ : list of float
        Training loss per epoch of the last round.
    n_iter_ : int
        Epochs run in the last round.
    validation_scores_ : list of float or None
        Validation R² per epoch of the last round (``early_stopping``).
    best_validation_score_ : float or None
        Best validation R² of the last round (``early_stopping``).
    best_loss_ : float or None
        Minimum training loss over the epochs of the last round; None with
        ``early_stopping`` (which watches the validation score instead) and
        with ``solver="lbfgs"``, as in scikit-learn.
    t_ : int
        Training samples seen by the solver in the last round, summed over
        its epochs (``n_iter_`` times the training rows, validation rows
        excluded), as scikit-learn's ``t_``; 0 with ``solver="lbfgs"``.
    n_layers_ : int
        Number of layers, input and output included.
    n_outputs_ : int
        Number of outputs.
    out_activation_ : str
        ``"identity"``, or ``"exp"`` with ``loss="poisson"``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of str
        Names of the features seen during fit, when they are all strings.

    See Also
    --------
    LotteryTicketMLP : The classifier.
    LotteryTicketMLPRegressorCV : The sparsity chosen by cross-validation.
    sklearn.neural_network.MLPRegressor : The dense network.

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from sklearn_lth import LotteryTicketMLPRegressor
    >>> X, y = make_regression(n_samples=200, n_features=10, noise=1.0,
    ...                        random_state=0)
    >>> reg = LotteryTicketMLPRegressor(hidden_layer_sizes=(20,),
    ...                                 target_sparsity=0.5, pruning_rounds=2,
    ...                                 learning_rate_init=0.01, max_iter=300,
    ...                                 random_state=0).fit(X, y / 100)
    >>> reg.coefs_[0].nnz + reg.coefs_[1].nnz
    110
    >>> reg.score(X, y / 100) > 0.9
    True
    """

    _parameter_constraints: dict = constraints(REGRESSOR_PARAMS)

    # Its own signature, ``loss`` included: ``get_params`` reads it.
    def __init__(
        self,
        hidden_layer_sizes=REGRESSOR_DEFAULTS["hidden_layer_sizes"],
        activation=REGRESSOR_DEFAULTS["activation"],
        *,
        loss=REGRESSOR_DEFAULTS["loss"],
        target_sparsity=REGRESSOR_DEFAULTS["target_sparsity"],
        pruning_rounds=REGRESSOR_DEFAULTS["pruning_rounds"],
        pruning_scope=REGRESSOR_DEFAULTS["pruning_scope"],
        pruning_criterion=REGRESSOR_DEFAULTS["pruning_criterion"],
        output_layer_rate=REGRESSOR_DEFAULTS["output_layer_rate"],
        rewind=REGRESSOR_DEFAULTS["rewind"],
        rewind_iteration=REGRESSOR_DEFAULTS["rewind_iteration"],
        rewind_fraction=REGRESSOR_DEFAULTS["rewind_fraction"],
        ticket=REGRESSOR_DEFAULTS["ticket"],
        n_seeds=REGRESSOR_DEFAULTS["n_seeds"],
        n_jobs=REGRESSOR_DEFAULTS["n_jobs"],
        checkpoint_dir=REGRESSOR_DEFAULTS["checkpoint_dir"],
        solver=REGRESSOR_DEFAULTS["solver"],
        alpha=REGRESSOR_DEFAULTS["alpha"],
        batch_size=REGRESSOR_DEFAULTS["batch_size"],
        learning_rate=REGRESSOR_DEFAULTS["learning_rate"],
        learning_rate_init=REGRESSOR_DEFAULTS["learning_rate_init"],
        power_t=REGRESSOR_DEFAULTS["power_t"],
        max_iter=REGRESSOR_DEFAULTS["max_iter"],
        shuffle=REGRESSOR_DEFAULTS["shuffle"],
        random_state=REGRESSOR_DEFAULTS["random_state"],
        tol=REGRESSOR_DEFAULTS["tol"],
        verbose=REGRESSOR_DEFAULTS["verbose"],
        warm_start=REGRESSOR_DEFAULTS["warm_start"],
        momentum=REGRESSOR_DEFAULTS["momentum"],
        nesterovs_momentum=REGRESSOR_DEFAULTS["nesterovs_momentum"],
        early_stopping=REGRESSOR_DEFAULTS["early_stopping"],
        validation_fraction=REGRESSOR_DEFAULTS["validation_fraction"],
        beta_1=REGRESSOR_DEFAULTS["beta_1"],
        beta_2=REGRESSOR_DEFAULTS["beta_2"],
        epsilon=REGRESSOR_DEFAULTS["epsilon"],
        n_iter_no_change=REGRESSOR_DEFAULTS["n_iter_no_change"],
        max_fun=REGRESSOR_DEFAULTS["max_fun"],
    ):
        super().__init__(
            hidden_layer_sizes,
            activation,
            target_sparsity=target_sparsity,
            pruning_rounds=pruning_rounds,
            pruning_scope=pruning_scope,
            pruning_criterion=pruning_criterion,
            output_layer_rate=output_layer_rate,
            rewind=rewind,
            rewind_iteration=rewind_iteration,
            rewind_fraction=rewind_fraction,
            ticket=ticket,
            n_seeds=n_seeds,
            n_jobs=n_jobs,
            checkpoint_dir=checkpoint_dir,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
        )
        self.loss = loss

    def _encode_targets(self, y, dtype, warm=False):
        # scikit-learn's MLPRegressor: a column vector is one target, with a
        # DataConversionWarning (and predictions come out 1-d).
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        Y = np.asarray(y, dtype=dtype)
        if Y.ndim == 1:
            Y = Y.reshape(-1, 1)
        if warm and Y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"warm_start=True goes on with the fitted network, which has "
                f"{self.n_outputs_} output(s), but y has {Y.shape[1]}: set "
                "warm_start=False to start over."
            )
        # The Poisson deviance is defined for y >= 0 only (a negative target
        # would make the loss NaN, or be fitted by no exponential output).
        if self.loss == "poisson" and (Y < 0).any():
            raise ValueError(
                'loss="poisson" requires non-negative targets y; the smallest '
                f"here is {Y.min()}."
            )
        return y, Y

    def _out_activation(self, Y) -> str:
        # scikit-learn's pairing: the canonical link of each loss.
        return "exp" if self.loss == "poisson" else "identity"

    @available_if(_has_stochastic_solver)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One pass over the given data, with the kept weights fixed (no pruning).

        As scikit-learn's ``partial_fit``: the first call draws the initial
        weights from ``random_state`` (or starts from ``ticket``, or from the
        fitted network after ``fit``), and each call trains one epoch, keeping
        the optimizer's state for the next. Pruned weights stay exactly zero:
        a found ticket keeps learning on streaming data while staying sparse.
        ``learning_rate="invscaling"`` decays with the samples seen; the
        other schedules train at ``learning_rate_init``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The data of this call.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Its targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights of the loss.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._partial_fit(X, y, sample_weight)

    def _encode_increment(self, y, dtype, classes):
        Y = self._encode_targets(y, dtype)[1]
        if hasattr(self, "n_outputs_") and Y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {Y.shape[1]} target(s), but the network was fitted with "
                f"{self.n_outputs_}: every partial_fit call (and the fit before "
                "them) needs the same number of targets."
            )
        return Y

    def predict(self, X):
        """Predicted target values.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        P = self._forward(X)
        return P.ravel() if self.n_outputs_ == 1 else P

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
