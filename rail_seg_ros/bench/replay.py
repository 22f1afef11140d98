"""The frames a live run sends: the bag preloaded as rclpy messages, and when each is published."""

import array
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from tqdm import tqdm

from ..bag import COMPRESSED_TYPE, read_frames
from .result import sample_indices


@dataclass
class Preloaded:
    """The bag's frames as rclpy messages, with their ground truth and timing, loaded before any timing."""

    messages: List[Any]  # rclpy messages, as recorded
    gts: List[Optional[np.ndarray]]
    offsets_s: List[float]  # from the header stamps, first frame at 0
    sample_rgb: Dict[int, np.ndarray]
    stamps_ns: List[int]  # the header stamps as recorded (the bag's other topics are keyed by them)


def _to_rclpy(msgtype: str, src: Any) -> Any:
    """An rclpy Image / CompressedImage with the fields of a rosbags message (data copied once)."""
    from sensor_msgs.msg import CompressedImage, Image

    data = array.array("B")
    data.frombytes(np.ascontiguousarray(np.asarray(src.data, dtype=np.uint8)).tobytes())
    msg = CompressedImage() if msgtype == COMPRESSED_TYPE else Image()
    msg.header.frame_id = str(src.header.frame_id)
    if msgtype == COMPRESSED_TYPE:
        msg.format = str(src.format)
    else:
        msg.height, msg.width, msg.step = int(src.height), int(src.width), int(src.step)
        msg.encoding = str(src.encoding)
        msg.is_bigendian = int(src.is_bigendian)
    msg.data = data
    return msg


def schedule(offsets_s: Sequence[float], count: int, rate: Optional[float], max_rate: bool,
             hz: Optional[float] = None) -> List[float]:
    """Publish times (s from the start) of ``count`` frames: back to back, evenly at ``hz``, or as recorded / rate.

    With the recorded timing, frames beyond the bag's (when it is cycled) continue with its mean interval.
    """
    if max_rate:
        return [0.0] * count
    if hz is not None:
        return [i / hz for i in range(count)]
    n = len(offsets_s)
    span = offsets_s[-1] if n else 0.0
    step = span / (n - 1) if n > 1 and span > 0 else 0.1
    times = [offsets_s[i] if i < n else span + (i - n + 1) * step for i in range(count)]
    return [t / float(rate or 1.0) for t in times]


def preload(info: Any, image_topic: str, typestore: Optional[str], samples: int, progress: bool) -> Preloaded:
    """Every frame of the bag ``info`` (a BagInfo) as an rclpy message, with its ground truth and offset."""
    messages: List[Any] = []
    gts: List[Optional[np.ndarray]] = []
    stamps: List[int] = []
    sample_rgb: Dict[int, np.ndarray] = {}
    wanted = set(sample_indices(info.frames, samples))
    frames = read_frames(info.path, image_topic, info.gt_topic, typestore=typestore)
    for index, frame in enumerate(tqdm(frames, total=info.frames, unit="frame", desc="loading frames",
                                       disable=not progress)):
        messages.append(_to_rclpy(info.msgtype, frame.encoding_msg))
        gts.append(frame.gt)
        stamps.append(frame.stamp_ns)
        if index in wanted:
            sample_rgb[index] = frame.image
    offsets = [0.0]
    for prev, cur in zip(stamps, stamps[1:]):
        offsets.append(offsets[-1] + max(cur - prev, 0) / 1e9)
    return Preloaded(messages, gts, offsets, sample_rgb, stamps)
