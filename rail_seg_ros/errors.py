"""The one error type users see: the CLI prints its message on one line and exits 2."""


class RailSegError(Exception):
    """A problem the user can act on (a missing file, a bad value, an unreadable input).

    The message names the thing and what is wrong; no traceback is shown for it.
    """
