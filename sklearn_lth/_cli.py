"""Command line: find a lottery ticket on a dataset and print the round table.

``sklearn-lth`` (or ``python -m sklearn_lth``) splits a dataset into train
and test parts, scales the features (fitted on the train part), runs iterative
magnitude pruning and prints one row per round as it finishes, then the dense
network's test score beside the ticket's. ``--output`` saves the fitted
``Pipeline(StandardScaler, estimator)``, which takes raw features.
"""

from __future__ import annotations

import argparse
import csv
import pickle
import sys
import time

import numpy as np
from sklearn import datasets
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.multiclass import type_of_target

from ._mlp import LotteryTicketMLP, LotteryTicketMLPRegressor
from ._pruning import per_round_rate
from ._rewinding import REWIND_STRATEGIES

BUNDLED = {
    "digits": datasets.load_digits,
    "breast_cancer": datasets.load_breast_cancer,
    "wine": datasets.load_wine,
    "iris": datasets.load_iris,
}


def load_dataset(name: str, label_column: str | None) -> tuple[np.ndarray, np.ndarray]:
    """A bundled scikit-learn dataset by name, or a CSV file with a header row."""
    if name in BUNDLED:
        return BUNDLED[name](return_X_y=True)
    try:
        with open(name, newline="") as handle:
            rows = list(csv.reader(handle))
    except OSError as exc:
        raise SystemExit(
            f"sklearn-lth: {name!r} is neither a bundled dataset "
            f"({', '.join(BUNDLED)}) nor a readable CSV file: {exc}"
        ) from exc
    if len(rows) < 3:
        raise SystemExit(f"sklearn-lth: {name} needs a header row and data rows.")
    header, body = rows[0], rows[1:]
    label = header[-1] if label_column is None else label_column
    if label not in header:
        raise SystemExit(
            f"sklearn-lth: no column {label!r} in {name}; columns: {', '.join(header)}"
        )
    j = header.index(label)
    y = np.array([row[j] for row in body])
    try:
        X = np.array([[float(v) for i, v in enumerate(row) if i != j] for row in body])
    except ValueError as exc:
        raise SystemExit(
            f"sklearn-lth: the feature columns of {name} must be numeric: {exc}"
        ) from exc
    try:
        y_numeric = y.astype(float)
        if type_of_target(y_numeric) == "continuous":
            y = y_numeric
    except ValueError:
        pass
    return X, y


def save_plot(path: str, estimator, test_scores: list, metric: str, title: str):
    """Test score per round against the weights remaining, to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ._display import LotteryTicketDisplay

    remaining = 100 * (1 - np.asarray(estimator.history_["sparsity"]))
    display = LotteryTicketDisplay(
        remaining=remaining,
        scores=test_scores,
        dense_score=test_scores[0],
        name=f"rewind={estimator.rewind!r}",
        score_name=f"test {metric}",
    ).plot()
    display.ax_.set_title(f"Lottery ticket search on {title}")
    display.figure_.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(display.figure_)
    print(f"saved the figure to {path}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sklearn-lth",
        description="Find a lottery ticket (a sparse sub-network that trains as "
        "well as the dense one) by iterative magnitude pruning.",
    )
    parser.add_argument(
        "dataset",
        nargs="?",
        default="digits",
        help=f"bundled dataset ({', '.join(BUNDLED)}) or a CSV file path "
        "(default: digits)",
    )
    parser.add_argument("--label-column", help="CSV label column (default: last)")
    parser.add_argument(
        "--hidden-layer-sizes",
        default="100",
        help="comma-separated hidden units (default: 100)",
    )
    parser.add_argument("--target-sparsity", type=float, default=0.8)
    parser.add_argument("--pruning-rounds", type=int, default=5)
    parser.add_argument(
        "--pruning-scope", choices=["global", "layer"], default="global"
    )
    parser.add_argument("--output-layer-rate", type=float, default=None)
    parser.add_argument("--rewind", choices=REWIND_STRATEGIES, default="init")
    parser.add_argument("--solver", choices=["adam", "sgd"], default="adam")
    parser.add_argument(
        "--learning-rate", choices=["constant", "cosine", "step"], default="constant"
    )
    parser.add_argument("--learning-rate-init", type=float, default=1e-3)
    parser.add_argument("--alpha", type=float, default=1e-4)
    parser.add_argument("--batch-size", default="auto")
    parser.add_argument("--max-iter", type=int, default=200, help="epochs per round")
    parser.add_argument("--early-stopping", action="store_true")
    parser.add_argument("--test-size", type=float, default=0.25)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--output", help="save the fitted pipeline (pickle) here")
    parser.add_argument(
        "--plot", help="save a figure of test score against weights remaining (PNG)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    X, y = load_dataset(args.dataset, args.label_column)
    is_regression = type_of_target(y) == "continuous"
    X_train, X_test, y_train, y_test = train_test_split(
        X,
        y,
        test_size=args.test_size,
        random_state=args.random_state,
        stratify=None if is_regression else y,
    )
    scaler = StandardScaler().fit(X_train)
    Xs_train, Xs_test = scaler.transform(X_train), scaler.transform(X_test)
    Estimator = LotteryTicketMLPRegressor if is_regression else LotteryTicketMLP
    hidden = tuple(int(h) for h in args.hidden_layer_sizes.split(",") if h.strip())
    batch_size = args.batch_size if args.batch_size == "auto" else int(args.batch_size)
    estimator = Estimator(
        hidden_layer_sizes=hidden,
        target_sparsity=args.target_sparsity,
        pruning_rounds=args.pruning_rounds,
        pruning_scope=args.pruning_scope,
        output_layer_rate=args.output_layer_rate,
        rewind=args.rewind,
        solver=args.solver,
        learning_rate=args.learning_rate,
        learning_rate_init=args.learning_rate_init,
        alpha=args.alpha,
        batch_size=batch_size,
        max_iter=args.max_iter,
        early_stopping=args.early_stopping,
        random_state=args.random_state,
    )
    metric = "R2" if is_regression else "accuracy"
    kind = "targets" if is_regression else f"{len(np.unique(y))} classes"
    print(
        f"sklearn-lth: {args.dataset}: {X.shape[0]} samples, {X.shape[1]} features, "
        f"{kind}; train {len(y_train)} / test {len(y_test)}"
    )
    rate = per_round_rate(args.target_sparsity, args.pruning_rounds)
    n_classes = len(np.unique(y))
    n_outputs = 1 if is_regression or n_classes == 2 else n_classes
    layers = "-".join(map(str, (X.shape[1], *hidden, n_outputs)))
    print(
        f"network {layers}, target sparsity "
        f"{args.target_sparsity:.0%} in {args.pruning_rounds} rounds "
        f"({rate:.1%} of the remaining weights per round), rewind={args.rewind}, "
        f"scope={args.pruning_scope}; scores are {metric}"
    )
    print()
    print("| round | remaining weights | sparsity | epochs | train | test | seconds |")
    print("|------:|------------------:|---------:|-------:|------:|-----:|--------:|")
    test_scores = []

    def report(record, round_model):
        test_score = round_model.score(Xs_test, y_test)
        test_scores.append(test_score)
        print(
            f"| {record['round']:5d} | {record['remaining_parameters']:17d} | "
            f"{record['sparsity']:8.1%} | {record['n_iter']:6d} | "
            f"{record['train_score']:.4f} | {test_score:.4f} | "
            f"{record['seconds']:7.2f} |",
            flush=True,
        )

    tic = time.perf_counter()
    estimator._validate_params()
    estimator._fit(Xs_train, y_train, on_round_end=report)
    elapsed = time.perf_counter() - tic
    dense, ticket = test_scores[0], test_scores[-1]
    print()
    print(f"dense network (round 0) test {metric}: {dense:.4f}")
    print(
        f"winning ticket (round {len(test_scores) - 1}, "
        f"{estimator.ticket_.sparsity:.1%} sparse, "
        f"{estimator.ticket_.compression_ratio:.1f}x fewer weights) "
        f"test {metric}: {ticket:.4f}"
    )
    print(f"difference: {100 * (ticket - dense):+.2f} points; total {elapsed:.1f} s")
    if args.plot:
        save_plot(args.plot, estimator, test_scores, metric, args.dataset)
    if args.output:
        model = Pipeline([("scale", scaler), ("mlp", estimator)])
        with open(args.output, "wb") as handle:
            pickle.dump(model, handle)
        print(f"saved Pipeline(StandardScaler, {Estimator.__name__}) to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
