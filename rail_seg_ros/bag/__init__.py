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
    read_image_messages,
    read_track_truth,
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
    STRING_TYPE,
    TRACK_TRUTH_TOPIC,
    fallback_typestore,
    header_stamp_ns,
    info_topic_for,
    make_camera_info_msg,
    make_compressed_msg,
    make_image_msg,
    make_track_truth_msg,
    ros_image_to_rosbags,
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
    "STRING_TYPE",
    "TRACK_TRUTH_TOPIC",
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
    "make_track_truth_msg",
    "open_bag",
    "read_frames",
    "read_image_messages",
    "read_track_truth",
    "ros_image_to_rosbags",
    "stamp_to_ns",
    "to_rosbags",
    "write_frames_bag",
]
