"""Dataset folders: the RailSem19 layout, frame seeds, and what may be replaced."""

import json
from pathlib import Path
from typing import List

import cv2
import numpy as np
import pytest

from rail_seg_ros import synth
from rail_seg_ros.errors import RailSegError

H, W = 96, 192


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
    # the earlier frame's files are gone: two frames, each a label map, a track truth and a camera
    assert len(list((out / "uint8" / "rs19_val").iterdir())) == 2 * 3
    assert _stems(out / "uint8" / "rs19_val", ".png") == ["syn00000", "syn00001"]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(RailSegError, match="not an earlier synthetic dataset"):
        synth.write_dataset(tmp_path / "mine", 1, H, W, seed=0, progress=False)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
