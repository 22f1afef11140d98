"""The core without torch, as on a Jetson image with only ONNX Runtime (and the Python 3.8 venv of `make test`,
where torch cannot be had): the shipped default card's export segments frames, and what needs torch says so
in one line. The subprocess tests hide torch with ``sys.modules["torch"] = None``, so they hold on every Python."""

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import List

import cv2
import numpy as np
import pytest

from rail_seg_ros import synth
from rail_seg_ros.backends import create_backend
from rail_seg_ros.contract import PIPELINE_STAGES
from rail_seg_ros.errors import RailSegError
from rail_seg_ros.metrics import ConfusionMatrix
from rail_seg_ros.model_card import load_card
from rail_seg_ros.nets import torch_installed
from rail_seg_ros.pipeline import Segmenter

ROOT = Path(__file__).resolve().parents[1]
VAL_SEED = 3000000  # the README's held-out synthetic scenes (rail_default never saw them)


@pytest.fixture(scope="module")
def segmenter() -> Segmenter:
    return Segmenter.from_options("rail_default", backend="onnxruntime", device="cpu", confidence=True)


@pytest.fixture(scope="module")
def camera_frame() -> np.ndarray:
    """A synthetic rail scene at a camera's 1920x1080."""
    image, _ = synth.render_scene(288, 512, VAL_SEED)
    return cv2.resize(image, (1920, 1080), interpolation=cv2.INTER_LINEAR)


def test_shipped_export_segments_held_out_scenes(segmenter):
    """Measured 78.0 % mIoU on these 8 scenes with numpy 2.4 / onnxruntime 1.31 and numpy 1.24 / 1.19 alike."""
    assert segmenter.backend.name == "onnxruntime"
    # without torch the shipped file runs as it is; with torch the CPU default re-exports for the sparse head
    assert segmenter.backend.low_resolution == torch_installed()
    if not segmenter.backend.low_resolution:
        assert segmenter.backend.path.name == "rail_default.onnx"
    matrix = ConfusionMatrix(segmenter.labels.num_classes)
    for image, labels in synth.iter_frames(8, 288, 512, VAL_SEED):
        matrix.update(segmenter.process(image, color=False, overlay=False).labels, labels)
    assert matrix.miou() > 0.7 and matrix.pixel_accuracy() > 0.9


def test_camera_frame_comes_back_at_its_own_resolution(segmenter, camera_frame):
    result = segmenter.process(camera_frame)
    assert result.labels.shape == result.confidence.shape == (1080, 1920)
    assert result.labels.dtype == np.uint8 and result.labels.max() < segmenter.labels.num_classes
    assert np.array_equal(result.color, segmenter.labels.palette[result.labels])
    assert np.array_equal(result.overlay, cv2.addWeighted(camera_frame, 0.5, result.color, 0.5, 0))
    assert set(result.timings_ms) == set(PIPELINE_STAGES)
    assert segmenter.process(camera_frame[:480, :640]).labels.shape == (480, 640)  # a size change mid-stream


def test_fit_pads_with_the_mean_colour_and_crops_back(camera_frame):
    card = replace(load_card("rail_default"), resize="fit")  # not baked into the export: it is kept
    segmenter = Segmenter(card, create_backend(card, "onnxruntime", device="cpu"))
    square = np.ascontiguousarray(camera_frame[:, :1080])
    batch, plan = segmenter.preprocess(square)
    assert batch.shape == (1, 288, 512, 3) and plan.content == (288, 288)
    assert (batch[0, :, 288:] == np.round(np.asarray(card.mean) * 255).astype(np.uint8)).all()
    assert segmenter.process(square).labels.shape == (1080, 1080)


def test_bad_frames_are_refused(segmenter):
    with pytest.raises(RailSegError, match="expected H x W x 3 uint8"):
        segmenter.process(np.zeros((100, 100), np.uint8))
    with pytest.raises(RailSegError, match="smaller than"):
        segmenter.process(np.zeros((10, 300, 3), np.uint8))


def _without(packages: List[str], code: str, *args: str) -> subprocess.CompletedProcess:
    """``code`` in a fresh Python where ``packages`` cannot be imported, as where they are not installed."""
    hide = "import sys\n" + "".join(f"sys.modules[{p!r}] = None\n" for p in packages)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-c", hide + code, *args], capture_output=True, text=True, env=env,
                          cwd=str(ROOT), timeout=300)


def test_the_core_imports_neither_torch_nor_ros(tmp_path):
    image = tmp_path / "frame.png"
    cv2.imwrite(str(image), cv2.cvtColor(synth.render_scene(180, 320, VAL_SEED)[0], cv2.COLOR_RGB2BGR))
    code = """
import json, sys
from rail_seg_ros import cli, image_codec, labels, metrics, model_card, pipeline, report  # noqa: F401
status = cli.main(["predict", "--model", "rail_default", "--backend", "auto", "--device", "cpu",
                   sys.argv[1], "--out", sys.argv[2]])
print(json.dumps({"status": status, "loaded": sorted({m.split(".")[0] for m in sys.modules if sys.modules[m]})}))
"""
    result = _without(["torch", "rclpy"], code, str(image), str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["status"] == 0 and not {"torch", "rclpy"} & set(report["loaded"])
    labels = cv2.imread(str(tmp_path / "out" / "frame_labels.png"), cv2.IMREAD_UNCHANGED)
    assert labels.shape == (180, 320) and labels.max() < 19


def _rail_seg_without(packages: List[str], *args: str) -> subprocess.CompletedProcess:
    return _without(packages, "from rail_seg_ros.cli import main\nsys.exit(main(sys.argv[1:]))", *args)


def _one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and all(f in lines[0] for f in fragments), result.stderr


def test_what_needs_torch_says_so_in_one_line(tmp_path):
    image = tmp_path / "frame.png"
    cv2.imwrite(str(image), np.zeros((128, 256, 3), np.uint8))
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"not read: building the network comes first")
    predict = ["predict", "--model", "squeezenas_mac_small", "--weights", str(weights), str(image)]
    _one_line_error(_rail_seg_without(["torch"], *predict, "--backend", "onnxruntime", "--out", str(tmp_path / "a")),
                    "rail-seg predict: error:", "squeezenas_mac_small", "needs torch")
    _one_line_error(_rail_seg_without(["torch"], *predict, "--backend", "torch", "--out", str(tmp_path / "b")),
                    "backend torch needs torch")
    _one_line_error(_rail_seg_without(["torch"], "models"), "needs torch")
    _one_line_error(_rail_seg_without(["torch"], "train", "--model", "fast_scnn"), "rail-seg train: error: needs torch")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_every_command_is_listed_and_the_bag_tools_explain_a_missing_rosbags(tmp_path):
    listing = _rail_seg_without(["torch", "rosbags"], "--help")
    assert listing.returncode == 0, listing.stderr
    assert all(name in listing.stdout for name in ("make-bag", "bench", "record", "train", "export", "predict"))
    helped = _rail_seg_without(["rosbags"], "make-bag", "--help")
    assert helped.returncode == 0 and "needs rosbags" in helped.stdout and "Python 3.10+" in helped.stdout
    _one_line_error(_rail_seg_without(["rosbags"], "bench", "bags/sample", "--model", "rail_default", "--out",
                                      str(tmp_path / "report")), "rail-seg bench: error: needs rosbags", "3.10+")
    # demo imports rosbags only once it runs
    _one_line_error(_rail_seg_without(["rosbags"], "demo", "--out", str(tmp_path / "demo")),
                    "rail-seg demo: error: needs rosbags")
    assert not (tmp_path / "report").exists() and not (tmp_path / "demo").exists()
