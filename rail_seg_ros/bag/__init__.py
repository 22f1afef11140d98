"""Reading and writing rosbag2 recordings (sqlite3 and mcap) through rosbags, without a ROS install.

``messages``: topics, message types, QoS, typestores, message builders and stamps. ``reader``: opening
any rosbag2 bag, whether or not it stores its message definitions. ``writer``: frames into a new bag,
and the recorder of live output (:class:`RecorderThread` runs it in a thread of its own). ``frames``:
camera images decoded to RGB and paired with their ground truth, and the check of a bag (:func:`inspect_bag`).
Everything public is importable from ``rail_seg_ros.bag``.
"""

from rail_seg_ros.fileio import PathLike

from .frames import (
    BagFrame,
    BagInfo,
    check_image_topic,
    decode_image_msg,
    decode_labels_msg,
    inspect_bag,
    read_frames,
)
from .messages import (
    COMPRESSED_TYPE,
    DEFAULT_FALLBACK_TYPESTORE,
    GT_TOPIC,
    IMAGE_TOPIC,
    IMAGE_TYPE,
    INFO_TOPIC,
    INFO_TYPE,
    RELIABLE_QOS,
    SENSOR_DATA_QOS,
    fallback_typestore,
    header_stamp_ns,
    info_topic_for,
    make_camera_info_msg,
    make_compressed_msg,
    make_image_msg,
    stamp_to_ns,
    to_rosbags,
)
from .reader import BagReader, open_bag
from .writer import BAG_VERSION, STORAGES, OutputRecorder, RecorderThread, write_frames_bag

__all__ = [
    "BAG_VERSION",
    "COMPRESSED_TYPE",
    "DEFAULT_FALLBACK_TYPESTORE",
    "GT_TOPIC",
    "IMAGE_TOPIC",
    "IMAGE_TYPE",
    "INFO_TOPIC",
    "INFO_TYPE",
    "RELIABLE_QOS",
    "SENSOR_DATA_QOS",
    "STORAGES",
    "BagFrame",
    "BagInfo",
    "BagReader",
    "OutputRecorder",
    "RecorderThread",
    "PathLike",
    "check_image_topic",
    "decode_image_msg",
    "decode_labels_msg",
    "fallback_typestore",
    "inspect_bag",
    "header_stamp_ns",
    "info_topic_for",
    "make_camera_info_msg",
    "make_compressed_msg",
    "make_image_msg",
    "open_bag",
    "read_frames",
    "stamp_to_ns",
    "to_rosbags",
    "write_frames_bag",
]
