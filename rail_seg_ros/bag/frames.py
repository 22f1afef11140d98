"""Camera frames from a bag: images decoded to RGB, paired by header stamp with their ground truth."""

from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Deque, Dict, Iterator, List, NamedTuple, Optional

import numpy as np

from rail_seg_ros import image_codec
from rail_seg_ros.errors import RailSegError
from rail_seg_ros.fileio import PathLike

from .messages import COMPRESSED_TYPE, GT_TOPIC, IMAGE_TOPIC, IMAGE_TYPE, header_stamp_ns
from .reader import BagReader, open_bag

# How far (log time) an image waits for its ground truth before it is handed out without one.
_GT_WAIT_NS = 2_000_000_000
_MAX_PENDING = 256


class BagFrame(NamedTuple):
    """One camera image read from a bag, with the ground truth of the same header stamp where the bag has it."""

    stamp_ns: int
    image: np.ndarray  # HxWx3 uint8 RGB
    encoding_msg: Any  # the image message as recorded
    gt: Optional[np.ndarray]  # HxW uint8 train ids, or None

    @property
    def msg(self) -> Any:
        """The image message as recorded (same as ``encoding_msg``)."""
        return self.encoding_msg


def decode_image_msg(msgtype: str, msg: Any) -> np.ndarray:
    """HxWx3 RGB uint8 from a sensor_msgs Image or CompressedImage."""
    if msgtype == COMPRESSED_TYPE:
        return image_codec.compressed_msg_to_rgb8(msg)
    return image_codec.image_msg_to_rgb8(msg)


def decode_labels_msg(msg: Any) -> np.ndarray:
    """HxW uint8 label map from a mono8 / 8UC1 sensor_msgs Image."""
    array = image_codec.decode_image(msg.encoding, msg.height, msg.width, msg.step, msg.data, bool(msg.is_bigendian))
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim != 2 or array.dtype != np.uint8:
        raise RailSegError(f"ground truth image with encoding {msg.encoding!r} is not a single-channel 8-bit label map")
    return array


def check_image_topic(bag: BagReader, topic: str) -> str:
    """The message type of ``topic``; an error naming the bag's topics, or the type, unless it is an image."""
    bag.check_topics([topic])
    msgtype = bag.topics[topic]
    if msgtype not in (IMAGE_TYPE, COMPRESSED_TYPE):
        raise RailSegError(f"bag {bag.path}: topic {topic} has type {msgtype}, expected {IMAGE_TYPE} or {COMPRESSED_TYPE}")
    return msgtype


@dataclass
class BagInfo:
    """What the bench needs to know of a bag before it reads the frames."""

    path: Path
    frames: int
    msgtype: str  # IMAGE_TYPE or COMPRESSED_TYPE
    has_gt: bool
    gt_topic: Optional[str]


def inspect_bag(path: PathLike, image_topic: str = IMAGE_TOPIC, gt_topic: Optional[str] = GT_TOPIC,
                typestore: Optional[str] = None) -> BagInfo:
    """Check the bag opens and has the image topic (the error lists its topics); see whether it has gt."""
    path = Path(path)
    with open_bag(path, typestore=typestore) as bag:
        msgtype = check_image_topic(bag, image_topic)
        frames = bag.message_count(image_topic)
        has_gt = bool(gt_topic) and gt_topic in bag.topics and bag.message_count(gt_topic) > 0
    if frames == 0:
        raise RailSegError(f"bag {path}: topic {image_topic} has no messages")
    return BagInfo(path, frames, msgtype, has_gt, gt_topic if has_gt else None)


class _Pairing:
    """Pairs images with ground truth of the same stamp, in image order, buffering a bounded window."""

    def __init__(self) -> None:
        self.pending: Deque[List[Any]] = deque()  # [stamp, log_time, msgtype, msg, gt]
        self.by_stamp: Dict[int, List[Any]] = {}
        self.early_gt: Dict[int, np.ndarray] = OrderedDict()

    def add_image(self, stamp: int, log_time: int, msgtype: str, msg: Any) -> None:
        entry = [stamp, log_time, msgtype, msg, self.early_gt.pop(stamp, None)]
        self.pending.append(entry)
        self.by_stamp.setdefault(stamp, entry)

    def add_gt(self, stamp: int, labels: np.ndarray) -> None:
        entry = self.by_stamp.get(stamp)
        if entry is not None and entry[4] is None:
            entry[4] = labels
            return
        self.early_gt[stamp] = labels
        while len(self.early_gt) > _MAX_PENDING:
            self.early_gt.popitem(last=False)

    def ready(self, now_ns: Optional[int]) -> Iterator[BagFrame]:
        """Frames that have their gt, waited long enough, or (now_ns None) all that are left."""
        while self.pending:
            stamp, log_time, msgtype, msg, gt = self.pending[0]
            waited = now_ns is None or now_ns - log_time > _GT_WAIT_NS or len(self.pending) > _MAX_PENDING
            if gt is None and not waited:
                return
            self.pending.popleft()
            if self.by_stamp.get(stamp) is not None and self.by_stamp[stamp][3] is msg:
                del self.by_stamp[stamp]
            yield BagFrame(stamp, decode_image_msg(msgtype, msg), msg, gt)


def read_frames(
    path: PathLike,
    image_topic: str = IMAGE_TOPIC,
    gt_topic: Optional[str] = GT_TOPIC,
    typestore: Optional[str] = None,
) -> Iterator[BagFrame]:
    """Yield each image of ``image_topic`` (Image or CompressedImage) as RGB, with its ground truth.

    Ground truth is matched by header stamp whether it was logged before or after the image;
    images without one (or all, when ``gt_topic`` is None or not in the bag) get gt None.
    """
    with open_bag(path, typestore=typestore) as bag:
        check_image_topic(bag, image_topic)
        use_gt = gt_topic is not None and gt_topic in bag.topics and bag.message_count(gt_topic) > 0
        if use_gt and bag.topics[gt_topic] != IMAGE_TYPE:
            raise RailSegError(f"bag {bag.path}: ground-truth topic {gt_topic} has type {bag.topics[gt_topic]}, "
                               f"expected {IMAGE_TYPE} (mono8)")
        if not use_gt:
            for _, msgtype, _, msg in bag.read([image_topic]):
                yield BagFrame(header_stamp_ns(msg), decode_image_msg(msgtype, msg), msg, None)
            return
        pairing = _Pairing()
        for topic, msgtype, log_time, msg in bag.read([image_topic, gt_topic]):
            if topic == image_topic:
                pairing.add_image(header_stamp_ns(msg), log_time, msgtype, msg)
            else:
                pairing.add_gt(header_stamp_ns(msg), decode_labels_msg(msg))
            yield from pairing.ready(log_time)
        yield from pairing.ready(None)
