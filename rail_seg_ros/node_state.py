"""What the node's two threads share: the keep-last-1 frame slot and the counters (no ROS needed).

The executor thread puts each received frame into the slot and counts it; the worker takes the newest
one, segments it and counts what it published, dropped or rejected.
"""

import threading
from typing import Any, Dict, Mapping, NamedTuple, Optional, Tuple

from .metrics import RateMeter, RollingStats, StageTimer

RATE_WINDOW_S = 2.0


class ReceivedFrame(NamedTuple):
    """An image message as the callback received it, waiting for the worker."""

    msg: Any  # sensor_msgs/Image or CompressedImage
    compressed: bool
    received: float  # time.monotonic() at arrival


class FrameSlot:
    """Keep-last-1 hand-over from the executor to the worker: the newest frame wins."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Optional[ReceivedFrame] = None
        self._closed = False

    def put(self, frame: ReceivedFrame) -> bool:
        """Store ``frame``; True when it replaced one the worker had not taken yet (a dropped frame)."""
        with self._cond:
            replaced = self._frame is not None
            self._frame = frame
            self._cond.notify()
            return replaced

    def take(self) -> Optional[ReceivedFrame]:
        """The newest frame, waiting for one; None once the slot is closed."""
        with self._cond:
            while self._frame is None and not self._closed:
                self._cond.wait()
            frame, self._frame = self._frame, None
            return None if self._closed else frame

    def clear(self) -> None:
        with self._cond:
            self._frame = None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class Stats:
    """Counters, rates and timings since the last activation; written by two threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received = 0
        self.published = 0
        self.dropped = 0
        self.lost_reported = 0  # by the RMW's message-lost event
        self.lost_in_sequence = 0  # gaps in the publishers' sequence numbers (SequenceGaps)
        self.sequence_counted = False  # a frame came with its publisher's gid and sequence number
        self.rejected: Dict[str, int] = {}
        self.input_rate = RateMeter(RATE_WINDOW_S)
        self.output_rate = RateMeter(RATE_WINDOW_S)
        self.latency_ms = RollingStats(300)
        self.stages = StageTimer()  # reset every diagnostics period
        self.last_stages: Dict[str, float] = {}
        self.last_input: Optional[float] = None
        self.input_size: Optional[Tuple[int, int]] = None  # height, width of the last frame
        self.output_size: Optional[Tuple[int, int]] = None
        self.backend_error: Optional[str] = None

    @property
    def lost(self) -> int:
        """Frames lost before the callback: the sequence gaps where counted (they include what the RMW reports
        lost in transport), else the RMW's message-lost count."""
        return self.lost_in_sequence if self.sequence_counted else self.lost_reported


class SequenceGaps:
    """Frames missing between two frames of one publisher, from rclpy's MessageInfo (Kilted: publisher_gid and
    publication_sequence_number). Used by one executor callback at a time."""

    def __init__(self) -> None:
        self._last: Dict[bytes, int] = {}  # publisher gid -> its last sequence number seen

    def gap(self, info: Optional[Mapping[str, Any]]) -> Optional[int]:
        """Frames of this frame's publisher skipped since its previous frame; None where ``info`` lacks them.

        A publisher's first frame counts no gap (frames before it may predate the subscription), nor does a
        sequence number that went back (a restarted writer reusing its gid)."""
        gid = info.get("publisher_gid") if info else None
        sequence = info.get("publication_sequence_number") if info else None
        if not gid or sequence is None:
            return None
        key = bytes(gid.get("data", b"")) if isinstance(gid, Mapping) else bytes(gid)
        last = self._last.get(key)
        self._last[key] = sequence
        return 0 if last is None or sequence <= last else sequence - last - 1
