"""Writing bags: frames as a rosbag2 bag (``write_frames_bag``) and live messages (``OutputRecorder``).

Bags use rosbag2 format version 9 (what Kilted writes), store their message definitions, record the
sensor-data QoS for camera topics and set each message's log time to its header stamp. A bag appears
at its path only once it is complete; nothing but an earlier bag (or an empty folder) is replaced.
"""

import contextlib
import os
import queue
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Dict, Iterable, Iterator, Optional, Sequence, Tuple, Type, TypeVar, Union

import numpy as np
from rosbags.interfaces import Qos
from rosbags.rosbag2 import StoragePlugin, Writer
from tqdm import tqdm

from rail_seg_ros import image_codec
from rail_seg_ros.errors import RailSegError
from rail_seg_ros.fileio import PathLike, atomic_path

from .messages import (
    COMPRESSED_TYPE,
    GT_TOPIC,
    IMAGE_TOPIC,
    IMAGE_TYPE,
    INFO_TYPE,
    RELIABLE_QOS,
    SENSOR_DATA_QOS,
    STRING_TYPE,
    TRACK_TRUTH_TOPIC,
    info_topic_for,
    make_camera_info_msg,
    make_compressed_msg,
    make_image_msg,
    make_track_truth_msg,
    to_rosbags,
    write_typestore,
)

BAG_VERSION = 9
STORAGES = ("sqlite3", "mcap")

_STORAGE_PLUGINS = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}
_RecorderT = TypeVar("_RecorderT", bound="OutputRecorder")


def _check_storage(storage: str) -> StoragePlugin:
    if storage not in _STORAGE_PLUGINS:
        raise RailSegError(f"bag storage {storage!r} is unknown; choose one of {', '.join(STORAGES)}")
    return _STORAGE_PLUGINS[storage]


def _check_target(path: Path) -> None:
    """Refuse to replace anything but an existing bag (or an empty folder)."""
    if not path.exists():
        return
    if not path.is_dir():
        raise RailSegError(f"bag {path}: exists and is not a directory; not replacing it")
    if any(path.iterdir()) and not (path / "metadata.yaml").exists():
        raise RailSegError(f"bag {path}: exists and is not a rosbag2 directory; not replacing it")


def _flatten_into(inner: Path, outer: Path) -> None:
    """Move the bag written at ``outer/NAME`` up into ``outer`` (so its files keep the final name)."""
    for item in inner.iterdir():
        os.replace(item, outer / item.name)
    inner.rmdir()


@contextlib.contextmanager
def _bag_writer(path: Path, storage: str) -> Iterator[Writer]:
    """A rosbags Writer whose bag appears at ``path`` only once it is complete."""
    plugin = _check_storage(storage)
    _check_target(path)
    with atomic_path(path) as tmp:
        tmp.mkdir()
        inner = tmp / path.name  # rosbags names the storage file after its directory
        writer = Writer(inner, version=BAG_VERSION, storage_plugin=plugin)
        with writer:
            yield writer
        _flatten_into(inner, tmp)


WritableFrame = Union[Tuple[np.ndarray, Optional[np.ndarray]], Tuple[np.ndarray, Optional[np.ndarray], Optional[Dict]]]


def _check_frame(index: int, image: np.ndarray, labels: Optional[np.ndarray]) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = getattr(image, "shape", type(image).__name__)
        raise RailSegError(f"frame {index}: image must be an HxWx3 uint8 RGB array, got {got}")
    if labels is None:
        return
    if not isinstance(labels, np.ndarray) or labels.dtype != np.uint8 or labels.shape != image.shape[:2]:
        got = getattr(labels, "shape", type(labels).__name__)
        raise RailSegError(f"frame {index}: labels must be a {image.shape[:2]} uint8 array, got {got}")


class _FrameWriter:
    """Turns frames into messages on a rosbags Writer (image, optional camera_info, optional gt)."""

    def __init__(self, writer: Writer, compressed: bool, camera_info: bool, encoding: str,
                 image_topic: str, gt_topic: str, frame_id: str) -> None:
        self.writer = writer
        self.typestore = write_typestore()
        self.compressed = compressed
        self.encoding = encoding
        self.frame_id = frame_id
        self.gt_topic = gt_topic
        self.image_conn = writer.add_connection(
            image_topic, COMPRESSED_TYPE if compressed else IMAGE_TYPE, typestore=self.typestore,
            offered_qos_profiles=[SENSOR_DATA_QOS],
        )
        self.info_conn = None
        if camera_info:
            self.info_conn = writer.add_connection(
                info_topic_for(image_topic), INFO_TYPE, typestore=self.typestore,
                offered_qos_profiles=[SENSOR_DATA_QOS],
            )
        self.gt_conn = None  # added with the first label map, so a bag without labels has no gt topic
        self.truth_conn = None  # likewise with the first track truth

    def _put(self, connection: Any, stamp: int, msg: Any) -> None:
        self.writer.write(connection, stamp, self.typestore.serialize_cdr(msg, connection.msgtype))

    def write(self, stamp: int, image: np.ndarray, labels: Optional[np.ndarray]) -> None:
        """Write one frame, every message with header stamp and log time ``stamp``."""
        ts = self.typestore
        converted = image_codec.rgb8_to(image, self.encoding)
        if self.compressed:
            msg = make_compressed_msg(ts, converted, self.encoding, stamp, self.frame_id)
        else:
            msg = make_image_msg(ts, converted, self.encoding, stamp, self.frame_id)
        self._put(self.image_conn, stamp, msg)
        if self.info_conn is not None:
            height, width = image.shape[:2]
            self._put(self.info_conn, stamp, make_camera_info_msg(ts, width, height, stamp, self.frame_id))
        if labels is not None:
            if self.gt_conn is None:
                self.gt_conn = self.writer.add_connection(
                    self.gt_topic, IMAGE_TYPE, typestore=ts, offered_qos_profiles=[RELIABLE_QOS]
                )
            self._put(self.gt_conn, stamp, make_image_msg(ts, labels, "mono8", stamp, self.frame_id))

    def write_truth(self, stamp: int, truth: Dict[str, Any]) -> None:
        """The track-ahead ground truth of the frame stamped ``stamp``."""
        if self.truth_conn is None:
            self.truth_conn = self.writer.add_connection(TRACK_TRUTH_TOPIC, STRING_TYPE, typestore=self.typestore,
                                                         offered_qos_profiles=[RELIABLE_QOS])
        self._put(self.truth_conn, stamp, make_track_truth_msg(self.typestore, truth, stamp))


def write_frames_bag(
    path: PathLike,
    frames: Iterable[WritableFrame],
    fps: float = 10.0,
    storage: str = "sqlite3",
    compressed: bool = False,
    camera_info: bool = False,
    encoding: str = "rgb8",
    image_topic: str = IMAGE_TOPIC,
    gt_topic: str = GT_TOPIC,
    frame_id: str = "camera",
    progress: bool = True,
    total: Optional[int] = None,
    start_time_ns: Optional[int] = None,
) -> Path:
    """Write (RGB image, label map or None[, track truth or None]) frames as a rosbag2 bag at ``path``.

    Images go on ``image_topic`` as sensor_msgs/Image in ``encoding`` (or CompressedImage jpeg),
    labels on ``gt_topic`` as mono8 Image with the same header stamp, camera_info (optional) beside
    the image topic, track truths (dicts, ``rail_seg_ros.synth.track_truth``) on ``TRACK_TRUTH_TOPIC``
    as std_msgs/String JSON with the frame's stamp in it. Returns the path. Frames are 1/fps apart; log time equals header stamp. An existing bag at
    ``path`` is replaced, but only once the new one is complete.
    """
    path = Path(path)
    if not fps > 0:
        raise RailSegError(f"fps must be positive, got {fps}")
    start = time.time_ns() if start_time_ns is None else int(start_time_ns)
    written = 0
    with _bag_writer(path, storage) as writer:
        out = _FrameWriter(writer, compressed, camera_info, encoding, image_topic, gt_topic, frame_id)
        with tqdm(frames, total=total, disable=not progress, unit="frame", desc=f"writing {path.name}") as bar:
            for index, frame in enumerate(bar):
                image, labels = frame[0], frame[1]
                _check_frame(index, image, labels)
                stamp = start + round(index * 1e9 / fps)
                out.write(stamp, image, labels)
                if len(frame) > 2 and frame[2] is not None:
                    out.write_truth(stamp, frame[2])
                written += 1
        if written == 0:
            raise RailSegError(f"bag {path}: no frames to write")
    return path


class OutputRecorder:
    """Records messages into a new bag (the live benchmark's ``--record``); the bag appears on close.

    ``add`` takes rosbags dataclasses, rclpy messages (copied field by field), dicts of fields or
    already CDR-serialized bytes. Topics get the QoS given to ``add_topic`` (reliable by default).
    Use as a context manager; an exception inside the block leaves no bag behind. Use it from the
    thread that created it (sqlite3 storage requires that); :class:`RecorderThread` wraps it for
    executor callbacks.
    """

    def __init__(self, path: PathLike, storage: str = "sqlite3") -> None:
        self.path = Path(path)
        self.typestore = write_typestore()
        self._stack = contextlib.ExitStack()
        self._writer = self._stack.enter_context(_bag_writer(self.path, storage))
        self._connections: Dict[Tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self.count = 0

    def add_topic(self, topic: str, msgtype: str, qos: Optional[Qos] = None) -> None:
        """Register a topic before its first message (to choose its recorded QoS)."""
        with self._lock:
            self._add_topic(topic, msgtype, qos)

    def _add_topic(self, topic: str, msgtype: str, qos: Optional[Qos]) -> None:
        key = (topic, msgtype)
        if key in self._connections:
            return
        if msgtype not in self.typestore.fielddefs:
            raise RailSegError(f"recording {topic}: message type {msgtype} is unknown to the typestore")
        self._connections[key] = self._writer.add_connection(
            topic, msgtype, typestore=self.typestore, offered_qos_profiles=[qos or RELIABLE_QOS]
        )

    def add(self, topic: str, msgtype: str, msg_or_fields: Any, timestamp_ns: int) -> None:
        """Write one message with log time ``timestamp_ns``."""
        if isinstance(msg_or_fields, (bytes, bytearray, memoryview)):
            data = msg_or_fields
        else:
            msg = msg_or_fields
            if getattr(msg, "__msgtype__", None) != msgtype:
                msg = to_rosbags(msg, msgtype, self.typestore)
            data = self.typestore.serialize_cdr(msg, msgtype)
        with self._lock:
            self._add_topic(topic, msgtype, None)
            self._writer.write(self._connections[(topic, msgtype)], int(timestamp_ns), data)
            self.count += 1

    def close(self) -> Path:
        """Finish the bag and move it into place (a second call does nothing)."""
        with self._lock:
            self._stack.close()
        return self.path

    def abort(self) -> None:
        """Drop everything written so far."""
        with self._lock:
            self._stack.__exit__(RailSegError, RailSegError("recording aborted"), None)

    def __enter__(self: _RecorderT) -> _RecorderT:  # noqa: PYI019 (typing.Self is 3.11+)
        return self

    def __exit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            with self._lock:
                self._stack.__exit__(exc_type, exc, tb)


class RecorderThread:
    """An :class:`OutputRecorder` owned by one thread of its own: created, written and closed there.

    (The sqlite3 storage may only be used from the thread that opened it, and writing a 6 MB image
    must not hold up an executor callback.) ``add`` only queues the message.
    """

    def __init__(self, path: Any, storage: str = "sqlite3", topics: Sequence[str] = ()) -> None:
        self.path = Path(path)
        self.count = 0
        self.error: Optional[BaseException] = None
        self._queue: "queue.Queue[Optional[Tuple[str, Any, int]]]" = queue.Queue()  # noqa: UP037 (3.8)
        self._opened = threading.Event()
        self._keep = False
        self._thread = threading.Thread(target=self._run, args=(storage, tuple(topics)),
                                        name="rail_seg_recorder", daemon=True)
        self._thread.start()
        self._opened.wait()
        if self.error is not None:
            self._thread.join()
            raise self.error

    def _run(self, storage: str, topics: Tuple[str, ...]) -> None:
        try:
            recorder = OutputRecorder(self.path, storage=storage)
            for topic in topics:
                recorder.add_topic(topic, IMAGE_TYPE)
        except BaseException as exc:
            self.error = exc
            self._opened.set()
            return
        self._opened.set()
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    break
                if self.error is None:
                    try:
                        recorder.add(item[0], IMAGE_TYPE, item[1], item[2])
                        self.count += 1
                    except Exception as exc:  # reported by check() / finish()
                        self.error = exc
        finally:
            if self._keep and self.error is None and self.count > 0:
                recorder.close()
            else:
                recorder.abort()

    def add(self, topic: str, msg: Any, timestamp_ns: int) -> None:
        """Queue one Image message for ``topic``, logged at ``timestamp_ns``."""
        self._queue.put((topic, msg, timestamp_ns))

    def check(self) -> None:
        if self.error is not None:
            raise RailSegError(f"recording into {self.path} failed: {self.error}")

    def finish(self, keep: bool = True) -> int:
        """Write what is queued and close the bag (kept when ``keep`` and anything was written); return the count."""
        if self._thread.is_alive():
            self._keep = keep
            self._queue.put(None)
            self._thread.join()
        return self.count
