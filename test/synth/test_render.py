"""Rendering: determinism, label validity, image/label agreement, sequences."""

from typing import List, Tuple

import numpy as np
import pytest

from rail_seg_ros import synth
from rail_seg_ros.labels import RAILSEM19

H, W = 96, 192


GROUND = (synth.ROAD, synth.TRACKBED, synth.RAIL_TRACK, synth.TRAM_TRACK, synth.TERRAIN)


@pytest.fixture(scope="module")
def scenes() -> List[Tuple[np.ndarray, np.ndarray]]:
    return [synth.render_scene(H, W, seed) for seed in range(20)]



def test_same_seed_same_frame_other_seed_other_frame() -> None:
    image, labels = synth.render_scene(H, W, 7)
    again_image, again_labels = synth.render_scene(H, W, 7)
    other_image, other_labels = synth.render_scene(H, W, 8)
    assert np.array_equal(image, again_image) and np.array_equal(labels, again_labels)
    assert not np.array_equal(image, other_image)
    assert not np.array_equal(labels, other_labels)


def test_shapes_dtypes_and_ids(scenes: List[Tuple[np.ndarray, np.ndarray]]) -> None:
    image, labels = synth.render_scene(72, 136, 1)
    assert image.shape == (72, 136, 3) and image.dtype == np.uint8
    assert labels.shape == (72, 136) and labels.dtype == np.uint8
    for image, labels in scenes:
        assert image.shape == (H, W, 3) and image.dtype == np.uint8
        assert labels.shape == (H, W) and labels.dtype == np.uint8
        assert int(labels.max()) < RAILSEM19.num_classes


def test_every_class_appears_and_rails_are_in_every_frame(scenes: List[Tuple[np.ndarray, np.ndarray]]) -> None:
    seen = np.zeros(RAILSEM19.num_classes, dtype=bool)
    for _, labels in scenes:
        counts = np.bincount(labels.ravel(), minlength=256)
        seen |= counts[: RAILSEM19.num_classes] > 0
        assert counts[synth.RAIL_RAISED] + counts[synth.RAIL_EMBEDDED] > 0
        assert counts[synth.SKY] > 0
    missing = [RAILSEM19.names[i] for i in np.flatnonzero(~seen)]
    assert not missing, f"classes never drawn: {missing}"


def test_image_agrees_with_labels(scenes: List[Tuple[np.ndarray, np.ndarray]]) -> None:
    rows = np.arange(H)[:, None].repeat(W, axis=1)
    for image, labels in scenes:
        sky, ground = labels == synth.SKY, np.isin(labels, GROUND)
        assert rows[sky].mean() < rows[ground].mean()          # sky above the ground
        rails = labels == synth.RAIL_RAISED
        if rails.sum() > 20:
            gap = np.abs(image[rails].mean(axis=0) - image[sky].mean(axis=0)).sum()
            assert gap > 30, "rails look like the sky"
    # colour changes where the labels change: edges in the image sit on label boundaries
    image, labels = synth.render_scene(192, 384, 3, synth.SceneConfig(p_blur=0.0))
    diff = np.abs(np.diff(image.astype(int), axis=1)).sum(axis=2)
    boundary = labels[:, 1:] != labels[:, :-1]
    assert diff[boundary].mean() > 2.5 * diff[~boundary].mean()
    shifted = np.roll(boundary, 6, axis=1)                     # labels off by a few pixels: no match
    assert diff[boundary].mean() > 1.5 * diff[shifted & ~boundary].mean()


def test_sequence_moves_along_the_track() -> None:
    frames = list(synth.render_sequence(6, H, W, 5))
    assert len(frames) == 6
    # a longer drive starts like a shorter one, and its first frame is the scene of the same seed
    for (image, labels), (short_image, short_labels) in zip(frames, synth.render_sequence(3, H, W, 5)):
        assert np.array_equal(labels, short_labels) and np.array_equal(image, short_image)
    assert np.array_equal(frames[0][1], synth.render_scene(H, W, 5)[1])
    unrelated = synth.render_scene(H, W, 99)
    for (image_a, labels_a), (image_b, labels_b) in zip(frames, frames[1:]):
        assert not np.array_equal(labels_a, labels_b)
        assert (labels_a == labels_b).mean() > 0.6
        step = np.abs(image_a.astype(int) - image_b.astype(int)).mean()
        jump = np.abs(image_a.astype(int) - unrelated[0].astype(int)).mean()
        assert 0 < step < jump
    first, last = frames[0][1], frames[-1][1]
    assert (first == last).mean() < (frames[0][1] == frames[1][1]).mean()   # it drifts further over time


def _grey_share_of_people(drab: float) -> float:
    """Share of the human pixels that are nearly grey (channel spread < 30) over ten scenes."""
    config = synth.SceneConfig(p_track_obstacle=1.0, p_drab_clothes=drab)
    pixels = []
    for seed in range(10):
        image, labels = synth.render_scene(192, 352, seed, config)
        pixels.append(image[labels == synth.HUMAN].astype(int))
    joined = np.concatenate(pixels)
    assert len(joined) > 1000, "too few people drawn to compare"
    return float(((joined.max(axis=1) - joined.min(axis=1)) < 30).mean())


def test_drab_clothes_dress_people_in_greys_and_leave_default_scenes_alone() -> None:
    assert _grey_share_of_people(1.0) > 0.8 > 0.6 > _grey_share_of_people(0.0)
    image, labels = synth.render_scene(H, W, 5, synth.SceneConfig(p_drab_clothes=0.0))
    default_image, default_labels = synth.render_scene(H, W, 5)
    assert np.array_equal(image, default_image) and np.array_equal(labels, default_labels)
