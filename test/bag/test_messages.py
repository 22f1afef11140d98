"""Messages: rclpy messages copied into rosbags dataclasses, topic names derived from the image topic."""

from pathlib import Path

import numpy as np
import pytest
from conftest import make_frames

from rail_seg_ros import bag


def test_rclpy_image_to_rosbags(tmp_path: Path) -> None:
    sensor_msgs = pytest.importorskip("sensor_msgs.msg")
    image, _ = make_frames(1)[0]
    ros_msg = sensor_msgs.Image()
    ros_msg.header.stamp.sec, ros_msg.header.stamp.nanosec = 1_700_000_000, 123
    ros_msg.header.frame_id = "cam"
    ros_msg.height, ros_msg.width, ros_msg.encoding, ros_msg.step = 24, 40, "rgb8", 120
    ros_msg.data = image.tobytes()
    converted = bag.to_rosbags(ros_msg, bag.IMAGE_TYPE)  # what the output recorder does with rclpy messages
    assert converted.__msgtype__ == bag.IMAGE_TYPE
    assert bag.header_stamp_ns(converted) == 1_700_000_000_000_000_123
    with bag.OutputRecorder(tmp_path / "rec") as recorder:
        recorder.add(bag.IMAGE_TOPIC, bag.IMAGE_TYPE, converted, 1)
        recorder.add("/raw_rclpy", bag.IMAGE_TYPE, ros_msg, 2)
    for topic in (bag.IMAGE_TOPIC, "/raw_rclpy"):
        (frame,) = bag.read_frames(tmp_path / "rec", image_topic=topic, gt_topic=None)
        assert frame.stamp_ns == 1_700_000_000_000_000_123 and frame.encoding_msg.header.frame_id == "cam"
        np.testing.assert_array_equal(frame.image, image)


def test_info_topic_beside_the_image_topic() -> None:
    assert bag.info_topic_for(bag.IMAGE_TOPIC) == bag.INFO_TOPIC
    assert bag.info_topic_for("/front/image_raw/compressed") == "/front/camera_info"
    assert bag.info_topic_for("/front/image_raw/") == "/front/camera_info"
