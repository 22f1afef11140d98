"""Reading and writing rosbag2 recordings (sqlite3 and mcap) through rosbags, without a ROS install.

Bags written here use rosbag2 format version 9 (what Kilted writes), store their message
definitions, record the sensor-data QoS for camera topics and set each message's log time to its
header stamp. Reading takes a rosbag2 directory, a bare ``.db3`` / ``.mcap`` file, or a directory
holding one storage file but no ``metadata.yaml``; bags without stored message definitions (Humble
and older) are decoded with an explicit typestore (``ros2_humble`` unless the caller names another).
"""

import contextlib
import functools
import math
import os
import struct
import threading
import time
from collections import OrderedDict, deque
from pathlib import Path
from types import TracebackType
from typing import (
    Any,
    Deque,
    Dict,
    Iterable,
    Iterator,
    List,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    Type,
    TypeVar,
    Union,
)

import apsw
import numpy as np
from rosbags.interfaces import (
    MessageDefinitionFormat,
    Nodetype,
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2 import Reader, ReaderError, StoragePlugin, Writer
from rosbags.serde import SerdeError
from rosbags.typesys import Stores, TypesysError, get_types_from_idl, get_types_from_msg, get_typestore
from tqdm import tqdm

from rail_seg_ros import image_codec
from rail_seg_ros.errors import RailSegError
from rail_seg_ros.fileio import atomic_path

PathLike = Union[str, "os.PathLike[str]"]

IMAGE_TOPIC = "/camera/image_raw"
GT_TOPIC = "/camera/labels_gt"
INFO_TOPIC = "/camera/camera_info"

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
INFO_TYPE = "sensor_msgs/msg/CameraInfo"

BAG_VERSION = 9
STORAGES = ("sqlite3", "mcap")
DEFAULT_FALLBACK_TYPESTORE = "ros2_humble"

# What rosbag2 writes for an infinite (unset) QoS duration.
_INFINITE = QosTime(9223372036, 854775807)
# rclcpp::SensorDataQoS(): best effort, keep last 5, volatile.
SENSOR_DATA_QOS = Qos(
    QosHistory.KEEP_LAST, 5, QosReliability.BEST_EFFORT, QosDurability.VOLATILE,
    _INFINITE, _INFINITE, QosLiveliness.AUTOMATIC, _INFINITE, False,
)
# rclcpp default publisher QoS: reliable, keep last 10, volatile.
RELIABLE_QOS = Qos(
    QosHistory.KEEP_LAST, 10, QosReliability.RELIABLE, QosDurability.VOLATILE,
    _INFINITE, _INFINITE, QosLiveliness.AUTOMATIC, _INFINITE, False,
)

_STORAGE_PLUGINS = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}
_STORAGE_SUFFIXES = (".db3", ".mcap")
# How far (log time) an image waits for its ground truth before it is handed out without one.
_GT_WAIT_NS = 2_000_000_000
_MAX_PENDING = 256
# What rosbags (and the sqlite / mcap parsers under it) raise on a damaged or foreign file.
_READ_ERRORS = (
    ReaderError, SerdeError, TypesysError, apsw.Error, OSError, EOFError, struct.error,
    ValueError, LookupError, TypeError, AssertionError,
)
_ReaderT = TypeVar("_ReaderT", bound="BagReader")
_RecorderT = TypeVar("_RecorderT", bound="OutputRecorder")


def _one_line(exc: BaseException) -> str:
    """An exception's message on one line (its type name where it has none)."""
    return " ".join(str(exc).split()) or type(exc).__name__


@functools.lru_cache(maxsize=None)  # noqa: UP033 (functools.cache is Python 3.9+)
def _write_typestore() -> Any:
    """The typestore used for writing: Kilted where this rosbags knows it, else the latest it has."""
    store = getattr(Stores, "ROS2_KILTED", None) or Stores.LATEST
    return get_typestore(store)


def fallback_typestore(name: Optional[str] = None) -> Any:
    """The typestore named ``name`` (e.g. 'ros2_humble'), for bags that carry no message definitions."""
    name = name or DEFAULT_FALLBACK_TYPESTORE
    try:
        store = Stores(name.lower())
    except ValueError:
        names = ", ".join(s.value for s in Stores if s.value.startswith("ros2"))
        raise RailSegError(f"typestore {name!r} is unknown; choose one of {names}") from None
    return get_typestore(store)


# ---------------------------------------------------------------------------------------------
# Messages


def stamp_to_ns(stamp: Any) -> int:
    """Nanoseconds of a builtin_interfaces/Time (rosbags or rclpy)."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def header_stamp_ns(msg: Any) -> int:
    """Nanoseconds of a message's header stamp."""
    return stamp_to_ns(msg.header.stamp)


def _header(typestore: Any, stamp_ns: int, frame_id: str) -> Any:
    time_cls = typestore.types["builtin_interfaces/msg/Time"]
    header_cls = typestore.types["std_msgs/msg/Header"]
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return header_cls(stamp=time_cls(sec=sec, nanosec=nanosec), frame_id=frame_id)


def make_image_msg(typestore: Any, array: np.ndarray, encoding: str, stamp_ns: int, frame_id: str) -> Any:
    """A sensor_msgs/Image dataclass holding ``array`` (already in ``encoding``)."""
    fields = image_codec.encode_image(array, encoding)
    return typestore.types[IMAGE_TYPE](
        header=_header(typestore, stamp_ns, frame_id),
        height=fields.height,
        width=fields.width,
        encoding=fields.encoding,
        is_bigendian=fields.is_bigendian,
        step=fields.step,
        data=np.frombuffer(fields.data, dtype=np.uint8),
    )


def make_compressed_msg(
    typestore: Any, array: np.ndarray, encoding: str, stamp_ns: int, frame_id: str, quality: int = 90
) -> Any:
    """A sensor_msgs/CompressedImage dataclass (jpeg, format string as image_transport writes it)."""
    fmt, data = image_codec.encode_compressed(array, encoding, fmt="jpeg", quality=quality)
    return typestore.types[COMPRESSED_TYPE](
        header=_header(typestore, stamp_ns, frame_id),
        format=fmt,
        data=np.frombuffer(data, dtype=np.uint8),
    )


def make_camera_info_msg(
    typestore: Any, width: int, height: int, stamp_ns: int, frame_id: str, hfov_deg: float = 60.0
) -> Any:
    """A plausible undistorted pinhole sensor_msgs/CameraInfo for an image of this size."""
    focal = 0.5 * width / math.tan(math.radians(hfov_deg) / 2.0)
    cx, cy = width / 2.0, height / 2.0
    roi_cls = typestore.types["sensor_msgs/msg/RegionOfInterest"]
    return typestore.types[INFO_TYPE](
        header=_header(typestore, stamp_ns, frame_id),
        height=int(height),
        width=int(width),
        distortion_model="plumb_bob",
        d=np.zeros(5, dtype=np.float64),
        k=np.array([focal, 0.0, cx, 0.0, focal, cy, 0.0, 0.0, 1.0], dtype=np.float64),
        r=np.eye(3, dtype=np.float64).ravel(),
        p=np.array([focal, 0.0, cx, 0.0, 0.0, focal, cy, 0.0, 0.0, 0.0, 1.0, 0.0], dtype=np.float64),
        binning_x=0,
        binning_y=0,
        roi=roi_cls(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
    )


def info_topic_for(image_topic: str) -> str:
    """The camera_info topic beside an image topic ('/camera/image_raw' -> '/camera/camera_info')."""
    base = image_topic.rstrip("/")
    if base.endswith("/compressed"):  # noqa: FURB188 (str.removesuffix is Python 3.9+)
        base = base[: -len("/compressed")]
    namespace = base.rsplit("/", 1)[0]
    return f"{namespace}/camera_info"


_NUMPY_TYPES = {
    "bool": np.bool_, "byte": np.uint8, "char": np.uint8, "octet": np.uint8,
    "int8": np.int8, "uint8": np.uint8, "int16": np.int16, "uint16": np.uint16,
    "int32": np.int32, "uint32": np.uint32, "int64": np.int64, "uint64": np.uint64,
    "float32": np.float32, "float64": np.float64,
}


def _field(obj: Any, name: str) -> Any:
    return obj[name] if isinstance(obj, dict) else getattr(obj, name)


def _convert_value(value: Any, nodetype: Any, desc: Any, typestore: Any) -> Any:
    if nodetype == Nodetype.NAME:
        return to_rosbags(value, desc, typestore)
    if nodetype == Nodetype.BASE:
        kind = desc[0]
        if kind == "string":
            return str(value)
        if kind == "bool":
            return bool(value)
        return float(value) if kind.startswith("float") else int(value)
    (subtype, subdesc), _ = desc
    if subtype == Nodetype.BASE and subdesc[0] in _NUMPY_TYPES:
        dtype = _NUMPY_TYPES[subdesc[0]]
        if isinstance(value, (bytes, bytearray)):
            return np.frombuffer(value, dtype=dtype)
        return np.asarray(value, dtype=dtype)  # numpy arrays, array.array (rclpy), lists
    return [_convert_value(item, subtype, subdesc, typestore) for item in value]


def to_rosbags(msg: Any, msgtype: str, typestore: Optional[Any] = None) -> Any:
    """Copy a message (rclpy message, dict of fields, or another dataclass) into a rosbags dataclass."""
    typestore = typestore or _write_typestore()
    if msgtype not in typestore.fielddefs:
        raise RailSegError(f"message type {msgtype} is not in the typestore")
    _, fields = typestore.fielddefs[msgtype]
    kwargs = {name: _convert_value(_field(msg, name), nodetype, desc, typestore) for name, (nodetype, desc) in fields}
    return typestore.types[msgtype](**kwargs)


def ros_image_to_rosbags(msg: Any, typestore: Optional[Any] = None) -> Any:
    """Copy an rclpy sensor_msgs Image (or CompressedImage) into the rosbags typestore dataclass."""
    msgtype = COMPRESSED_TYPE if hasattr(msg, "format") and not hasattr(msg, "encoding") else IMAGE_TYPE
    return to_rosbags(msg, msgtype, typestore)


# ---------------------------------------------------------------------------------------------
# Writing


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
        self.typestore = _write_typestore()
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


def write_frames_bag(
    path: PathLike,
    frames: Iterable[Tuple[np.ndarray, Optional[np.ndarray]]],
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
    """Write (RGB image, label map or None) frames as a rosbag2 bag at ``path``; return the path.

    Images go on ``image_topic`` as sensor_msgs/Image in ``encoding`` (or CompressedImage jpeg),
    labels on ``gt_topic`` as mono8 Image with the same header stamp, camera_info (optional) beside
    the image topic. Frames are 1/fps apart; log time equals header stamp. An existing bag at
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
            for index, (image, labels) in enumerate(bar):
                _check_frame(index, image, labels)
                out.write(start + round(index * 1e9 / fps), image, labels)
                written += 1
        if written == 0:
            raise RailSegError(f"bag {path}: no frames to write")
    return path


class OutputRecorder:
    """Records messages into a new bag (the live benchmark's ``--record``); the bag appears on close.

    ``add`` takes rosbags dataclasses, rclpy messages (copied field by field), dicts of fields or
    already CDR-serialized bytes. Topics get the QoS given to ``add_topic`` (reliable by default).
    Use as a context manager; an exception inside the block leaves no bag behind. Use it from the
    thread that created it (sqlite3 storage requires that); ``bench.RecorderThread`` wraps it for
    executor callbacks.
    """

    def __init__(self, path: PathLike, storage: str = "sqlite3") -> None:
        self.path = Path(path)
        self.typestore = _write_typestore()
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


# ---------------------------------------------------------------------------------------------
# Reading


def _storage_target(path: Path) -> Path:
    """What rosbags should open for ``path``: the directory, or a bare storage file."""
    if not path.exists():
        raise RailSegError(f"bag {path}: no such file or directory")
    if path.is_dir():
        if (path / "metadata.yaml").exists():
            return path
        files = sorted(p for p in path.iterdir() if p.suffix in _STORAGE_SUFFIXES and p.is_file())
        if len(files) == 1:
            return files[0]
        raise RailSegError(f"bag {path}: not a rosbag2 directory (no metadata.yaml and not exactly one .db3/.mcap)")
    if path.suffix not in _STORAGE_SUFFIXES:
        raise RailSegError(f"bag {path}: not a bag (expected a rosbag2 directory, a .db3 or an .mcap file)")
    return path


def _types_from_definition(connection: Any) -> Dict[str, Any]:
    msgdef = connection.msgdef
    if msgdef.format == MessageDefinitionFormat.MSG:
        return get_types_from_msg(msgdef.data, connection.msgtype)
    sep = "=" * 80 + "\n"
    types: Dict[str, Any] = {}
    if msgdef.data.startswith(sep + "IDL: "):
        for part in msgdef.data.split(sep)[1:]:
            types.update(get_types_from_idl(part.split("\n", 1)[1]))
    else:
        types.update(get_types_from_idl(msgdef.data))
    return types


def _build_typestore(connections: Sequence[Any], fallback: Optional[str]) -> Any:
    """Types from the definitions stored in the bag; the fallback typestore for connections without."""
    types: Dict[str, Any] = {}
    if any(c.msgdef.format == MessageDefinitionFormat.NONE for c in connections):
        types.update(fallback_typestore(fallback).fielddefs)
    for connection in connections:
        if connection.msgdef.format != MessageDefinitionFormat.NONE:
            types.update(_types_from_definition(connection))
    store = get_typestore(Stores.EMPTY)
    store.register(types)
    return store


class BagReader:
    """An open bag: topics, counts, duration and deserialized messages. Never writes to the bag."""

    def __init__(self, path: PathLike, typestore: Optional[str] = None) -> None:
        self.path = Path(path)
        self._reader = Reader(_storage_target(self.path))
        try:
            self._reader.open()
        except _READ_ERRORS as exc:
            raise RailSegError(f"bag {self.path}: cannot be read ({_one_line(exc)})") from None
        self._connections = list(self._reader.connections)
        self._fallback = typestore
        try:
            self.typestore = _build_typestore(self._connections, typestore)
        except RailSegError:
            self.close()
            raise
        except _READ_ERRORS as exc:
            self.close()
            raise RailSegError(f"bag {self.path}: bad message definition ({_one_line(exc)})") from None

    @property
    def topics(self) -> Dict[str, str]:
        """Topic name -> message type."""
        return {c.topic: c.msgtype for c in self._connections}

    def message_count(self, topic: str) -> int:
        """Messages stored on ``topic``."""
        self._check_topics([topic])
        return sum(c.msgcount for c in self._connections if c.topic == topic)

    def qos_profiles(self, topic: str) -> List[Qos]:
        """The offered QoS profiles recorded for ``topic`` (rosbags Qos tuples)."""
        self._check_topics([topic])
        return [q for c in self._connections if c.topic == topic for q in c.ext.offered_qos_profiles]

    @property
    def message_total(self) -> int:
        """Messages in the whole bag."""
        return int(self._reader.message_count)

    @property
    def start_ns(self) -> int:
        """Log time of the first message (0 for an empty bag)."""
        return int(self._reader.start_time) if self._reader.message_count else 0

    @property
    def duration_s(self) -> float:
        """Seconds between the first and the last message's log time."""
        if not self._reader.message_count:
            return 0.0
        return max(0, self._reader.end_time - 1 - self._reader.start_time) / 1e9

    def _check_topics(self, topics: Iterable[str]) -> None:
        missing = [t for t in topics if t not in self.topics]
        if missing:
            have = ", ".join(sorted(self.topics)) or "none"
            raise RailSegError(f"bag {self.path}: no topic {', '.join(missing)} (it has: {have})")

    def _check_types(self, connections: Sequence[Any]) -> None:
        for connection in connections:
            if connection.msgtype not in self.typestore.types:
                store = self._fallback or DEFAULT_FALLBACK_TYPESTORE
                raise RailSegError(
                    f"bag {self.path}: type {connection.msgtype} of {connection.topic} is neither stored in "
                    f"the bag nor in typestore {store}"
                )

    def read(self, topics: Optional[Iterable[str]] = None) -> Iterator[Tuple[str, str, int, Any]]:
        """Yield (topic, msgtype, log time ns, message) in log-time order, for ``topics`` or all."""
        wanted = list(self.topics) if topics is None else list(topics)
        self._check_topics(wanted)
        connections = [c for c in self._connections if c.topic in wanted]
        self._check_types(connections)
        if not connections:
            return
        try:
            for connection, timestamp, raw in self._reader.messages(connections=connections):
                msg = self.typestore.deserialize_cdr(raw, connection.msgtype)
                yield connection.topic, connection.msgtype, int(timestamp), msg
        except _READ_ERRORS as exc:
            raise RailSegError(f"bag {self.path}: cannot be read ({_one_line(exc)})") from None

    def close(self) -> None:
        """Close the bag (safe to call twice)."""
        if self._reader.is_open:
            self._reader.close()

    def __enter__(self: _ReaderT) -> _ReaderT:  # noqa: PYI019 (typing.Self is 3.11+)
        return self

    def __exit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.close()


def open_bag(path: PathLike, typestore: Optional[str] = None) -> BagReader:
    """Open a bag for reading (use as a context manager). ``typestore`` names the fallback store."""
    return BagReader(path, typestore=typestore)


# ---------------------------------------------------------------------------------------------
# Frames


class Frame(NamedTuple):
    """One camera image, with the ground truth of the same header stamp where the bag has it."""

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


def _check_image_topic(bag: BagReader, topic: str) -> str:
    bag._check_topics([topic])
    msgtype = bag.topics[topic]
    if msgtype not in (IMAGE_TYPE, COMPRESSED_TYPE):
        raise RailSegError(f"bag {bag.path}: topic {topic} has type {msgtype}, expected {IMAGE_TYPE} or {COMPRESSED_TYPE}")
    return msgtype


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

    def ready(self, now_ns: Optional[int]) -> Iterator[Frame]:
        """Frames that have their gt, waited long enough, or (now_ns None) all that are left."""
        while self.pending:
            stamp, log_time, msgtype, msg, gt = self.pending[0]
            waited = now_ns is None or now_ns - log_time > _GT_WAIT_NS or len(self.pending) > _MAX_PENDING
            if gt is None and not waited:
                return
            self.pending.popleft()
            if self.by_stamp.get(stamp) is not None and self.by_stamp[stamp][3] is msg:
                del self.by_stamp[stamp]
            yield Frame(stamp, decode_image_msg(msgtype, msg), msg, gt)


def read_frames(
    path: PathLike,
    image_topic: str = IMAGE_TOPIC,
    gt_topic: Optional[str] = GT_TOPIC,
    typestore: Optional[str] = None,
) -> Iterator[Frame]:
    """Yield each image of ``image_topic`` (Image or CompressedImage) as RGB, with its ground truth.

    Ground truth is matched by header stamp whether it was logged before or after the image;
    images without one (or all, when ``gt_topic`` is None or not in the bag) get gt None.
    """
    with open_bag(path, typestore=typestore) as bag:
        _check_image_topic(bag, image_topic)
        use_gt = gt_topic is not None and gt_topic in bag.topics and bag.message_count(gt_topic) > 0
        if use_gt and bag.topics[gt_topic] != IMAGE_TYPE:
            raise RailSegError(f"bag {bag.path}: ground-truth topic {gt_topic} has type {bag.topics[gt_topic]}, "
                               f"expected {IMAGE_TYPE} (mono8)")
        if not use_gt:
            for _, msgtype, _, msg in bag.read([image_topic]):
                yield Frame(header_stamp_ns(msg), decode_image_msg(msgtype, msg), msg, None)
            return
        pairing = _Pairing()
        for topic, msgtype, log_time, msg in bag.read([image_topic, gt_topic]):
            if topic == image_topic:
                pairing.add_image(header_stamp_ns(msg), log_time, msgtype, msg)
            else:
                pairing.add_gt(header_stamp_ns(msg), decode_labels_msg(msg))
            yield from pairing.ready(log_time)
        yield from pairing.ready(None)


def read_image_messages(
    path: PathLike, topic: str = IMAGE_TOPIC, typestore: Optional[str] = None
) -> Iterator[Tuple[int, Any]]:
    """Yield (header stamp ns, message) of an image topic as recorded, in log order."""
    with open_bag(path, typestore=typestore) as bag:
        _check_image_topic(bag, topic)
        for _, _, _, msg in bag.read([topic]):
            yield header_stamp_ns(msg), msg
