"""rail-seg track-ahead: label maps and images in, the JSON the issue specifies, overlays, one-line errors."""

import json
import subprocess
import sys
from pathlib import Path
from typing import List

import cv2
import numpy as np
import pytest
from track.conftest import Scene, camera, curve

from rail_seg_ros.cli import main

CAMERA_YAML = """image_width: 960
image_height: 540
camera_name: front
camera_matrix: {rows: 3, cols: 3, data: [768.0, 0.0, 480.0, 0.0, 768.0, 270.0, 0.0, 0.0, 1.0]}
distortion_model: plumb_bob
distortion_coefficients: {rows: 1, cols: 5, data: [0.0, 0.0, 0.0, 0.0, 0.0]}
"""
MOUNT = ["--camera-height", "2.4", "--camera-pitch", "4"]


@pytest.fixture()
def inputs(tmp_path: Path) -> List[Path]:
    cam = camera(960, 540, focal=0.8, height_m=2.4, pitch=4.0)
    (tmp_path / "cam.yaml").write_text(CAMERA_YAML)
    paths = [tmp_path / "person.png", tmp_path / "empty.png"]
    cv2.imwrite(str(paths[0]), Scene(cam).track(curve(None)).box("human", 40.0, 0.0).labels())
    cv2.imwrite(str(paths[1]), Scene(cam).labels())
    return paths


def _run(capsys, *args: str) -> list:
    assert main(["track-ahead", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_schema(inputs, capsys):
    out = _run(capsys, *map(str, inputs), "--camera-info", str(inputs[0].parent / "cam.yaml"), *MOUNT, "--json")
    assert [o["image"] for o in out] == [str(p) for p in inputs]
    first, empty = out
    ego = first["ego_track"]
    for key in ("left_rail", "right_rail", "centerline", "polygon"):
        assert isinstance(ego[key], list) and len(ego[key]) > 10
        assert all(len(p) == 2 and all(isinstance(c, float) for c in p) for p in ego[key])
    assert ego["source"] == "rails"
    (obstacle,) = first["obstacles"]
    assert obstacle["class"] == "human" and isinstance(obstacle["pixels"], int)
    assert obstacle["distance_m"] == pytest.approx(40.0, rel=0.02)
    u0, v0, u1, v1 = obstacle["bbox"]
    assert 0 <= u0 < u1 <= 960 and 0 <= v0 < v1 <= 540
    assert first["clear"] is False and first["clear_distance_m"] == pytest.approx(obstacle["distance_m"])
    assert empty["ego_track"] is None and empty["obstacles"] == []
    assert empty["clear"] is False and empty["clear_distance_m"] == 0.0 and empty["status"] == "no ego track"


def test_options_reach_the_stage(inputs, capsys):
    cam = str(inputs[0].parent / "cam.yaml")
    (out,) = _run(capsys, str(inputs[0]), "--camera-info", cam, *MOUNT, "--json", "--obstacle-classes", "car")
    assert out["obstacles"] == [] and out["clear"] is True
    (wide,) = _run(capsys, str(inputs[0]), "--camera-info", cam, *MOUNT, "--json", "--gauge", "1.0")
    assert wide["ego_track"]["source"] == "track-classes"   # no rail pair a metre apart: the track region stands in


def test_out_writes_overlays_and_json(inputs, tmp_path, capsys):
    out = tmp_path / "ahead"
    assert main(["track-ahead", *map(str, inputs), "--camera-info", str(tmp_path / "cam.yaml"), *MOUNT,
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "person.png: obstacle: human at" in printed and "empty.png: no ego track" in printed
    assert sorted(p.name for p in out.iterdir()) == ["empty_track.png", "person_track.png", "track_ahead.json"]
    overlay = cv2.imread(str(out / "person_track.png"))
    assert overlay.shape == (540, 960, 3)
    assert len(json.loads((out / "track_ahead.json").read_text())) == 2


def test_images_are_segmented_with_the_model(inputs, tmp_path, capsys, small_card, cache_dir):
    image = tmp_path / "frame.jpg"
    cv2.imwrite(str(image), np.random.default_rng(0).integers(0, 256, (540, 960, 3), dtype=np.uint8))
    (out,) = _run(capsys, str(image), "--model", str(small_card), "--backend", "onnxruntime", "--cache-dir",
                  str(cache_dir), "--camera-info", str(tmp_path / "cam.yaml"), *MOUNT, "--json")
    assert out["image"] == str(image) and "clear" in out


def _fails(args: List[str], message: str) -> None:
    result = subprocess.run([sys.executable, "-m", "rail_seg_ros.cli", "track-ahead", *args],
                            capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_one_line_errors(inputs, tmp_path):
    cam = str(tmp_path / "cam.yaml")
    label = str(inputs[0])
    _fails([str(tmp_path / "nope.png"), "--camera-info", cam, *MOUNT], "nope.png: no such file")
    _fails([label, "--camera-info", str(tmp_path / "none.yaml"), *MOUNT], "none.yaml: cannot read")
    _fails([label, "--camera-info", label, *MOUNT], "not a text (YAML) file")
    _fails([label, "--camera-info", cam, "--camera-height", "0"], "camera height")
    _fails([label, "--camera-info", cam, *MOUNT, "--envelope-half-width", "0.3"], "narrower than half the gauge")
    _fails([label, "--camera-info", cam, *MOUNT, "--obstacle-classes", "dragon"], "'dragon' is not a RailSem19 class")
    image = tmp_path / "frame.jpg"
    cv2.imwrite(str(image), np.zeros((64, 64, 3), np.uint8) + 100)
    _fails([str(image), "--camera-info", cam, *MOUNT], "give --model")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("keep")
    _fails([label, "--camera-info", cam, *MOUNT, "--out", str(busy)], "not an empty folder")
    assert (busy / "mine.txt").read_text() == "keep" and len(list(busy.iterdir())) == 1
