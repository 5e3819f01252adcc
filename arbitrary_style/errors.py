"""The one exception type that command-line tools report as a one-line error."""


class UserError(Exception):
    """A problem with the user's input (a file, a flag, a weights directory).

    Command-line entry points catch it, print `error: <message>` on one line and
    exit non-zero; library callers get an ordinary exception with a clear message.
    """
