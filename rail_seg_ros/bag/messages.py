"""The bag tools' vocabulary: topics, message types, QoS profiles, typestores, message builders, stamps.

Builders make rosbags dataclasses (what the writer serializes); ``to_rosbags`` copies rclpy messages
or dicts of fields into them.
"""

import functools
import math
from typing import Any, Optional

import numpy as np
from rosbags.interfaces import Nodetype, Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.typesys import Stores, get_typestore

from rail_seg_ros import image_codec
from rail_seg_ros.errors import RailSegError

IMAGE_TOPIC = "/camera/image_raw"
GT_TOPIC = "/camera/labels_gt"
INFO_TOPIC = "/camera/camera_info"

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
INFO_TYPE = "sensor_msgs/msg/CameraInfo"

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


@functools.lru_cache(maxsize=None)  # noqa: UP033 (functools.cache is Python 3.9+)
def write_typestore() -> Any:
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
    typestore = typestore or write_typestore()
    if msgtype not in typestore.fielddefs:
        raise RailSegError(f"message type {msgtype} is not in the typestore")
    _, fields = typestore.fielddefs[msgtype]
    kwargs = {name: _convert_value(_field(msg, name), nodetype, desc, typestore) for name, (nodetype, desc) in fields}
    return typestore.types[msgtype](**kwargs)
