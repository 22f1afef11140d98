"""Procedural rail scenes: determinism, label validity, image/label agreement, sequences, dataset and CLI."""

import argparse
import json
import sys
import types
from pathlib import Path
from typing import Any, Dict, List, Tuple

import cv2
import numpy as np
import pytest

import rail_seg_ros
from rail_seg_ros import synth
from rail_seg_ros.commands import synth as synth_cmd
from rail_seg_ros.errors import RailSegError
from rail_seg_ros.labels import RAILSEM19

H, W = 96, 192
GROUND = (synth.ROAD, synth.TRACKBED, synth.RAIL_TRACK, synth.TRAM_TRACK, synth.TERRAIN)


@pytest.fixture(scope="module")
def scenes() -> List[Tuple[np.ndarray, np.ndarray]]:
    return [synth.render_scene(H, W, seed) for seed in range(20)]


def test_class_ids_match_railsem19() -> None:
    assert RAILSEM19.names[synth.RAIL_RAISED] == "rail-raised"
    assert RAILSEM19.names[synth.RAIL_EMBEDDED] == "rail-embedded"
    assert RAILSEM19.names[synth.ON_RAILS] == "on-rails"
    assert RAILSEM19.names[synth.SKY] == "sky"


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


def test_config_rejects_inverted_range_and_small_frames() -> None:
    with pytest.raises(RailSegError, match="horizon"):
        synth.SceneConfig(horizon=(0.6, 0.4))
    with pytest.raises(RailSegError, match="too small"):
        synth.render_scene(8, 512, 0)
    with pytest.raises(RailSegError, match="seed"):
        synth.render_scene(H, W, -1)


def _stems(folder: Path, suffix: str) -> List[str]:
    return sorted(p.stem for p in folder.iterdir() if p.suffix == suffix)


def test_write_dataset_layout(tmp_path: Path) -> None:
    out = synth.write_dataset(tmp_path / "syn", 3, H, W, seed=11, progress=False)
    assert out == tmp_path / "syn"
    images, labels = out / "jpgs" / "rs19_val", out / "uint8" / "rs19_val"
    assert _stems(images, ".jpg") == _stems(labels, ".png") == ["syn00000", "syn00001", "syn00002"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["syn"]          # no temporary folder left
    meta = json.loads((out / "synth.json").read_text())
    assert meta["frames"] == 3 and meta["seed"] == 11 and not meta["sequence"]
    # frame i is render_scene with frame_seed(seed, i): labels exact, jpeg close
    image, expected = synth.render_scene(H, W, synth.frame_seed(11, 2))
    written = cv2.imread(str(labels / "syn00002.png"), cv2.IMREAD_UNCHANGED)
    assert written.dtype == np.uint8 and np.array_equal(written, expected)
    jpeg = cv2.cvtColor(cv2.imread(str(images / "syn00002.jpg")), cv2.COLOR_BGR2RGB)
    assert np.abs(jpeg.astype(int) - image.astype(int)).mean() < 6


def test_write_dataset_replaces_only_its_own_folders(tmp_path: Path) -> None:
    out = synth.write_dataset(tmp_path / "syn", 1, H, W, seed=0, progress=False)
    synth.write_dataset(out, 2, H, W, seed=0, sequence=True, progress=False)
    assert len(list((out / "uint8" / "rs19_val").iterdir())) == 2
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(RailSegError, match="not an earlier synthetic dataset"):
        synth.write_dataset(tmp_path / "mine", 1, H, W, seed=0, progress=False)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    synth_cmd.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_cli_writes_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "data"
    assert synth_cmd.run(_args("--n", "2", "--size", "64x128", "--seed", "3", "--out", str(out),
                               "--no-progress")) == 0
    assert _stems(out / "uint8" / "rs19_val", ".png") == ["syn00000", "syn00001"]
    assert cv2.imread(str(out / "jpgs" / "rs19_val" / "syn00001.jpg")).shape == (64, 128, 3)
    assert "wrote 2 frames" in capsys.readouterr().out
    with pytest.raises(RailSegError, match="exists"):
        synth_cmd.run(_args("--n", "1", "--size", "64x128", "--out", str(out), "--no-progress"))


@pytest.mark.parametrize("size", ["512x", "x512", "512", "0x512", "16x512", "288x512x3", "288*512", "ax b", ""])
def test_cli_rejects_bad_size(size: str, tmp_path: Path) -> None:
    with pytest.raises(RailSegError, match="--size"):
        synth_cmd.run(_args("--size", size, "--out", str(tmp_path / "x"), "--no-progress"))
    assert not (tmp_path / "x").exists()


def test_parse_size() -> None:
    assert synth_cmd.parse_size("288x512") == (288, 512)
    assert synth_cmd.parse_size("256X512") == (256, 512)


@pytest.fixture
def fake_bag(monkeypatch: pytest.MonkeyPatch) -> List[Dict[str, Any]]:
    """Stand-in for rail_seg_ros.bag: records the calls and drains the frames."""
    calls: List[Dict[str, Any]] = []

    def write_frames_bag(path: Any, frames: Any, fps: float = 10.0, storage: str = "sqlite3",
                         progress: bool = True, total: Any = None, **kwargs: Any) -> Path:
        calls.append({"path": Path(path), "frames": list(frames), "fps": fps, "storage": storage, "total": total})
        return Path(path)

    module = types.ModuleType("rail_seg_ros.bag")
    module.write_frames_bag = write_frames_bag   # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "rail_seg_ros.bag", module)
    monkeypatch.setattr(rail_seg_ros, "bag", module, raising=False)
    return calls


def test_cli_bag_output_goes_through_the_bag_hook(tmp_path: Path, fake_bag: List[Dict[str, Any]]) -> None:
    synth_cmd.run(_args("--n", "3", "--size", "48x96", "--sequence", "--fps", "5", "--out", str(tmp_path / "a.mcap"),
                        "--no-progress"))
    call = fake_bag[-1]
    assert call["path"] == tmp_path / "a.mcap" and call["storage"] == "mcap" and call["fps"] == 5.0
    assert call["total"] == 3 and len(call["frames"]) == 3
    image, labels = call["frames"][0]
    assert image.shape == (48, 96, 3) and labels.shape == (48, 96)
    synth_cmd.run(_args("--n", "1", "--size", "48x96", "--bag", "--no-labels", "--out", str(tmp_path / "b"),
                        "--no-progress"))
    assert fake_bag[-1]["storage"] == "sqlite3" and fake_bag[-1]["frames"][0][1] is None
    with pytest.raises(RailSegError, match="does not match"):
        synth_cmd.run(_args("--size", "48x96", "--storage", "sqlite3", "--out", str(tmp_path / "c.mcap")))
    with pytest.raises(RailSegError, match="for bags"):
        synth_cmd.run(_args("--size", "48x96", "--storage", "mcap", "--out", str(tmp_path / "folder")))
    assert len(fake_bag) == 2
