"""rail-seg predict as a user runs it: three PNGs per image at its resolution, the public reference labels,
and one-line errors with exit code 2 that leave nothing behind."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import rail_seg, shared_path

from rail_seg_ros.cli import main


def _write_image(path: Path, height: int, width: int) -> Path:
    rng = np.random.default_rng(0)
    cv2.imwrite(str(path), rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    return path


def test_predict_writes_three_pngs_at_the_input_resolution(tmp_path, small_card, cache_dir):
    images = [_write_image(tmp_path / f"frame{i}.png", 180, 320) for i in range(2)]
    out = tmp_path / "out"
    code = main(["predict", "--model", str(small_card), "--backend", "onnxruntime", "--cache-dir", str(cache_dir),
                 *map(str, images), "--out", str(out)])
    assert code == 0
    for image in images:
        labels = cv2.imread(str(out / f"{image.stem}_labels.png"), cv2.IMREAD_UNCHANGED)
        assert labels.dtype == np.uint8 and labels.shape == (180, 320) and labels.max() < 19
        assert cv2.imread(str(out / f"{image.stem}_color.png")).shape == (180, 320, 3)
        assert cv2.imread(str(out / f"{image.stem}_overlay.png")).shape == (180, 320, 3)
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


@pytest.mark.needs_torch
def test_predict_reproduces_the_public_reference_labels(tmp_path, cache_dir):
    weights = shared_path("squeezenas", "weights", "lat_small.pth")
    image = shared_path("squeezenas", "reference", "input_structured_1024x2048.png")
    reference = cv2.imread(str(shared_path("squeezenas", "reference", "lat_small_labels.png")), cv2.IMREAD_UNCHANGED)
    for backend in ("torch", "onnxruntime"):
        out = tmp_path / backend
        assert main(["predict", "--model", "squeezenas_lat_small_cityscapes", "--weights", str(weights),
                     "--backend", backend, "--cache-dir", str(cache_dir), str(image), "--out", str(out)]) == 0
        labels = cv2.imread(str(out / "input_structured_1024x2048_labels.png"), cv2.IMREAD_UNCHANGED)
        assert (labels == reference).mean() >= 0.999, backend


def _fails_cleanly(args, out: Path, message: str) -> None:
    result = rail_seg(*args, "--out", str(out))
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists() or not any(out.iterdir()), "partial output left behind"


def test_predict_missing_image(tmp_path, small_card):
    _fails_cleanly(["predict", "--model", str(small_card), str(tmp_path / "nope.png")], tmp_path / "out",
                   "nope.png: no such file")


def test_predict_unreadable_image_leaves_nothing(tmp_path, small_card, cache_dir):
    good = _write_image(tmp_path / "good.png", 128, 256)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    _fails_cleanly(["predict", "--model", str(small_card), "--backend", "torch", str(good), str(bad)],
                   tmp_path / "out", "bad.png: cannot be read")


def test_predict_image_too_small(tmp_path, small_card):
    tiny = _write_image(tmp_path / "tiny.png", 20, 30)
    _fails_cleanly(["predict", "--model", str(small_card), "--backend", "torch", str(tiny)], tmp_path / "out",
                   "smaller than squeezenas_mac_small allows")


@pytest.mark.needs_torch
def test_predict_corrupt_checkpoint(tmp_path):
    ckpt = tmp_path / "corrupt.pth"
    ckpt.write_bytes(b"\x80\x02garbage")
    image = _write_image(tmp_path / "a.png", 128, 256)
    _fails_cleanly(["predict", "--model", "squeezenas_mac_small", "--weights", str(ckpt), str(image)],
                   tmp_path / "out", "not a readable PyTorch checkpoint")


def test_predict_checkpoint_of_another_architecture(tmp_path, small_card):
    image = _write_image(tmp_path / "a.png", 128, 256)
    weights = next(small_card.parent.glob("*.pt"))
    _fails_cleanly(["predict", "--model", "squeezenas_lat_small", "--weights", str(weights), str(image)],
                   tmp_path / "out", "does not fit squeezenas_lat_small")
