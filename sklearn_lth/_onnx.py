"""ONNX export of fitted estimators (the optional ``onnx`` extra).

:func:`to_onnx` writes a ticket as an ONNX graph: per layer a ``MatMul`` by
its weights, an ``Add`` of its biases and its activation, then the output's
activation and, for a classifier, the labels. A layer's weights are a sparse
constant (COO: each kept weight's value and its position) when that is
smaller than the dense tensor, that is below a third of the weights kept in
float32 (a half in float64). ONNX Runtime densifies sparse constants when it
loads a model: such a file is small, and runs at the dense speed. With
``compact=True`` the graph is the dense network of the live units only (that
of :meth:`~sklearn_lth.LotteryTicketMLP.to_sklearn`, its kept input columns
gathered first), the fastest form on any runtime.

The converter is registered with ``skl2onnx`` when this module is imported
(by :func:`to_onnx` or :func:`register_onnx_converters`), so that
``skl2onnx.to_onnx`` converts our estimators, and pipelines that hold them,
too. ``skl2onnx`` and ``onnx`` are imported here only.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

try:
    import skl2onnx
    from onnx import TensorProto
    from skl2onnx.common.data_types import (
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
        guess_proto_type,
    )
except ImportError as error:  # pragma: no cover - the extra is installed in CI
    raise ImportError(
        "ONNX export needs the optional onnx extra: pip install 'sklearn-lth[onnx]' "
        f"(skl2onnx and onnx). {error}"
    ) from error

from ._cv import LotteryTicketMLPCV, LotteryTicketMLPRegressorCV
from ._mlp import LotteryTicketMLP, LotteryTicketMLPRegressor
from ._supermask import SupermaskMLP

_CLASSIFIERS = (LotteryTicketMLP, SupermaskMLP, LotteryTicketMLPCV)
_REGRESSORS = (LotteryTicketMLPRegressor, LotteryTicketMLPRegressorCV)
# Sparse constants (Constant's sparse_value) came with opset 11.
_SPARSE_CONSTANTS_OPSET = 11
_ONNX_ACTIVATIONS = {
    "identity": "Identity",
    "relu": "Relu",
    "tanh": "Tanh",
    "logistic": "Sigmoid",
    "softmax": "Softmax",
    "exp": "Exp",
}


def to_onnx(estimator, X, *, compact: bool = False, target_opset=None):
    """A fitted estimator of this package as an ONNX model.

    Parameters
    ----------
    estimator : fitted estimator of this package, or Pipeline holding one
        A ``LotteryTicketMLP``, ``LotteryTicketMLPRegressor``, their ``CV``
        versions (their refitted estimator is exported) or ``SupermaskMLP``;
        the other steps of a pipeline are converted by ``skl2onnx``.
    X : array-like of shape (n_samples, n_features)
        Sample input: its dtype sets the graph's (float64 stays float64,
        anything else is float32); it must have the columns the estimator
        was fitted on.
    compact : bool, default=False
        False: the ticket's own shape, each layer under a third of its
        weights kept (a half in float64) stored as a sparse constant, the
        smallest file. True: the dense network of its live units only
        (:meth:`~sklearn_lth.LotteryTicketMLP.to_sklearn`), its kept input
        columns gathered first: dense constants, the fastest on any runtime,
        and readable by tools that know no sparse tensors.
    target_opset : int, default=None
        The ONNX opset, ``skl2onnx``'s default when None. Below 11, which has
        no sparse constants, every layer is stored dense.

    Returns
    -------
    onnx.ModelProto
        Input ``X``; a classifier's outputs are ``label`` (one per sample, or
        a 0/1 column per label for multilabel targets) and ``probabilities``
        (an array of shape (n_samples, n_classes), not a ZipMap); a
        regressor's is ``variable`` of shape (n_samples, n_outputs).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_lth import LotteryTicketMLP, to_onnx
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = LotteryTicketMLP((16,), target_sparsity=0.5, pruning_rounds=2,
    ...                        max_iter=50, random_state=0).fit(X, y)
    >>> model = to_onnx(clf, X.astype(np.float32))
    >>> [output.name for output in model.graph.output]
    ['label', 'probabilities']
    """
    model = _exportable(estimator, compact)
    sample = _sample(X, estimator)
    sample = sample if sample.dtype == np.float64 else sample.astype(np.float32)
    options = {id(step): {"zipmap": False} for step in _classifiers_in(model)}
    return skl2onnx.to_onnx(
        model, sample, target_opset=target_opset, options=options or None
    )


def register_onnx_converters() -> None:
    """Register this package's estimators with ``skl2onnx``.

    Done on importing this module (which :func:`to_onnx` does); afterwards
    ``skl2onnx.to_onnx`` and ``convert_sklearn`` convert them, alone or
    inside pipelines, with the sparse constants of :func:`to_onnx`. The
    classifiers take ``skl2onnx``'s ``zipmap`` option (default True, as
    for scikit-learn's classifiers).

    Examples
    --------
    >>> import numpy as np
    >>> import skl2onnx
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_lth import LotteryTicketMLP, register_onnx_converters
    >>> register_onnx_converters()
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = LotteryTicketMLP((8,), target_sparsity=0.5, pruning_rounds=1,
    ...                        max_iter=20, random_state=0).fit(X, y)
    >>> model = skl2onnx.to_onnx(clf, X[:1].astype(np.float32),
    ...                          options={"zipmap": False})
    >>> model.graph.output[1].name
    'probabilities'
    """
    for kind in _CLASSIFIERS:
        skl2onnx.update_registered_converter(
            kind,
            f"SklearnLth{kind.__name__}",
            _classifier_shapes,
            _convert_classifier,
            options={"zipmap": [True, False, "columns"], "nocl": [True, False]},
        )
    for kind in _REGRESSORS:
        skl2onnx.update_registered_converter(
            kind, f"SklearnLth{kind.__name__}", _regressor_shapes, _convert_regressor
        )


def _sample(X, estimator) -> np.ndarray:
    """The first row of ``X``, checked against what ``estimator`` reads."""
    sample = np.asarray(X[:1])
    if sample.ndim != 2:
        raise ValueError(
            "X must be a 2-d sample of rows (n_samples, n_features), got an array "
            f"of shape {np.shape(X)}."
        )
    expected = getattr(estimator, "n_features_in_", None)
    if expected is not None and sample.shape[1] != expected:
        raise ValueError(
            f"X has {sample.shape[1]} features, but {type(estimator).__name__} "
            f"was fitted on {expected}."
        )
    return sample


def _exportable(estimator, compact: bool, *, in_pipeline: bool = False):
    """``estimator`` as the model ``skl2onnx`` converts."""
    if isinstance(estimator, Pipeline):
        return Pipeline(
            [
                (name, _exportable(step, compact, in_pipeline=True))
                for name, step in estimator.steps
            ]
        )
    if in_pipeline and not isinstance(estimator, _CLASSIFIERS + _REGRESSORS):
        return estimator  # skl2onnx's to convert
    if isinstance(estimator, LotteryTicketMLPCV | LotteryTicketMLPRegressorCV):
        check_is_fitted(estimator)
        estimator = estimator.best_estimator_
    if not isinstance(estimator, _CLASSIFIERS + _REGRESSORS):
        raise TypeError(
            "to_onnx exports this package's estimators (or a Pipeline holding "
            f"one), not {type(estimator).__name__}."
        )
    check_is_fitted(estimator)
    return _compacted(estimator) if compact else estimator


def _compacted(estimator):
    """A copy of ``estimator`` whose weights are the dense network of its
    live units (``skl2onnx`` finds its converter by its class), which reads
    its kept input columns only (see :func:`~sklearn_lth._compaction.compact`).
    """
    from ._compaction import compact

    compacted = compact(estimator.coefs_, estimator.intercepts_, estimator.activation)
    copy = estimator._with_weights(
        [sp.csr_array(W) for W in compacted.coefs], compacted.intercepts
    )
    copy._onnx_kept_inputs = compacted.input_columns
    copy._onnx_dense = True
    return copy


def _classifiers_in(model) -> list:
    """The classifiers whose outputs ``to_onnx`` gives as arrays."""
    if isinstance(model, Pipeline):
        return _classifiers_in(model.steps[-1][1])
    return [model] if hasattr(model, "classes_") else []


# -- shapes ----------------------------------------------------------------------
def _tensor_type(operator):
    """The float tensor type of the operator's input (float32 or float64)."""
    if guess_proto_type(operator.inputs[0].type) == TensorProto.DOUBLE:
        return DoubleTensorType
    return FloatTensorType


def _fitted(operator):
    """The fitted estimator an operator converts (a CV one's refitted one)."""
    estimator = operator.raw_operator
    check_is_fitted(estimator)
    return getattr(estimator, "best_estimator_", estimator)


def _classifier_shapes(operator) -> None:
    estimator = _fitted(operator)
    n = operator.inputs[0].get_first_dimension()
    classes = estimator.classes_
    if _is_multilabel(estimator):
        operator.outputs[0].type = Int64TensorType([n, len(classes)])
    elif classes.dtype.kind in "OUS":
        operator.outputs[0].type = StringTensorType([n])
    else:
        operator.outputs[0].type = Int64TensorType([n])
    operator.outputs[1].type = _tensor_type(operator)([n, len(classes)])


def _regressor_shapes(operator) -> None:
    n = operator.inputs[0].get_first_dimension()
    n_outputs = _fitted(operator).n_outputs_
    operator.outputs[0].type = _tensor_type(operator)([n, n_outputs])


# -- graphs -------------------------------------------------------------------------
def _is_multilabel(estimator) -> bool:
    return estimator._label_binarizer.y_type_ == "multilabel-indicator"


def _forward(scope, operator, container) -> tuple[str, int, type]:
    """The network's output (after the output activation), and its dtypes."""
    estimator = _fitted(operator)
    proto = guess_proto_type(operator.inputs[0].type)
    if proto != TensorProto.DOUBLE:
        proto = TensorProto.FLOAT
    dtype = np.float64 if proto == TensorProto.DOUBLE else np.float32
    name = _node(scope, container, "Cast", [operator.inputs[0].full_name], to=proto)
    kept_inputs = getattr(estimator, "_onnx_kept_inputs", None)
    if kept_inputs is not None and kept_inputs.size < estimator.n_features_in_:
        columns = scope.get_unique_variable_name("kept_inputs")
        container.add_initializer(
            columns, TensorProto.INT64, [kept_inputs.size], kept_inputs.tolist()
        )
        name = _node(scope, container, "Gather", [name, columns], axis=1)
    last = len(estimator.coefs_) - 1
    sparse = container.target_opset >= _SPARSE_CONSTANTS_OPSET and not getattr(
        estimator, "_onnx_dense", False
    )
    for i, (W, b) in enumerate(zip(estimator.coefs_, estimator.intercepts_)):
        weights = _weights_constant(scope, container, W, proto, dtype, sparse)
        bias = scope.get_unique_variable_name("bias")
        container.add_initializer(bias, proto, [b.size], b.astype(dtype).tolist())
        product = _node(scope, container, "MatMul", [name, weights])
        name = _node(scope, container, "Add", [product, bias])
        activation = estimator.out_activation_ if i == last else estimator.activation
        name = _node(scope, container, _ONNX_ACTIVATIONS[activation], [name])
    return name, proto, dtype


def _weights_constant(scope, container, W, proto, dtype, sparse: bool) -> str:
    """A layer's weights as an initializer: sparse (COO) when ``sparse`` and
    that is smaller."""
    name = scope.get_unique_variable_name("weights")
    W = sp.csr_array(W)
    index_bytes = 8  # ONNX's sparse indices are int64
    value_bytes = np.dtype(dtype).itemsize
    size = W.shape[0] * W.shape[1]
    if sparse and W.nnz * (index_bytes + value_bytes) < size * value_bytes:
        coo = sp.coo_matrix(W.astype(dtype))
        coo.sum_duplicates()  # ascending positions, as ONNX asks
        container.add_initializer(name, proto, list(W.shape), coo)
    else:
        dense = W.toarray().astype(dtype)
        container.add_initializer(name, proto, list(W.shape), dense.ravel().tolist())
    return name


def _node(scope, container, op_type: str, inputs: list[str], **attributes) -> str:
    """Add one node of ``op_type``; return its output's name."""
    output = scope.get_unique_variable_name(op_type.lower())
    container.add_node(
        op_type,
        inputs,
        output,
        name=scope.get_unique_operator_name(op_type),
        **attributes,
    )
    return output


def _convert_classifier(scope, operator, container) -> None:
    estimator = _fitted(operator)
    output, proto, dtype = _forward(scope, operator, container)
    labels, probabilities = (v.full_name for v in operator.outputs[:2])
    if _is_multilabel(estimator):
        container.add_node("Identity", output, probabilities)
        half = scope.get_unique_variable_name("half")
        container.add_initializer(half, proto, [], [0.5])
        above = _node(scope, container, "Greater", [output, half])
        container.add_node("Cast", above, labels, to=TensorProto.INT64)
        return
    if estimator.n_outputs_ == 1:  # binary: the positive class's output
        one = scope.get_unique_variable_name("one")
        container.add_initializer(one, proto, [], [1.0])
        negative = _node(scope, container, "Sub", [one, output])
        container.add_node("Concat", [negative, output], probabilities, axis=1)
    else:
        container.add_node("Identity", output, probabilities)
    best = _node(scope, container, "ArgMax", [probabilities], axis=1, keepdims=0)
    classes = scope.get_unique_variable_name("classes")
    values = estimator.classes_
    if values.dtype.kind in "OUS":
        container.add_initializer(
            classes,
            TensorProto.STRING,
            [values.size],
            [str(c).encode() for c in values],
        )
    else:  # integers, booleans, or whole floats (scikit-learn refuses others)
        container.add_initializer(
            classes, TensorProto.INT64, [values.size], values.astype(np.int64)
        )
    container.add_node("Gather", [classes, best], labels, axis=0)


def _convert_regressor(scope, operator, container) -> None:
    output, _, _ = _forward(scope, operator, container)
    container.add_node("Identity", output, operator.outputs[0].full_name)


register_onnx_converters()
