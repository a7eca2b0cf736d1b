"""The console script's entry point, ``sklearn-lth``: :func:`main`.

Importing the command line (:mod:`._cli`) loads numpy and scikit-learn,
which takes most of a second. Ctrl-C meanwhile ends the command as it does
later, with one line and exit status 130. It must not raise inside the
import machinery: a KeyboardInterrupt there can be swallowed (a library's
bare ``except:``, a weakref callback's "Exception ignored", after which the
command ran to completion) or break a module's initialisation (scipy's
``ImportError: initialization failed``). So while the command line is
imported, a SIGINT handler only records the signal; the previous handler is
put back after the import, and then the command stops if a SIGINT came.
Signal handlers can be set in the main thread only: elsewhere the import
runs as it is, a KeyboardInterrupt raised in it still giving the one line.
This module imports nothing heavy itself; for the whole start-up to be
covered, importing the package (``sklearn_lth``) must not load the
estimators eagerly either.
"""

import signal
import sys
import threading

#: The exit status after Ctrl-C (128 + SIGINT), as :mod:`._cli` returns it.
EXIT_INTERRUPTED = 130


def _interrupted() -> int:
    print("sklearn-lth: interrupted", file=sys.stderr)
    return EXIT_INTERRUPTED


def _import_command_line():
    """:func:`sklearn_lth._cli.main`, imported with Ctrl-C recorded, not raised.

    Returns None when a SIGINT came during the import. The recording
    handler is installed only in the main thread, and only over a Python
    handler (Python's own KeyboardInterrupt, normally): SIGINT ignored, or
    handled from C, is left as it is.
    """
    received = []

    def record(signum, frame):
        received.append(signum)

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.getsignal(signal.SIGINT)
        if callable(previous):
            signal.signal(signal.SIGINT, record)
        else:
            previous = None
    try:
        from ._cli import main as run_command_line
    finally:
        # Unless the import replaced the handler itself (then it stays).
        if previous is not None and signal.getsignal(signal.SIGINT) is record:
            signal.signal(signal.SIGINT, previous)
    return None if received else run_command_line


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
        run_command_line = _import_command_line()
        if run_command_line is None:  # Ctrl-C during the import
            return _interrupted()
        return run_command_line(argv)
    except KeyboardInterrupt:  # raised where no handler records it
        return _interrupted()


if __name__ == "__main__":
    sys.exit(main())
