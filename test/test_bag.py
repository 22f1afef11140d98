"""Bags written and read back (sqlite3 and mcap), foreign and damaged bags, dataset folders, make-bag."""

import argparse
import hashlib
import sqlite3
from pathlib import Path
from typing import Dict, List, Tuple

import cv2
import numpy as np
import pytest
import yaml
from rosbags.rosbag2 import Writer
from rosbags.typesys import Stores, get_typestore

from rail_seg_ros import bag, datasets
from rail_seg_ros.commands import make_bag
from rail_seg_ros.errors import RailSegError
from rail_seg_ros.labels import CITYSCAPES_ID_TO_TRAIN_ID

START_NS = 1_700_000_000_000_000_000
STORAGES = ("sqlite3", "mcap")


def make_frames(count: int, height: int = 24, width: int = 40) -> List[Tuple[np.ndarray, np.ndarray]]:
    """Smooth, distinct RGB images (jpeg keeps them close) and label maps with several ids."""
    ys, xs = np.mgrid[0:height, 0:width]
    frames = []
    for i in range(count):
        image = np.stack([xs * 255 // width, ys * 255 // height, np.full_like(xs, 30 + 40 * i)], axis=2)
        labels = ((xs // 8 + ys // 8 + i) % 19).astype(np.uint8)
        labels[0, 0] = 255
        frames.append((image.astype(np.uint8), labels))
    return frames


def tree_hashes(root: Path) -> Dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file()
    }


def metadata(path: Path) -> dict:
    return yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]


def topic_metadata(path: Path, topic: str) -> dict:
    for entry in metadata(path)["topics_with_message_count"]:
        if entry["topic_metadata"]["name"] == topic:
            return entry["topic_metadata"]
    raise AssertionError(f"{topic} not in metadata.yaml")


# ---------------------------------------------------------------------------------------------
# round trips


@pytest.mark.parametrize("storage", STORAGES)
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
    assert [s for s, _ in bag.read_image_messages(tmp_path / "rec")] == stamps


# ---------------------------------------------------------------------------------------------
# bags from other writers


def write_humble_style_bag(path: Path, frames: List[Tuple[np.ndarray, np.ndarray]],
                           msgtype: str = bag.IMAGE_TYPE) -> None:
    """A sqlite3 bag as Humble writes it: schema 3, no message_definitions table, metadata version 5."""
    ts = get_typestore(Stores.ROS2_HUMBLE)
    with Writer(path, version=8) as writer:
        image_conn = writer.add_connection(bag.IMAGE_TOPIC, bag.IMAGE_TYPE, typestore=ts)
        gt_conn = writer.add_connection(bag.GT_TOPIC, bag.IMAGE_TYPE, typestore=ts)
        for i, (image, labels) in enumerate(frames):
            stamp = START_NS + i * 100_000_000
            writer.write(image_conn, stamp, ts.serialize_cdr(bag.make_image_msg(ts, image, "rgb8", stamp, "c"),
                                                             bag.IMAGE_TYPE))
            writer.write(gt_conn, stamp, ts.serialize_cdr(bag.make_image_msg(ts, labels, "mono8", stamp, "c"),
                                                          bag.IMAGE_TYPE))
    db = path / f"{path.name}.db3"
    with sqlite3.connect(db) as con:
        con.executescript(f"""
            DROP TABLE message_definitions;
            CREATE TABLE old_topics AS
                SELECT id, name, '{msgtype}' AS type, serialization_format, offered_qos_profiles FROM topics;
            DROP TABLE topics;
            ALTER TABLE old_topics RENAME TO topics;
            UPDATE schema SET schema_version = 3, ros_distro = 'humble';
        """)
    con.close()
    meta = yaml.safe_load((path / "metadata.yaml").read_text())
    info = meta["rosbag2_bagfile_information"]
    info["version"] = 5
    info.pop("ros_distro")
    for entry in info["topics_with_message_count"]:
        entry["topic_metadata"].pop("type_description_hash")
        entry["topic_metadata"]["type"] = msgtype
    (path / "metadata.yaml").write_text(yaml.safe_dump(meta))


def test_bag_without_message_definitions_uses_the_fallback_typestore(tmp_path: Path) -> None:
    frames = make_frames(3)
    path = tmp_path / "humble"
    write_humble_style_bag(path, frames)
    with sqlite3.connect(f"file:{path / 'humble.db3'}?mode=ro", uri=True) as con:
        tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    con.close()
    assert "message_definitions" not in tables and "topics" in tables

    for typestore in (None, "ros2_humble", "ros2_jazzy"):
        read = list(bag.read_frames(path, typestore=typestore))
        assert len(read) == 3
        np.testing.assert_array_equal(read[2].image, frames[2][0])
        np.testing.assert_array_equal(read[2].gt, frames[2][1])

    with pytest.raises(RailSegError, match="typestore 'ros2_nope' is unknown"):
        bag.open_bag(path, typestore="ros2_nope")


def test_bag_without_definitions_of_an_unknown_type(tmp_path: Path) -> None:
    path = tmp_path / "custom"
    write_humble_style_bag(path, make_frames(1), msgtype="my_msgs/msg/Frame")
    with bag.open_bag(path) as reader:
        assert reader.topics[bag.IMAGE_TOPIC] == "my_msgs/msg/Frame"
        with pytest.raises(RailSegError, match="my_msgs/msg/Frame of /camera/image_raw is neither stored"):
            list(reader.read([bag.IMAGE_TOPIC]))


def write_foreign_mcap(path: Path, frames: List[Tuple[np.ndarray, np.ndarray]]) -> List[int]:
    """An mcap written by mcap_ros2 (zstd chunks, no QoS metadata); gt logged before each image."""
    from mcap_ros2.writer import Writer as McapRos2Writer

    msgdef, _ = get_typestore(Stores.ROS2_HUMBLE).generate_msgdef(bag.IMAGE_TYPE, ros_version=2)
    stamps = []
    with path.open("wb") as stream:
        writer = McapRos2Writer(stream)
        schema = writer.register_msgdef(bag.IMAGE_TYPE, msgdef)
        for i, (image, labels) in enumerate(frames):
            stamp = START_NS + i * 100_000_000
            stamps.append(stamp)
            header = {"stamp": {"sec": stamp // 10**9, "nanosec": stamp % 10**9}, "frame_id": "cam"}
            height, width = labels.shape
            gt = {"header": header, "height": height, "width": width, "encoding": "mono8", "is_bigendian": 0,
                  "step": width, "data": labels.tobytes()}
            img = {"header": header, "height": height, "width": width, "encoding": "rgb8", "is_bigendian": 0,
                   "step": width * 3, "data": image.tobytes()}
            writer.write_message(bag.GT_TOPIC, schema, gt, log_time=stamp + 1, publish_time=stamp)
            writer.write_message(bag.IMAGE_TOPIC, schema, img, log_time=stamp + 2_000_000, publish_time=stamp)
        writer.finish()
    return stamps


def test_mcap_from_another_writer(tmp_path: Path) -> None:
    frames = make_frames(3)
    bare = tmp_path / "foreign.mcap"
    stamps = write_foreign_mcap(bare, frames)
    folder = tmp_path / "folder"  # a recording directory whose metadata.yaml was lost
    folder.mkdir()
    write_foreign_mcap(folder / "folder_0.mcap", frames)
    for path in (bare, folder):
        read = list(bag.read_frames(path))
        assert [f.stamp_ns for f in read] == stamps
        for frame, (image, labels) in zip(read, frames):
            np.testing.assert_array_equal(frame.image, image)
            np.testing.assert_array_equal(frame.gt, labels)
        with bag.open_bag(path) as reader:
            assert reader.topics == {bag.IMAGE_TOPIC: bag.IMAGE_TYPE, bag.GT_TOPIC: bag.IMAGE_TYPE}
            assert reader.qos_profiles(bag.IMAGE_TOPIC) == []


# ---------------------------------------------------------------------------------------------
# errors and leaving the input alone


@pytest.fixture()
def small_bags(tmp_path: Path) -> Dict[str, Path]:
    return {
        storage: bag.write_frames_bag(tmp_path / storage, make_frames(3), storage=storage, compressed=True,
                                      camera_info=True, progress=False)
        for storage in STORAGES
    }


def test_missing_path_and_not_a_bag(tmp_path: Path) -> None:
    with pytest.raises(RailSegError, match=r"bag .*nothing: no such file or directory"):
        bag.open_bag(tmp_path / "nothing")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(RailSegError, match=r"notes.txt: not a bag"):
        bag.open_bag(tmp_path / "notes.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RailSegError, match=r"empty: not a rosbag2 directory"):
        list(bag.read_frames(tmp_path / "empty"))


def test_truncated_db3(small_bags: Dict[str, Path]) -> None:
    db = small_bags["sqlite3"] / "sqlite3.db3"
    db.write_bytes(db.read_bytes()[: db.stat().st_size // 2])
    with pytest.raises(RailSegError, match=r"bag .*sqlite3: cannot be read \(.*malformed"):
        list(bag.read_frames(small_bags["sqlite3"]))


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_damaged_mcap(small_bags: Dict[str, Path], damage: str) -> None:
    mcap = small_bags["mcap"] / "mcap.mcap"
    data = mcap.read_bytes()
    mcap.write_bytes(np.random.default_rng(1).bytes(4000) if damage == "garbage" else data[: len(data) * 2 // 3])
    with pytest.raises(RailSegError, match=r"bag .*mcap: cannot be read \(.*magic is invalid"):
        list(bag.read_frames(small_bags["mcap"]))


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


@pytest.mark.parametrize("storage", STORAGES)
def test_reading_leaves_the_bag_byte_identical(small_bags: Dict[str, Path], storage: str) -> None:
    path = small_bags[storage]
    before = tree_hashes(path)
    assert len(before) == 2
    assert len(list(bag.read_frames(path))) == 3
    assert len(list(bag.read_image_messages(path))) == 3
    with bag.open_bag(path) as reader:
        assert sum(1 for _ in reader.read()) == 9
    partial = bag.read_frames(path)
    next(partial)
    partial.close()  # abandoned half way
    assert tree_hashes(path) == before


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


def test_rclpy_image_to_rosbags(tmp_path: Path) -> None:
    sensor_msgs = pytest.importorskip("sensor_msgs.msg")
    image, _ = make_frames(1)[0]
    ros_msg = sensor_msgs.Image()
    ros_msg.header.stamp.sec, ros_msg.header.stamp.nanosec = 1_700_000_000, 123
    ros_msg.header.frame_id = "cam"
    ros_msg.height, ros_msg.width, ros_msg.encoding, ros_msg.step = 24, 40, "rgb8", 120
    ros_msg.data = image.tobytes()
    converted = bag.ros_image_to_rosbags(ros_msg)
    assert converted.__msgtype__ == bag.IMAGE_TYPE
    assert bag.header_stamp_ns(converted) == 1_700_000_000_000_000_123
    with bag.OutputRecorder(tmp_path / "rec") as recorder:
        recorder.add(bag.IMAGE_TOPIC, bag.IMAGE_TYPE, converted, 1)
        recorder.add("/raw_rclpy", bag.IMAGE_TYPE, ros_msg, 2)
    for topic in (bag.IMAGE_TOPIC, "/raw_rclpy"):
        (frame,) = bag.read_frames(tmp_path / "rec", image_topic=topic, gt_topic=None)
        assert frame.stamp_ns == 1_700_000_000_000_000_123 and frame.encoding_msg.header.frame_id == "cam"
        np.testing.assert_array_equal(frame.image, image)


# ---------------------------------------------------------------------------------------------
# datasets and make-bag


def write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    assert cv2.imwrite(str(path), array)


def railsem19_tree(root: Path) -> List[Tuple[np.ndarray, np.ndarray]]:
    frames = make_frames(3)
    for i, (image, labels) in enumerate(frames):
        suffix = ".jpg" if i < 2 else ".png"
        write_png(root / "jpgs" / "rs19_val" / f"rs{i:05d}{suffix}", image)
        if i != 1:
            write_png(root / "uint8" / "rs19_val" / f"rs{i:05d}.png", labels)
    (root / "jpgs" / "rs19_val" / "notes.txt").write_text("not an image")
    return frames


def cityscapes_tree(root: Path, train_ids: bool) -> List[Tuple[np.ndarray, np.ndarray]]:
    frames = make_frames(3)
    full_ids = {train: full for full, train in enumerate(CITYSCAPES_ID_TO_TRAIN_ID.tolist()) if train != 255}
    for i, (image, labels) in enumerate(frames):
        city = "aachen" if i < 2 else "bochum"
        prefix = f"{city}_{i:06d}_000019"
        write_png(root / "leftImg8bit" / "val" / city / f"{prefix}_leftImg8bit.png", image)
        gt_dir = root / "gtFine" / "val" / city
        if train_ids:
            write_png(gt_dir / f"{prefix}_gtFine_labelTrainIds.png", labels)
        else:
            ids = np.vectorize(lambda t: full_ids.get(t, 0))(labels).astype(np.uint8)
            write_png(gt_dir / f"{prefix}_gtFine_labelIds.png", ids)
        write_png(gt_dir / f"{prefix}_gtFine_color.png", image)  # present in the release, never used
    return frames


def test_railsem19_layout(tmp_path: Path) -> None:
    frames = railsem19_tree(tmp_path)
    pairs = datasets.iter_dataset("railsem19", tmp_path)
    assert [(p.name, lab.name if lab else None) for p, lab in pairs] == [
        ("rs00000.jpg", "rs00000.png"), ("rs00001.jpg", None), ("rs00002.png", "rs00002.png")]
    image, labels = datasets.load_pair(*pairs[2], "railsem19")
    np.testing.assert_array_equal(image, frames[2][0])
    np.testing.assert_array_equal(labels, frames[2][1])
    image, labels = datasets.load_pair(*pairs[0], "railsem19")
    assert labels is not None and np.abs(image.astype(int) - frames[0][0]).mean() < 4  # jpeg
    assert datasets.load_pair(*pairs[1], "railsem19")[1] is None
    assert len(datasets.iter_dataset("railsem19", tmp_path, limit=2)) == 2
    with pytest.raises(RailSegError, match=r"no frames found at .*jpgs/rs19_train/\*\.jpg"):
        datasets.iter_dataset("railsem19", tmp_path, split="rs19_train")


@pytest.mark.parametrize("train_ids", [True, False])
def test_cityscapes_layout(tmp_path: Path, train_ids: bool) -> None:
    frames = cityscapes_tree(tmp_path, train_ids)
    pairs = datasets.iter_dataset("cityscapes", tmp_path)
    assert [p.parent.name for p, _ in pairs] == ["aachen", "aachen", "bochum"]
    kind = "labelTrainIds" if train_ids else "labelIds"
    assert all(lab is not None and lab.name.endswith(f"_gtFine_{kind}.png") for _, lab in pairs)
    for (image_path, label_path), (image, labels) in zip(pairs, frames):
        got_image, got_labels = datasets.load_pair(image_path, label_path, "cityscapes")
        np.testing.assert_array_equal(got_image, image)
        np.testing.assert_array_equal(got_labels, labels)  # labelIds mapped back to the same train ids
    if not train_ids:
        raw = datasets.read_label_map(pairs[0][1])
        assert raw.max() > 18  # really full label ids on disk
        np.testing.assert_array_equal(CITYSCAPES_ID_TO_TRAIN_ID[raw], frames[0][1])
    with pytest.raises(RailSegError, match=r"leftImg8bit/train/\*/\*_leftImg8bit.png"):
        datasets.iter_dataset("cityscapes", tmp_path, split="train")


def test_pairs_layout(tmp_path: Path) -> None:
    frames = make_frames(2)
    for i, (image, labels) in enumerate(frames):
        write_png(tmp_path / "set" / "images" / f"f{i}.png", image)
        write_png(tmp_path / "set" / "labels" / f"f{i}.png", labels)
    write_png(tmp_path / "set" / "labels" / "orphan.png", frames[0][1])
    write_png(tmp_path / "set" / "labels" / "f1.jpg", frames[0][1])  # the .png of the same stem wins
    for root in (tmp_path / "set", f"{tmp_path / 'set' / 'images'}:{tmp_path / 'set' / 'labels'}"):
        pairs = datasets.iter_dataset("pairs", root)
        assert [(p.name, lab.name) for p, lab in pairs] == [("f0.png", "f0.png"), ("f1.png", "f1.png")]
        np.testing.assert_array_equal(datasets.load_pair(*pairs[1], "pairs")[1], frames[1][1])
    with pytest.raises(RailSegError, match=r"no frames found at .*nowhere/images/\*"):
        datasets.iter_dataset("pairs", tmp_path / "nowhere")


def test_dataset_errors(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "broken.png").write_bytes(b"\x89PNG not really")
    write_png(tmp_path / "images" / "ok.png", make_frames(1)[0][0])
    write_png(tmp_path / "labels" / "ok.png", make_frames(1)[0][0])  # colour, not ids
    pairs = datasets.iter_dataset("pairs", tmp_path)
    with pytest.raises(RailSegError, match=r"image .*broken.png: cannot be decoded"):
        datasets.load_pair(*pairs[0], "pairs")
    with pytest.raises(RailSegError, match=r"label map .*ok.png: is a colour image"):
        datasets.load_pair(*pairs[1], "pairs")
    with pytest.raises(RailSegError, match=r"image .*gone.png: cannot be read"):
        datasets.load_pair(tmp_path / "gone.png", None, "pairs")
    with pytest.raises(RailSegError, match="dataset layout 'kitti' is unknown"):
        datasets.iter_dataset("kitti", tmp_path)
    with pytest.raises(RailSegError, match="does not exist"):
        datasets.iter_dataset("railsem19", tmp_path / "nope")


def run_make_bag(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(prog="rail-seg make-bag")
    make_bag.add_arguments(parser)
    return make_bag.run(parser.parse_args(argv))


@pytest.mark.parametrize("layout", datasets.LAYOUTS)
def test_make_bag_end_to_end(tmp_path: Path, layout: str, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "data"
    if layout == "railsem19":
        railsem19_tree(root)
    elif layout == "cityscapes":
        cityscapes_tree(root, train_ids=False)
    else:
        for i, (image, labels) in enumerate(make_frames(3)):
            write_png(root / "images" / f"{i}.png", image)
            write_png(root / "labels" / f"{i}.png", labels)
    expected = [datasets.load_pair(p, lab, layout) for p, lab in datasets.iter_dataset(layout, root)]
    out = tmp_path / "out_bag"
    storage = "mcap" if layout == "cityscapes" else "sqlite3"
    argv = ["--layout", layout, str(root), "--out", str(out), "--camera-info", "--storage", storage,
            "--fps", "20", "--no-progress"]
    assert run_make_bag(argv) == 0
    printed = capsys.readouterr().out
    with_gt = sum(labels is not None for _, labels in expected)
    assert f"wrote 3 frames ({with_gt} with ground truth" in printed and str(out) in printed
    assert bag.INFO_TOPIC in printed

    read = list(bag.read_frames(out))
    assert len(read) == 3
    assert read[1].stamp_ns - read[0].stamp_ns == 50_000_000
    for frame, (image, labels) in zip(read, expected):
        np.testing.assert_array_equal(frame.image, image)
        if labels is None:
            assert frame.gt is None
        else:
            np.testing.assert_array_equal(frame.gt, labels)

    with pytest.raises(RailSegError, match="exists already; use --force"):
        run_make_bag(argv)
    assert run_make_bag(argv + ["--force", "--limit", "1", "--compressed"]) == 0
    with bag.open_bag(out) as reader:
        assert reader.topics[bag.IMAGE_TOPIC] == bag.COMPRESSED_TYPE
        assert reader.message_count(bag.IMAGE_TOPIC) == 1


def test_make_bag_help_names_every_layout() -> None:
    parser = argparse.ArgumentParser(prog="rail-seg make-bag")
    make_bag.add_arguments(parser)
    text = parser.format_help()
    for word in ("railsem19", "cityscapes", "pairs", "IMAGES_DIR:LABELS_DIR", "--camera-info", "--force"):
        assert word in text
    args = parser.parse_args(["--layout", "pairs", "x", "--out", "y"])
    assert (args.fps, args.storage, args.encoding, args.compressed) == (10.0, "sqlite3", "rgb8", False)

