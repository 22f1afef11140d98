"""Frames from bags: decoding raw encodings, ground truth paired by stamp or absent, image-topic checks."""

from pathlib import Path
from typing import Dict

import cv2
import numpy as np
import pytest
from conftest import START_NS, make_frames
from rosbags.typesys import Stores, get_typestore

from rail_seg_ros import bag
from rail_seg_ros.errors import RailSegError


@pytest.mark.parametrize("encoding", ["bgr8", "mono8"])
def test_raw_encodings(tmp_path: Path, encoding: str) -> None:
    frames = make_frames(2)
    out = bag.write_frames_bag(tmp_path / "b", frames, encoding=encoding, progress=False)
    read = list(bag.read_frames(out))
    assert [f.encoding_msg.encoding for f in read] == [encoding, encoding]
    image = frames[1][0]
    if encoding == "bgr8":
        np.testing.assert_array_equal(read[1].image, image)
        assert bytes(read[1].encoding_msg.data[:3]) == bytes(image[0, 0, ::-1])
    else:
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        assert np.abs(read[1].image[:, :, 0].astype(int) - grey).max() <= 1
        np.testing.assert_array_equal(read[1].image[:, :, 0], read[1].image[:, :, 2])


def test_frames_without_ground_truth(tmp_path: Path) -> None:
    frames = make_frames(3)
    mixed = [(frames[0][0], None), frames[1], (frames[2][0], None)]
    out = bag.write_frames_bag(tmp_path / "mixed", mixed, progress=False, start_time_ns=START_NS)
    assert [f.gt is None for f in bag.read_frames(out)] == [True, False, True]
    assert all(f.gt is None for f in bag.read_frames(out, gt_topic=None))

    no_gt = bag.write_frames_bag(tmp_path / "none", [(f[0], None) for f in frames], progress=False)
    with bag.open_bag(no_gt) as reader:
        assert bag.GT_TOPIC not in reader.topics
    read = list(bag.read_frames(no_gt))
    assert len(read) == 3 and all(f.gt is None for f in read)


def test_ground_truth_paired_by_stamp_in_any_log_order(tmp_path: Path) -> None:
    """gt logged before its image, after it (past later images), or never."""
    ts = get_typestore(Stores.ROS2_HUMBLE)
    frames = make_frames(4)
    stamps = [START_NS + i * 50_000_000 for i in range(4)]
    with bag.OutputRecorder(tmp_path / "rec") as recorder:
        recorder.add(bag.GT_TOPIC, bag.IMAGE_TYPE, bag.make_image_msg(ts, frames[0][1], "mono8", stamps[0], "c"),
                     stamps[0] - 1000)
        for i, stamp in enumerate(stamps):
            recorder.add(bag.IMAGE_TOPIC, bag.IMAGE_TYPE, bag.make_image_msg(ts, frames[i][0], "rgb8", stamp, "c"),
                         stamp + 10)
        for i in (2, 1):  # late and out of order; frame 3 never gets ground truth
            recorder.add(bag.GT_TOPIC, bag.IMAGE_TYPE, bag.make_image_msg(ts, frames[i][1], "mono8", stamps[i], "c"),
                         stamps[3] + 1000 * i)
    read = list(bag.read_frames(tmp_path / "rec"))
    assert [f.stamp_ns for f in read] == stamps
    for i in range(3):
        np.testing.assert_array_equal(read[i].gt, frames[i][1])
    assert read[3].gt is None
    assert [f.stamp_ns for f in bag.read_frames(tmp_path / "rec", gt_topic=None)] == stamps  # without gt too


def test_missing_topic_lists_the_topics(small_bags: Dict[str, Path]) -> None:
    expected = r"no topic /front/image \(it has: /camera/camera_info, /camera/image_raw, /camera/labels_gt\)"
    with pytest.raises(RailSegError, match=expected):
        list(bag.read_frames(small_bags["mcap"], image_topic="/front/image"))
    with bag.open_bag(small_bags["sqlite3"]) as reader:
        with pytest.raises(RailSegError, match=expected):
            reader.message_count("/front/image")
    with pytest.raises(RailSegError, match="has type sensor_msgs/msg/CameraInfo, expected"):
        list(bag.read_frames(small_bags["sqlite3"], image_topic=bag.INFO_TOPIC))
    with pytest.raises(RailSegError, match="ground-truth topic /camera/camera_info has type"):
        list(bag.read_frames(small_bags["sqlite3"], gt_topic=bag.INFO_TOPIC))


def test_inspect_bag_counts_frames_and_finds_the_ground_truth(small_bags: Dict[str, Path], tmp_path: Path) -> None:
    info = bag.inspect_bag(small_bags["sqlite3"])
    assert (info.frames, info.msgtype, info.has_gt, info.gt_topic) == (3, bag.COMPRESSED_TYPE, True, bag.GT_TOPIC)
    assert bag.inspect_bag(small_bags["mcap"], gt_topic="/no/gt").gt_topic is None
    assert bag.inspect_bag(small_bags["mcap"], gt_topic=None).has_gt is False
    with pytest.raises(RailSegError, match="no topic /front/image"):
        bag.inspect_bag(small_bags["mcap"], image_topic="/front/image")
    with pytest.raises(RailSegError, match="has type sensor_msgs/msg/CameraInfo, expected"):
        bag.inspect_bag(small_bags["sqlite3"], image_topic=bag.INFO_TOPIC)
    with bag.OutputRecorder(tmp_path / "empty") as recorder:
        recorder.add_topic(bag.IMAGE_TOPIC, bag.IMAGE_TYPE)
        recorder.add(bag.INFO_TOPIC, bag.INFO_TYPE, bag.make_camera_info_msg(
            get_typestore(Stores.ROS2_HUMBLE), 40, 24, START_NS, "c"), START_NS)
    with pytest.raises(RailSegError, match="has no messages"):
        bag.inspect_bag(tmp_path / "empty")


def test_recorder_thread_writes_in_its_own_thread_and_keeps_nothing_on_failure(tmp_path: Path) -> None:
    ts = get_typestore(Stores.ROS2_HUMBLE)
    frames = make_frames(2)
    recorder = bag.RecorderThread(tmp_path / "kept", topics=[bag.IMAGE_TOPIC])
    for i, (image, _) in enumerate(frames):
        recorder.add(bag.IMAGE_TOPIC, bag.make_image_msg(ts, image, "rgb8", START_NS + i, "c"), START_NS + i)
    assert recorder.finish(keep=True) == 2
    assert [f.stamp_ns for f in bag.read_frames(tmp_path / "kept", gt_topic=None)] == [START_NS, START_NS + 1]
    dropped = bag.RecorderThread(tmp_path / "dropped", topics=[bag.IMAGE_TOPIC])
    dropped.add(bag.IMAGE_TOPIC, bag.make_image_msg(ts, frames[0][0], "rgb8", START_NS, "c"), START_NS)
    assert dropped.finish(keep=False) == 1
    assert not (tmp_path / "dropped").exists()
