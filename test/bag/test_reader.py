"""Reading bags: bags from other writers (Humble sqlite3, foreign mcap), damaged bags, the input left alone."""

import hashlib
import sqlite3
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import pytest
import yaml
from conftest import START_NS, make_frames
from rosbags.rosbag2 import Writer
from rosbags.typesys import Stores, get_typestore

from rail_seg_ros import bag
from rail_seg_ros.errors import RailSegError


def tree_hashes(root: Path) -> Dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file()
    }


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


@pytest.mark.parametrize("storage", bag.STORAGES)
def test_reading_leaves_the_bag_byte_identical(small_bags: Dict[str, Path], storage: str) -> None:
    path = small_bags[storage]
    before = tree_hashes(path)
    assert len(before) == 2
    assert len(list(bag.read_frames(path))) == 3
    assert len(list(bag.read_frames(path, gt_topic=None))) == 3
    with bag.open_bag(path) as reader:
        assert sum(1 for _ in reader.read()) == 9
    partial = bag.read_frames(path)
    next(partial)
    partial.close()  # abandoned half way
    assert tree_hashes(path) == before
