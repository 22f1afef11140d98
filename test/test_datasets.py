"""Dataset folders: RailSem19, Cityscapes (train ids or full label ids) and image/label pairs, and their errors."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import cityscapes_tree, make_frames, railsem19_tree, write_png

from rail_seg_ros import datasets
from rail_seg_ros.errors import RailSegError
from rail_seg_ros.labels import CITYSCAPES_ID_TO_TRAIN_ID


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


def test_read_rgb_gives_rgb_order_and_label_maps_one_channel(tmp_path: Path) -> None:
    image = np.zeros((4, 6, 3), dtype=np.uint8)
    image[..., 0] = 200  # red only
    write_png(tmp_path / "red.png", image)
    got = datasets.read_rgb(tmp_path / "red.png")
    assert got.shape == (4, 6, 3) and tuple(got[0, 0]) == (200, 0, 0)
    labels = make_frames(1)[0][1]
    grey3 = np.repeat(labels[:, :, None], 3, axis=2)  # a grey map some tools save with three equal channels
    assert cv2.imwrite(str(tmp_path / "grey3.png"), grey3)
    np.testing.assert_array_equal(datasets.read_label_map(tmp_path / "grey3.png"), labels)
    assert cv2.imwrite(str(tmp_path / "deep.png"), labels.astype(np.uint16) * 300)
    with pytest.raises(RailSegError, match=r"label map .*deep.png: has uint16 pixels"):
        datasets.read_label_map(tmp_path / "deep.png")


def test_label_map_of_another_size_than_its_image(tmp_path: Path) -> None:
    image, labels = make_frames(1)[0]
    write_png(tmp_path / "images" / "a.png", image)
    write_png(tmp_path / "labels" / "a.png", labels[:, :20])
    (pair,) = datasets.iter_dataset("pairs", tmp_path)
    with pytest.raises(RailSegError, match=r"label map .*a.png: is 20x24, its image 40x24"):
        datasets.load_pair(*pair, "pairs")


def test_iter_frames_loads_every_pair_in_order_and_limit_is_checked(tmp_path: Path) -> None:
    frames = railsem19_tree(tmp_path)
    pairs = datasets.iter_dataset("railsem19", tmp_path)
    loaded = list(datasets.iter_frames(pairs, "railsem19"))
    assert len(loaded) == 3 and loaded[1][1] is None
    np.testing.assert_array_equal(loaded[2][1], frames[2][1])
    with pytest.raises(RailSegError, match="dataset limit must be at least 1, got 0"):
        datasets.iter_dataset("railsem19", tmp_path, limit=0)
    with pytest.raises(RailSegError, match="dataset layout 'voc' is unknown"):
        datasets.load_pair(pairs[0][0], None, "voc")
