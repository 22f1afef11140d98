"""The error types users see: the CLI prints the message on one line and exits 2."""

from .contract import REASONS


class RailSegError(Exception):
    """A problem the user can act on (a missing file, a bad value, an unreadable input).

    The message names the thing and what is wrong; no traceback is shown for it.
    """


class FrameError(RailSegError, ValueError):
    """A frame (an image message or array) that cannot be used as it is.

    ``reason`` is one of :data:`rail_seg_ros.contract.REASONS` (``bad_step``, ``bad_size``, ...): the node
    counts rejected frames by it, never by the message text.
    """

    def __init__(self, message: str, reason: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"{reason!r} is not a reject reason of rail_seg_ros.contract")
        super().__init__(message)
        self.reason = reason
