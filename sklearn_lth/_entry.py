"""The console script's entry point, ``sklearn-lth``: :func:`main`.

Importing the command line (:mod:`._cli`) loads numpy and scikit-learn,
which takes most of a second. Ctrl-C meanwhile ends the command as it does
later, with one line and exit status 130, instead of a traceback through the
import machinery. This module therefore imports nothing heavy itself; for
the whole start-up to be covered, importing the package (``sklearn_lth``)
must not load the estimators eagerly either.
"""

import sys

#: The exit status after Ctrl-C (128 + SIGINT), as :mod:`._cli` returns it.
EXIT_INTERRUPTED = 130


def main(argv: list[str] | None = None) -> int:
    """Import the command line and run it on ``argv``; Ctrl-C exits 130.

    Parameters
    ----------
    argv : list of str, optional
        The arguments, without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status (see :func:`sklearn_lth._cli.main`).
    """
    try:
        from ._cli import main as run_command_line
    except KeyboardInterrupt:
        print("sklearn-lth: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return run_command_line(argv)


if __name__ == "__main__":
    sys.exit(main())
