"""Writing bags: round trips through sqlite3 and mcap, metadata and QoS, atomic writes, the output recorder."""

from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
import yaml
from conftest import START_NS, make_frames
from rosbags.typesys import Stores, get_typestore

from rail_seg_ros import bag
from rail_seg_ros.errors import RailSegError


def metadata(path: Path) -> dict:
    return yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]


def topic_metadata(path: Path, topic: str) -> dict:
    for entry in metadata(path)["topics_with_message_count"]:
        if entry["topic_metadata"]["name"] == topic:
            return entry["topic_metadata"]
    raise AssertionError(f"{topic} not in metadata.yaml")


@pytest.mark.parametrize("storage", bag.STORAGES)
@pytest.mark.parametrize("compressed", [False, True])
def test_round_trip(tmp_path: Path, storage: str, compressed: bool) -> None:
    frames = make_frames(4)
    out = bag.write_frames_bag(
        tmp_path / "b", frames, fps=10.0, storage=storage, compressed=compressed, camera_info=True,
        progress=False, start_time_ns=START_NS,
    )
    assert out == tmp_path / "b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]  # no temporary left beside it
    suffix = ".db3" if storage == "sqlite3" else ".mcap"
    assert sorted(p.name for p in out.iterdir()) == sorted(["metadata.yaml", "b" + suffix])

    read = list(bag.read_frames(out))
    assert [f.stamp_ns for f in read] == [START_NS + i * 100_000_000 for i in range(4)]
    for frame, (image, labels) in zip(read, frames):
        assert frame.image.shape == image.shape and frame.image.dtype == np.uint8
        if compressed:
            assert np.abs(frame.image.astype(int) - image).mean() < 6
            assert frame.encoding_msg.format == "rgb8; jpeg compressed bgr8"
        else:
            np.testing.assert_array_equal(frame.image, image)
            assert frame.encoding_msg.encoding == "rgb8"
        np.testing.assert_array_equal(frame.gt, labels)

    image_type = bag.COMPRESSED_TYPE if compressed else bag.IMAGE_TYPE
    with bag.open_bag(out) as reader:
        assert reader.topics == {
            bag.IMAGE_TOPIC: image_type, bag.GT_TOPIC: bag.IMAGE_TYPE, bag.INFO_TOPIC: bag.INFO_TYPE,
        }
        assert [reader.message_count(t) for t in (bag.IMAGE_TOPIC, bag.GT_TOPIC, bag.INFO_TOPIC)] == [4, 4, 4]
        assert reader.duration_s == pytest.approx(0.3)
        stamps: Dict[str, List[int]] = {}
        for topic, _, log_time, msg in reader.read():
            assert log_time == bag.header_stamp_ns(msg)
            stamps.setdefault(topic, []).append(log_time)
            if topic == bag.INFO_TOPIC:
                assert (msg.width, msg.height) == (40, 24)
                assert msg.k[2] == 20.0 and msg.k[5] == 12.0 and msg.k[0] > 0 and msg.k[8] == 1.0
            if topic == bag.GT_TOPIC:
                assert msg.encoding == "mono8"
        assert stamps[bag.IMAGE_TOPIC] == stamps[bag.GT_TOPIC] == stamps[bag.INFO_TOPIC]
        qos = reader.qos_profiles(bag.IMAGE_TOPIC)
        assert [q.reliability.name for q in qos] == ["BEST_EFFORT"]
        assert [q.history.name for q in qos] == ["KEEP_LAST"]

    meta = metadata(out)
    assert meta["version"] == 9
    assert meta["storage_identifier"] == storage
    assert meta["relative_file_paths"] == ["b" + suffix]
    camera_qos = topic_metadata(out, bag.IMAGE_TOPIC)["offered_qos_profiles"]
    assert camera_qos[0]["reliability"] == "best_effort"
    assert camera_qos[0]["history"] == "keep_last" and camera_qos[0]["depth"] == 5
    assert topic_metadata(out, bag.GT_TOPIC)["offered_qos_profiles"][0]["reliability"] == "reliable"


def test_writing_is_atomic_and_refuses_foreign_folders(tmp_path: Path) -> None:
    frames = make_frames(3)

    def failing():
        yield frames[0]
        raise RuntimeError("camera unplugged")

    with pytest.raises(RuntimeError, match="camera unplugged"):
        bag.write_frames_bag(tmp_path / "b", failing(), progress=False)
    assert list(tmp_path.iterdir()) == []

    with pytest.raises(RailSegError, match="no frames to write"):
        bag.write_frames_bag(tmp_path / "b", [], progress=False)
    with pytest.raises(RailSegError, match="frame 1: labels must be a"):
        bag.write_frames_bag(tmp_path / "b", [frames[0], (frames[1][0], frames[1][1][:5])], progress=False)
    assert list(tmp_path.iterdir()) == []

    bag.write_frames_bag(tmp_path / "b", frames, progress=False)
    bag.write_frames_bag(tmp_path / "b", frames[:1], storage="mcap", progress=False)  # replaces the bag
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["b.mcap", "metadata.yaml"]
    assert len(list(bag.read_frames(tmp_path / "b"))) == 1

    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("x")
    with pytest.raises(RailSegError, match="precious: exists and is not a rosbag2 directory"):
        bag.write_frames_bag(precious, frames, progress=False)
    assert (precious / "thesis.tex").read_text() == "x"


def test_output_recorder(tmp_path: Path) -> None:
    ts = get_typestore(Stores.ROS2_HUMBLE)
    image, labels = make_frames(1)[0]
    msg = bag.make_image_msg(ts, image, "rgb8", START_NS, "cam")
    with bag.OutputRecorder(tmp_path / "rec", storage="mcap") as recorder:
        recorder.add_topic("/seg/labels", bag.IMAGE_TYPE, qos=bag.SENSOR_DATA_QOS)
        recorder.add("/seg/labels", bag.IMAGE_TYPE, bag.make_image_msg(ts, labels, "mono8", START_NS, "cam"),
                     START_NS + 5)
        recorder.add(bag.IMAGE_TOPIC, bag.IMAGE_TYPE, ts.serialize_cdr(msg, bag.IMAGE_TYPE), START_NS)
        recorder.add("/seg/latency", "std_msgs/msg/Float32", {"data": 12.5}, START_NS + 6)
    assert recorder.count == 3
    with bag.open_bag(tmp_path / "rec") as reader:
        got = list(reader.read())
        assert reader.qos_profiles("/seg/labels")[0].reliability.name == "BEST_EFFORT"
        assert reader.qos_profiles("/seg/latency")[0].reliability.name == "RELIABLE"
    assert [(t, ts_) for t, _, ts_, _ in got] == [
        (bag.IMAGE_TOPIC, START_NS), ("/seg/labels", START_NS + 5), ("/seg/latency", START_NS + 6)]
    assert got[2][3].data == pytest.approx(12.5)
    frames = list(bag.read_frames(tmp_path / "rec", gt_topic="/seg/labels"))
    np.testing.assert_array_equal(frames[0].gt, labels)

    with pytest.raises(KeyError):
        with bag.OutputRecorder(tmp_path / "broken") as recorder:
            recorder.add(bag.IMAGE_TOPIC, bag.IMAGE_TYPE, msg, START_NS)
            raise KeyError("stop")
    assert not (tmp_path / "broken").exists()
    aborted = bag.OutputRecorder(tmp_path / "aborted")
    aborted.add(bag.IMAGE_TOPIC, bag.IMAGE_TYPE, msg, START_NS)
    aborted.abort()
    aborted.close()  # nothing left to finish
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec"]
