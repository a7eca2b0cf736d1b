"""The parameter table of sklearn_lth._params is the one source of truth.

Each estimator's signature, constraints and documented parameters, and the
command line's choices and defaults, agree with it.
"""

import ast
import inspect

import pytest

from sklearn_lth import (
    LotteryTicketMLP,
    LotteryTicketMLPCV,
    LotteryTicketMLPRegressor,
    LotteryTicketMLPRegressorCV,
)
from sklearn_lth._cli._estimator import build_estimator
from sklearn_lth._cli._options import build_parser
from sklearn_lth._compat import StrOptions
from sklearn_lth._params import (
    CV_EXCLUDED,
    CV_PARAMS,
    PARAMS,
    REGRESSOR_CV_PARAMS,
    REGRESSOR_PARAMS,
    _shown,
)

TABLES = [
    (LotteryTicketMLP, PARAMS),
    (LotteryTicketMLPRegressor, REGRESSOR_PARAMS),
    (LotteryTicketMLPCV, CV_PARAMS),
    (LotteryTicketMLPRegressorCV, REGRESSOR_CV_PARAMS),
]
IDS = [cls.__name__ for cls, _ in TABLES]


def _signature(cls) -> dict[str, inspect.Parameter]:
    parameters = inspect.signature(cls.__init__).parameters
    return {name: p for name, p in parameters.items() if name != "self"}


def _options(cls, name: str) -> set[str]:
    (options,) = [
        c.options for c in cls._parameter_constraints[name] if isinstance(c, StrOptions)
    ]
    return options


@pytest.mark.parametrize("cls, table", TABLES, ids=IDS)
def test_signature_defaults_equal_the_table(cls, table):
    signature = _signature(cls)
    assert list(signature) == list(table)
    for name, parameter in signature.items():
        default = table[name].default
        assert parameter.default == default, name
        assert type(parameter.default) is type(default), name


@pytest.mark.parametrize("cls, table", TABLES, ids=IDS)
def test_constraints_are_the_tables(cls, table):
    assert cls._parameter_constraints == {n: p.constraint for n, p in table.items()}


@pytest.mark.parametrize("cls, table", TABLES, ids=IDS)
def test_every_constrained_parameter_is_documented(cls, table):
    doc = inspect.getdoc(cls)
    for name in cls._parameter_constraints:
        assert table[name].type and table[name].doc.strip(), name
        assert table[name].entry(name) in doc, name


@pytest.mark.parametrize("cls, table", TABLES, ids=IDS)
def test_numpydoc_sees_every_parameter(cls, table):
    docscrape = pytest.importorskip("numpydoc.docscrape")
    documented = docscrape.ClassDoc(cls)["Parameters"]
    assert [p.name for p in documented] == list(_signature(cls))
    assert all(p.desc for p in documented)


def test_documented_defaults_are_the_defaults():
    for name, param in [
        *REGRESSOR_PARAMS.items(),
        *CV_PARAMS.items(),
        *REGRESSOR_CV_PARAMS.items(),
    ]:
        assert ast.literal_eval(_shown(param.default)) == param.default, name
        if param.options:
            assert param.default in param.options, name
            assert param.constraint[0].options == set(param.options), name


def test_shown_default_is_written_as_numpydoc_usually_is():
    assert [_shown(v) for v in ("relu", 1e-4, 1e-3, 1e-8, 0.01, (100,), None)] == [
        '"relu"',
        "1e-4",
        "1e-3",
        "1e-8",
        "0.01",
        "(100,)",
        "None",
    ]


@pytest.mark.parametrize("cls", [LotteryTicketMLP, LotteryTicketMLPRegressor])
def test_cli_choices_are_the_estimators_options(cls):
    with_choices = {
        action.dest: action.choices
        for action in build_parser()._actions
        if action.choices is not None and action.dest in PARAMS
    }
    assert set(with_choices) == {
        "activation",
        "pruning_scope",
        "rewind",
        "solver",
        "learning_rate",
    }
    for name, choices in with_choices.items():
        assert set(choices) == _options(cls, name), name
        assert tuple(choices) == PARAMS[name].options, name  # as documented


@pytest.mark.parametrize(
    "task, cls",
    [("classification", LotteryTicketMLP), ("regression", LotteryTicketMLPRegressor)],
)
def test_cli_defaults_are_the_estimators(task, cls):
    # The command line fixes random_state, for runs that can be repeated.
    args = build_parser().parse_args([])
    assert build_estimator(args, task).get_params() == cls(random_state=0).get_params()


@pytest.mark.parametrize(
    "cv_cls, mlp_cls, cv_table, table",
    [
        (LotteryTicketMLPCV, LotteryTicketMLP, CV_PARAMS, PARAMS),
        (
            LotteryTicketMLPRegressorCV,
            LotteryTicketMLPRegressor,
            REGRESSOR_CV_PARAMS,
            REGRESSOR_PARAMS,
        ),
    ],
    ids=["classifier", "regressor"],
)
def test_cv_shares_the_estimators_parameters(cv_cls, mlp_cls, cv_table, table):
    cv, mlp = _signature(cv_cls), _signature(mlp_cls)
    own = {"cv", "pruning_rate", "max_rounds", "score_tolerance", "scoring", "n_jobs"}
    assert set(mlp) - set(cv) == set(CV_EXCLUDED)
    assert set(cv) - set(mlp) == own - {"n_jobs"}
    for name in set(cv) & set(mlp):
        assert cv[name].default == mlp[name].default, name
        # The very same constraint objects, not copies that could drift.
        assert (
            cv_cls._parameter_constraints[name] == mlp_cls._parameter_constraints[name]
        ), name
    for name in set(cv) & set(mlp) - own:
        assert cv_table[name] is table[name], name
    # What the folds fit: every parameter passed on, the sparsity set by the path.
    passed_on = cv_cls(max_rounds=2, pruning_rate=0.5)._estimator(2).get_params()
    assert set(passed_on) == set(mlp)
    assert passed_on["target_sparsity"] == 0.75 and passed_on["pruning_rounds"] == 2


def test_the_regressor_has_the_classifiers_parameters_and_loss():
    """``loss`` is the regressor's own, first of its keyword-only parameters;
    every other entry is the classifier's, the very same object."""
    assert list(REGRESSOR_PARAMS) == [
        "hidden_layer_sizes",
        "activation",
        "loss",
        *list(PARAMS)[2:],
    ]
    assert all(REGRESSOR_PARAMS[name] is param for name, param in PARAMS.items())
    signature = _signature(LotteryTicketMLPRegressor)
    assert signature["loss"].kind is inspect.Parameter.KEYWORD_ONLY
    assert signature["activation"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert REGRESSOR_PARAMS["loss"].options == ("squared_error", "poisson")
    assert "loss" not in _signature(LotteryTicketMLP)
