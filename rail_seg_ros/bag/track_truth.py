"""Track-ahead ground truth in a bag: one std_msgs/String of JSON per frame on ``/track_truth``.

The record of a frame is shaped like ``TrackResult.to_dict`` (``ego_track`` with ``left_rail``,
``right_rail``, ``centerline`` and ``polygon`` in pixels of the frame, or null) plus the scene's
``camera`` (``height_m``, ``pitch_deg``, ``roll_deg``, ``intrinsics``), the ``envelope`` polygon and its
objects (``objects`` or ``obstacles``: ``class``, ``bbox``, ``pixels``, ``distance_m``, ``in_envelope``).
String has no header: the message's log time is the frame's header stamp (``stamp_ns`` in the record,
where present, wins).
"""

import json
from typing import Any, Dict, Iterable, Optional, Tuple

from rail_seg_ros.errors import RailSegError
from rail_seg_ros.fileio import PathLike

from .reader import open_bag

TRACK_TRUTH_TOPIC = "/track_truth"
STRING_TYPE = "std_msgs/msg/String"


def parse_track_truth(text: str, where: str) -> Dict[str, Any]:
    """One record from its JSON text; RailSegError naming ``where`` when it is not a JSON object."""
    try:
        record = json.loads(text)
    except ValueError as exc:
        raise RailSegError(f"{where}: not JSON ({exc})") from None
    if not isinstance(record, dict):
        raise RailSegError(f"{where}: expected a JSON object, got {type(record).__name__}")
    return record


def read_track_truth(path: PathLike, topic: str = TRACK_TRUTH_TOPIC,
                     typestore: Optional[str] = None) -> Dict[int, Dict[str, Any]]:
    """Header stamp (ns) -> track truth record of every frame the bag has one for; {} without the topic."""
    with open_bag(path, typestore=typestore) as bag:
        if topic not in bag.topics:
            return {}
        if bag.topics[topic] != STRING_TYPE:
            raise RailSegError(f"bag {bag.path}: track truth topic {topic} has type {bag.topics[topic]}, "
                               f"expected {STRING_TYPE} (JSON)")
        truths: Dict[int, Dict[str, Any]] = {}
        for _, _, log_time, msg in bag.read([topic]):
            record = parse_track_truth(str(msg.data), f"bag {bag.path}: {topic} at {log_time} ns")
            stamp = record.get("stamp_ns")
            truths[int(stamp) if isinstance(stamp, int) else int(log_time)] = record
    return truths


def track_truth_messages(records: Iterable[Tuple[int, Dict[str, Any]]]) -> Iterable[Tuple[int, Dict[str, str]]]:
    """(stamp, String fields) to write for (stamp, record) pairs: what a bag writer adds on ``/track_truth``."""
    for stamp, record in records:
        yield int(stamp), {"data": json.dumps(record, separators=(",", ":"))}
