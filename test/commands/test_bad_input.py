"""Every bad input the outside probe tried on the CLI: one line naming the thing and what is wrong, exit 2,
no traceback, nothing half-written and nothing of the user's touched (issue 11, "Bad input")."""

import os
from pathlib import Path
from typing import Callable, Dict, List

import cv2
import numpy as np
import pytest
from conftest import run_cli

# The card values the probe found ending in a traceback (and the ones silently truncated or accepted).
BAD_CARD_LINES = {
    "architecture_list": ("architecture: [a, b]\n", "architecture ['a', 'b'] is not text"),
    "label_set_number": ("architecture: squeezenas_mac_small\nlabel_set: 5\n", "label_set 5 is not text"),
    "mean_scalar": ("architecture: squeezenas_mac_small\nmean: 0.5\n", "mean 0.5 is not a list of 3 numbers"),
    "mean_words": ("architecture: squeezenas_mac_small\nmean: [a, b, c]\n", "must be 3 numbers"),
    "mean_nan": ("architecture: squeezenas_mac_small\nmean: [.nan, 0.4, 0.4]\n", "holds NaN or infinity"),
    "std_zero": ("architecture: squeezenas_mac_small\nstd: 0\n", "std 0 is not a list of 3 numbers"),
    "std_inf": ("architecture: squeezenas_mac_small\nstd: [.inf, 0.2, 0.2]\n", "holds NaN or infinity"),
    "size_scalar": ("architecture: squeezenas_mac_small\ninput_size: 256\n", "input_size 256 is not HxW"),
    "size_one": ("architecture: squeezenas_mac_small\ninput_size: [256]\n", "input_size [256] is not HxW"),
    "size_words": ("architecture: squeezenas_mac_small\ninput_size: [\"a\", \"b\"]\n", "is not HxW"),
    "size_float": ("architecture: squeezenas_mac_small\ninput_size: [256.0, 512.0]\n", "is not HxW"),
    "size_huge": ("architecture: squeezenas_mac_small\ninput_size: [100000, 200000]\n", "larger than 8192"),
    "weights_number": ("architecture: squeezenas_mac_small\nweights: 12345\n", "weights 12345 is not a path"),
}


def write_bad_card(folder: Path, case: str) -> Path:
    path = folder / f"{case}.yaml"
    path.write_text(BAD_CARD_LINES[case][0])
    return path


def fails_with_one_line(capsys, args: List[object], words: str) -> str:
    """Run ``rail-seg ARGS`` in this process: exit 2 and one stderr line holding ``words`` (no traceback)."""
    code = run_cli(*args)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("predict: ")]  # progress
    assert code == 2, err
    assert len(lines) == 1, lines
    assert words in lines[0] and lines[0].startswith("rail-seg "), lines[0]
    return lines[0]


def snapshot(folder: Path) -> Dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def image(path: Path, height: int = 96, width: int = 160) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8))
    return path


@pytest.mark.parametrize("case", sorted(BAD_CARD_LINES))
def test_card_values(tmp_path, capsys, case):
    card = write_bad_card(tmp_path, case)
    fails_with_one_line(capsys, ["bench-model", "--model", card, "--backend", "torch"], BAD_CARD_LINES[case][1])


def test_binary_card(tmp_path, capsys):
    card = tmp_path / "binary.yaml"
    card.write_bytes(bytes(range(256)) * 8)
    fails_with_one_line(capsys, ["bench-model", "--model", card], "is not a text (YAML) file")


def test_weights_path_is_a_folder(tmp_path, capsys):
    out = tmp_path / "out"
    fails_with_one_line(capsys, ["predict", "--model", "squeezenas_mac_small", "--weights", tmp_path,
                                 image(tmp_path / "x.png"), "--out", out], "is a folder, not a checkpoint file")
    assert not out.exists()


# ---- --out ------------------------------------------------------------------------------------------

def _existing_file(tmp_path: Path) -> Path:
    path = tmp_path / "taken"
    path.write_text("the user's")
    return path


def _full_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "full"
    folder.mkdir()
    (folder / "notes.txt").write_text("the user's")
    return folder


OUT_CASES: Dict[str, Callable[[Path], object]] = {
    "existing_file": _existing_file,
    "proc": lambda tmp_path: "/proc/rail_seg_out",
    "sys": lambda tmp_path: "/sys/rail_seg_out",
    "current_folder": lambda tmp_path: ".",
    "non_empty_folder": _full_folder,
}
OUT_WORDS = {"existing_file": "exists and is a file", "proc": "cannot write in /proc", "sys": "cannot write in /sys",
             "current_folder": "is the current folder", "non_empty_folder": "holds files already"}


@pytest.mark.parametrize("case", sorted(OUT_CASES))
def test_predict_out(tmp_path, capsys, monkeypatch, small_card, case):
    frame = image(tmp_path / "in" / "x.png")
    monkeypatch.chdir(tmp_path)
    out = OUT_CASES[case](tmp_path)
    before = snapshot(tmp_path)
    fails_with_one_line(capsys, ["predict", "--model", small_card, "--backend", "torch", frame, "--out", out],
                        OUT_WORDS[case])
    assert snapshot(tmp_path) == before  # nothing written, nothing of the user's changed


def test_predict_force_writes_beside_the_users_files(tmp_path, capsys, small_card):
    folder = _full_folder(tmp_path)
    assert run_cli("predict", "--model", small_card, "--backend", "torch", image(tmp_path / "x.png"),
                   "--out", folder, "--force") == 0
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "x_color.png", "x_labels.png", "x_overlay.png"]
    assert (folder / "notes.txt").read_text() == "the user's"


def test_predict_duplicate_output_names_refused_before_work(tmp_path, capsys):
    first, second = image(tmp_path / "a" / "x.png"), image(tmp_path / "b" / "x.png")
    out = tmp_path / "out"
    # the model does not exist: the names are refused before it would be loaded
    fails_with_one_line(capsys, ["predict", "--model", tmp_path / "no_card.yaml", first, second, "--out", out],
                        "would both be written as x_labels.png")
    assert not out.exists()


def test_predict_image_decoding_to_20000x20000(tmp_path, capsys, small_card):
    from test_image_codec import huge_png

    huge = tmp_path / "huge.png"
    huge.write_bytes(huge_png())
    out = tmp_path / "out"
    fails_with_one_line(capsys, ["predict", "--model", small_card, "--backend", "torch", huge, "--out", out],
                        "20000x20000 = 400.0 Mpx is larger than the limit of 50 Mpx")
    assert not out.exists()
    fails_with_one_line(capsys, ["predict", "--model", small_card, "--backend", "torch", image(tmp_path / "s.png"),
                                 "--max-pixels", "1000", "--out", out], "limit of 0.001 Mpx")
    assert not out.exists()


@pytest.mark.parametrize("case", ["existing_file", "non_empty_folder", "current_folder"])
def test_bench_out_leaves_the_users_files(tmp_path, capsys, monkeypatch, small_card, case):
    bag = Path(__file__).resolve().parents[2] / "bags" / "sample"
    monkeypatch.chdir(tmp_path)
    out = OUT_CASES[case](tmp_path)
    before = snapshot(tmp_path)
    words = {"existing_file": "exists and is not a folder", "non_empty_folder": "holds files that are not a report's",
             "current_folder": "is the current folder"}[case]
    fails_with_one_line(capsys, ["bench", bag, "--model", small_card, "--backend", "torch", "--out", out], words)
    assert snapshot(tmp_path) == before


def test_export_out_is_a_folder(tmp_path, capsys, small_card):
    fails_with_one_line(capsys, ["export", "--model", small_card, "--out", tmp_path], "is a folder; name a file")


def test_export_out_unwritable(tmp_path, capsys, small_card):
    fails_with_one_line(capsys, ["export", "--model", small_card, "--out", "/proc/rail_seg.onnx"],
                        "cannot write in /proc")


# ---- numbers and names ------------------------------------------------------------------------------------

def test_export_calib_frames_zero(tmp_path, capsys, small_card):
    out = tmp_path / "x.onnx"
    fails_with_one_line(capsys, ["export", "--model", small_card, "--calib-frames", "0", "--out", out],
                        "--calib-frames 0 must be at least 1")
    assert not out.exists()


def test_synth_size_too_large(tmp_path, capsys):
    out = tmp_path / "synth"
    fails_with_one_line(capsys, ["synth", "--size", "100000x100000", "--n", "1", "--out", out],
                        "10000 Mpx per frame is more than 50 Mpx")
    assert not out.exists()


@pytest.mark.parametrize("flags, words", [
    (["--runs", "0"], "--runs 0 must be at least 1"),
    (["--warmup", "-1"], "--warmup -1 must not be negative"),
    (["--threads", "0"], "--threads 0 must be at least 1"),
    (["--device", "banana"], "device 'banana' is not allowed; expected auto, cpu, cuda or cuda:N"),
    (["--backend", "onnxruntime", "--cache-dir", "/proc/rail_seg_cache"], "engine cache folder /proc/rail_seg_cache"),
    (["--backend", "onnxruntime", "--cache-dir", "/sys/rail_seg_cache"], "cannot be written"),
])
def test_bench_model_numbers_device_and_cache(capsys, small_card, flags, words):
    fails_with_one_line(capsys, ["bench-model", "--model", small_card, *flags], words)


def test_bench_typestore_banana(tmp_path, capsys, small_card):
    bag = Path(__file__).resolve().parents[2] / "bags" / "sample"
    fails_with_one_line(capsys, ["bench", bag, "--model", small_card, "--typestore", "banana",
                                 "--out", tmp_path / "r"], "--typestore: typestore 'banana' is unknown")


@pytest.mark.parametrize("flags, words", [
    (["--input-topic", "bad name"], "--input-topic 'bad name' is not a valid ROS topic name"),
    (["--input-topic", "/front//image"], "holds '//'"),
    (["--node-namespace", "/9front"], "--node-namespace '/9front' is not a valid ROS namespace"),
    (["--node-name", "seg-node"], "--node-name 'seg-node' is not a valid ROS node name"),
])
def test_bench_live_ros_names(tmp_path, capsys, small_card, flags, words):
    bag = Path(__file__).resolve().parents[2] / "bags" / "sample"
    fails_with_one_line(capsys, ["bench", bag, "--model", small_card, "--mode", "live", "--use-running-node",
                                 *flags, "--out", tmp_path / "r"], words)


@pytest.mark.parametrize("flags, words", [
    (["--topics", "/front/bad%topic"], "--topics: '/front/bad%topic' is not a valid ROS topic name"),
    (["--namespace", "front/"], "--namespace 'front/' is not a valid ROS namespace: it ends with '/'"),
    (["--node-name", "9node"], "--node-name '9node' is not a valid ROS node name"),
])
def test_record_ros_names(tmp_path, capsys, flags, words):
    out = tmp_path / "rec"
    fails_with_one_line(capsys, ["record", *flags, "--duration", "1", "--out", out], words)
    assert not out.exists()


def test_make_bag_topic_names(tmp_path, capsys):
    out = tmp_path / "bag"
    fails_with_one_line(capsys, ["make-bag", "--layout", "pairs", tmp_path, "--image-topic", "/camera/image raw",
                                 "--out", out], "--image-topic '/camera/image raw' is not a valid ROS topic name")
    assert not out.exists()


def test_a_run_failing_midway_leaves_no_temporary(tmp_path, capsys, small_card):
    """The second image is damaged: the model ran on the first, yet no output and no hidden temporary remain."""
    good = image(tmp_path / "in" / "a.png")
    bad = tmp_path / "in" / "b.png"
    bad.write_bytes(good.read_bytes()[:300])
    out = tmp_path / "out"
    fails_with_one_line(capsys, ["predict", "--model", small_card, "--backend", "torch", good, bad, "--out", out],
                        "cannot be decoded")
    assert sorted(os.listdir(tmp_path)) == ["in"] and sorted(os.listdir(tmp_path / "in")) == ["a.png", "b.png"]
