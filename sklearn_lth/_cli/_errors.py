"""How the command line fails: a user mistake, one-line messages, exit statuses.

A :class:`UsageError` is a user mistake (a bad option, a file that cannot be
read or written, a network too large for the memory): :func:`sklearn_lth._cli.main`
prints its message as one line on standard error and returns
:data:`EXIT_USAGE`.
"""

EXIT_OK, EXIT_BROKEN_PIPE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """A user mistake: the command line prints its one-line message, exits 2."""


def one_line(message: object) -> str:
    """``message`` as one line: each run of whitespace made one space."""
    return " ".join(str(message).split())
