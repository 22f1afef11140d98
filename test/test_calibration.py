"""int8 calibration frames: from an image folder, a bag or synthetic scenes, always at the card's input size."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import make_frames, write_png

from rail_seg_ros import bag
from rail_seg_ros.calibration import calibration_frames
from rail_seg_ros.errors import RailSegError
from rail_seg_ros.model_card import ModelCard

CARD = ModelCard(name="t", architecture="squeezenas_mac_small", label_set="railsem19", input_size=(64, 96))


def _check(frames, count: int) -> None:
    assert len(frames) == count
    for frame in frames:
        assert frame.shape == (64, 96, 3) and frame.dtype == np.uint8 and frame.flags.c_contiguous


def test_folder_frames_are_spread_over_the_folder_and_resized(tmp_path: Path) -> None:
    frames = make_frames(6)
    for i, (image, _) in enumerate(frames):
        write_png(tmp_path / ("sub" if i == 5 else "") / f"f{i}.png", image)  # nested folders count too
    (tmp_path / "notes.txt").write_text("not an image")
    expected = [cv2.resize(image, (96, 64), interpolation=cv2.INTER_LINEAR) for image, _ in frames]
    got = calibration_frames(str(tmp_path), CARD, count=3)
    _check(got, 3)
    for frame, index in zip(got, (0, 2, 4)):  # every second of six sorted paths
        np.testing.assert_array_equal(frame, expected[index])
    every = calibration_frames(str(tmp_path), CARD, count=8)
    _check(every, 6)  # fewer images than asked: all of them
    np.testing.assert_array_equal(every[5], expected[5])


def test_bag_frames_in_order_at_the_input_size(tmp_path: Path) -> None:
    frames = make_frames(4, height=64, width=96)
    path = bag.write_frames_bag(tmp_path / "calib", frames)
    got = calibration_frames(str(path), CARD, count=2)
    _check(got, 2)
    for frame, (image, _) in zip(got, frames):  # already at the size: taken as recorded
        np.testing.assert_array_equal(frame, image)


def test_synthetic_scenes_by_default() -> None:
    got = calibration_frames(None, CARD, count=2)
    _check(got, 2)
    assert not np.array_equal(got[0], got[1])
    np.testing.assert_array_equal(got[0], calibration_frames(None, CARD, count=1)[0])  # seeded


def test_sources_that_give_no_frames(tmp_path: Path) -> None:
    with pytest.raises(RailSegError, match="calibration source .*nowhere: no such file or folder"):
        calibration_frames(str(tmp_path / "nowhere"), CARD)
    (tmp_path / "empty").mkdir()
    with pytest.raises(RailSegError, match="calibration folder .*empty: no images"):
        calibration_frames(str(tmp_path / "empty"), CARD)
    path = bag.write_frames_bag(tmp_path / "other", make_frames(1), image_topic="/front/image")
    with pytest.raises(RailSegError, match="/camera/image_raw"):  # the topic the bag lacks is named
        calibration_frames(str(path), CARD)
