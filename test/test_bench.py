"""Tests of ``rail-seg bench`` (offline and live over real DDS on loopback) and ``rail-seg record``.

Live tests start segmentation_node as a process with a small random-weight card (128x256, torch on
the CPU), each in a ROS domain of its own (51..55), DDS kept on localhost.
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np
import pytest
from conftest import shared_path

from rail_seg_ros import bag, bench, cli
from rail_seg_ros.backends.base import Backend
from rail_seg_ros.metrics import ConfusionMatrix
from rail_seg_ros.model_card import load_card
from rail_seg_ros.pipeline import Segmenter
from rail_seg_ros.report import REPORT_KEYS

REQUIRED_KEYS = (
    "frames", "dropped", "unmatched", "miou", "pixel_accuracy", "per_class", "category_miou", "latency_ms",
    "jitter_ms", "fps", "sent", "received", "stages_ms", "model", "backend", "precision", "bag", "mode",
    "miou_definition",
)
HEIGHT, WIDTH = 128, 256


# ---- helpers -----------------------------------------------------------------------------------------

def random_frames(count: int, seed: int = 0, gt: bool = True) -> List[Tuple[np.ndarray, Optional[np.ndarray]]]:
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        image = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
        image = cv2.GaussianBlur(image, (9, 9), 3)  # some structure, so the network's output varies
        labels = rng.integers(0, 19, (HEIGHT, WIDTH)).astype(np.uint8) if gt else None
        if labels is not None:
            labels[:4] = 255
        frames.append((image, labels))
    return frames


def tree_hashes(root: Path) -> Dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def read_report(folder: Path) -> dict:
    def reject(name):
        raise AssertionError(f"{name} in report.json")

    return json.loads((folder / "report.json").read_text(encoding="utf-8"), parse_constant=reject)


_SEGMENTERS: Dict[str, Segmenter] = {}


def torch_segmenter(card: Path) -> Segmenter:
    """One torch Segmenter per card for the whole module (loading one costs seconds on a busy machine)."""
    if str(card) not in _SEGMENTERS:
        _SEGMENTERS[str(card)] = Segmenter.from_options(str(card), backend="torch", device="cpu")
    return _SEGMENTERS[str(card)]


def expected_confusion(card: Path, frames) -> ConfusionMatrix:
    """What the bench should find: the same Segmenter run over the same frames, scored here."""
    segmenter = torch_segmenter(card)
    cm = ConfusionMatrix(19)
    for image, gt in frames:
        if gt is not None:
            cm.update(segmenter.process(image).labels, gt)
    return cm


@pytest.fixture()
def dds(monkeypatch):
    """Pick a ROS domain of the test's own; DDS on localhost only."""
    def use(domain: int) -> Dict[str, str]:
        monkeypatch.setenv("ROS_DOMAIN_ID", str(domain))
        monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
        monkeypatch.setenv("ROS_LOCALHOST_ONLY", "1")
        return dict(os.environ)
    return use


@pytest.fixture(scope="module")
def frames_bag(tmp_path_factory) -> Tuple[Path, list]:
    frames = random_frames(4, seed=1)
    path = bag.write_frames_bag(tmp_path_factory.mktemp("bags") / "drive", frames, fps=10.0, progress=False)
    return path, frames


def run_cli(*args: str) -> int:
    return cli.main([str(a) for a in args])


# ---- hand-computed scores ------------------------------------------------------------------------------

class ImageCodedBackend(Backend):
    """Predicts the label written into the image: red channel // 10 (so warm-up runs change nothing)."""

    name = "coded"

    def __init__(self, size):
        super().__init__("fp32", "cpu", ("labels",), size)

    def infer(self, images):
        return {"labels": (images[..., 0] // 10).astype(np.uint8)}


def test_offline_scores_equal_a_hand_computed_confusion(tmp_path, small_card):
    gt = np.zeros((HEIGHT, WIDTH), np.uint8)
    gt[64:] = 1
    gt[127] = 255  # ignored: 256 pixels
    pred_a = np.zeros_like(gt)  # everything class 0
    pred_b = gt.copy()
    pred_b[64:127, :128] = 2  # half of class 1 taken for class 2
    pred_b[127] = 2  # under the ignore row: not counted
    frames = []
    for pred, labels in ((pred_a, gt), (pred_b, gt), (pred_a, None)):  # the third frame has no ground truth
        image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        image[..., 0] = pred * 10
        frames.append((image, labels))
    path = bag.write_frames_bag(tmp_path / "coded", frames, progress=False)
    card = load_card(str(small_card))
    segmenter = Segmenter(card, ImageCodedBackend(card.input_size))
    result = bench.run_offline(path, segmenter, samples=2, progress=False)
    folder, report = bench.write_bench_report(result, tmp_path / "report")

    # class 0: TP 16384 + 16384, FP 16128 (frame a's class 1), FN 0
    # class 1: TP 63*128 = 8064, FP 0, FN 16128 (frame a) + 8064 (frame b, predicted 2)
    # class 2: TP 0, FP 8064, FN 0
    iou0, iou1, iou2 = 32768 / (32768 + 16128), 8064 / (8064 + 16128 + 8064), 0.0
    assert result.confusion.matrix[0, 0] == 32768 and result.confusion.matrix[1, 0] == 16128
    assert result.confusion.matrix[1, 1] == 8064 and result.confusion.matrix[1, 2] == 8064
    assert result.confusion.total == 2 * (16384 + 16128)
    saved = read_report(folder)
    assert saved["miou"] == pytest.approx((iou0 + iou1 + iou2) / 3, abs=1e-12)
    assert saved["pixel_accuracy"] == pytest.approx((32768 + 8064) / 65024, abs=1e-12)
    per_class = saved["per_class"]
    assert per_class["road"] == pytest.approx(iou0) and per_class["sidewalk"] == pytest.approx(0.25)
    assert per_class["construction"] == 0.0 and per_class["fence"] is None
    assert saved["frames"] == 3 and saved["unmatched"] == 1 and saved["mode"] == "offline"
    assert saved["latency_ms"]["count"] == 3 and saved["latency_ms"]["min"] > 0
    assert set(saved["stages_ms"]) == {"decode", "preprocess", "infer", "postprocess"}
    assert len(saved["samples"]) == 2 and all((folder / s).is_file() for s in saved["samples"])
    assert report["miou"] == saved["miou"]


def test_score_labels_resizes_the_prediction_nearest():
    cm = ConfusionMatrix(19)
    pred = np.array([[0, 1], [2, 3]], np.uint8)  # at half the ground truth's size
    gt = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 0, 0], [255, 255, 0, 0]], np.uint8)
    bench.score_labels(cm, pred, gt)
    # top-left 4 px class 0 right, top-right 4 px class 1 right, bottom-left 2 valid px class 2 right,
    # bottom-right 4 px gt 0 predicted 3
    assert cm.matrix[0, 0] == 4 and cm.matrix[1, 1] == 4 and cm.matrix[2, 2] == 2 and cm.matrix[0, 3] == 4
    assert cm.total == 14
    assert cm.pixel_accuracy() == pytest.approx(10 / 14)


# ---- offline through the CLI -------------------------------------------------------------------------

def test_offline_matches_the_pipeline_scored_directly(tmp_path, small_card, capsys):
    frames = random_frames(3, seed=2)
    frames[1] = (frames[1][0], None)  # a frame without ground truth is counted, not scored
    path = bag.write_frames_bag(tmp_path / "bag", frames, progress=False)
    before = tree_hashes(path)
    out = tmp_path / "report"
    assert run_cli("bench", path, "--model", small_card, "--backend", "torch", "--device", "cpu",
                   "--out", out, "--no-progress", "--samples", "2", "--warmup", "1") == 0
    report = read_report(out)
    expected = expected_confusion(small_card, frames)
    assert set(REQUIRED_KEYS) <= set(report) and set(REPORT_KEYS) <= set(report)
    assert report["miou"] == pytest.approx(expected.miou(), abs=1e-9)
    assert report["pixel_accuracy"] == pytest.approx(expected.pixel_accuracy(), abs=1e-9)
    saved = json.loads((out / "confusion.json").read_text())
    assert saved["matrix"] == expected.matrix.tolist()
    assert report["frames"] == 3 and report["unmatched"] == 1 and report["partial"] is False
    assert report["bag"] == str(path) and report["backend"].startswith("torch")
    assert (out / "report.md").read_text().startswith("# rail-seg bench report")
    assert {"latency_histogram.png", "per_class_iou.png"} <= set(report["plots"])
    assert len(list((out / "samples").glob("*.png"))) == 2
    printed = capsys.readouterr().out
    assert "bench offline: 3 frames" in printed and f"report: {out}" in printed
    assert tree_hashes(path) == before  # the input bag is never modified


def test_offline_reads_mcap_bags(tmp_path, small_card):
    frames = random_frames(3, seed=4)
    path = bag.write_frames_bag(tmp_path / "bag-mcap", frames, storage="mcap", progress=False)
    assert next(path.glob("*.mcap"))
    result = bench.run_offline(path, torch_segmenter(small_card), samples=0, progress=False, warmup=0)
    expected = expected_confusion(small_card, frames)
    assert result.confusion.matrix.tolist() == expected.matrix.tolist() and result.confusion.total > 0
    assert result.run["frames"] == 3 and result.run["unmatched"] == 0 and not result.partial
    assert len(result.latencies_ms) == 3 and result.samples == []


def test_offline_without_ground_truth_is_latency_only(tmp_path, small_card, capsys):
    path = bag.write_frames_bag(tmp_path / "nogt", random_frames(2, gt=False), progress=False)
    out = tmp_path / "report"
    assert run_cli("bench", path, "--model", small_card, "--backend", "torch", "--device", "cpu",
                   "--out", out, "--no-progress", "--warmup", "0") == 0
    report = read_report(out)
    assert report["has_ground_truth"] is False and report["miou"] is None and report["per_class"] is None
    assert report["latency_ms"]["count"] == 2 and report["frames"] == 2
    assert "latency-only" in capsys.readouterr().err
    assert "latency-only report" in (out / "report.md").read_text()
    assert not (out / "confusion.json").exists()


def test_missing_image_topic_lists_the_bag_topics(frames_bag, small_card, tmp_path, capsys):
    path, _ = frames_bag
    assert run_cli("bench", path, "--model", small_card, "--image-topic", "/front/image",
                   "--out", tmp_path / "r", "--no-progress") == 2
    err = capsys.readouterr().err
    assert "no topic /front/image" in err and "/camera/image_raw" in err and "/camera/labels_gt" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_truncated_bag_is_a_clear_error(tmp_path, small_card, storage, capsys):
    path = bag.write_frames_bag(tmp_path / "cut", random_frames(3), storage=storage, progress=False)
    data = next(p for p in path.iterdir() if p.suffix in (".db3", ".mcap"))
    with data.open("r+b") as handle:
        handle.truncate(data.stat().st_size // 2)
    assert run_cli("bench", path, "--model", small_card, "--out", tmp_path / "r", "--no-progress") == 2
    err = capsys.readouterr().err
    assert f"bag {path}" in err and "cannot be read" in err
    assert not (tmp_path / "r").exists()


def test_ctrl_c_offline_writes_a_partial_report(tmp_path, small_card, monkeypatch, capsys):
    frames = random_frames(3, seed=3)
    path = bag.write_frames_bag(tmp_path / "bag", frames, progress=False)
    original = Segmenter.process
    calls = []

    def interrupted(self, image, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2 + 1:  # two frames, then Ctrl-C on the third
            raise KeyboardInterrupt
        return original(self, image, *args, **kwargs)

    monkeypatch.setattr(Segmenter, "process", interrupted)
    out = tmp_path / "report"
    assert run_cli("bench", path, "--model", small_card, "--backend", "torch", "--device", "cpu",
                   "--out", out, "--no-progress", "--warmup", "0", "--samples", "1") == 130
    report = read_report(out)
    assert report["partial"] is True and report["frames"] == 2 and report["latency_ms"]["count"] == 2
    monkeypatch.setattr(Segmenter, "process", original)
    assert report["pixel_accuracy"] == pytest.approx(expected_confusion(small_card, frames[:2]).pixel_accuracy())
    assert "PARTIAL" in (out / "report.md").read_text()
    assert "(PARTIAL)" in capsys.readouterr().out


def test_bad_option_combinations(frames_bag, small_card, tmp_path, capsys):
    path, _ = frames_bag
    assert run_cli("bench", path, "--model", small_card, "--record", tmp_path / "rec") == 2
    assert "--record needs --mode live" in capsys.readouterr().err
    assert run_cli("bench", path, "--model", small_card, "--out", path / "report") == 2
    assert "would overwrite the input bag" in capsys.readouterr().err
    assert run_cli("bench", path, "--model", small_card, "--mode", "live", "--rate", "0") == 2
    assert "--rate 0.0 must be positive" in capsys.readouterr().err


# ---- live, over DDS ------------------------------------------------------------------------------------

def live_args(path: Path, card: Path, out: Path, *extra) -> List[str]:
    return ["bench", str(path), "--model", str(card), "--backend", "torch", "--device", "cpu", "--mode", "live",
            "--out", str(out), "--no-progress", *[str(e) for e in extra]]


def test_live_report_and_record(frames_bag, small_card, tmp_path, dds, capsys):
    dds(51)
    path, frames = frames_bag
    before = tree_hashes(path)
    out, rec = tmp_path / "report", tmp_path / "outputs"
    assert run_cli(*live_args(path, small_card, out, "--rate", "0.5", "--record", rec, "--warmup", "2")) == 0
    report = read_report(out)
    assert set(REQUIRED_KEYS) <= set(report)
    assert report["mode"] == "live" and report["partial"] is False
    assert report["sent"] == len(frames) and report["received"] == report["sent"] and report["dropped"] == 0
    assert report["unmatched"] == 0 and report["stray"] == 0
    latency = report["latency_ms"]
    assert latency["count"] == len(frames) and 0 < latency["min"] <= latency["p50"] <= latency["p99"] <= latency["max"]
    assert report["fps"] > 0 and report["node_exit_code"] == 0 and report["node_started_by_bench"] is True
    assert report["backend"] == "torch" and report["model"] == load_card(str(small_card)).name
    # the node's labels, scored here, match the pipeline run in this process
    expected = expected_confusion(small_card, frames)
    matrix = np.asarray(json.loads((out / "confusion.json").read_text())["matrix"])
    assert matrix.sum() == expected.total and np.abs(matrix - expected.matrix).sum() <= 0.002 * expected.total
    assert report["pixel_accuracy"] == pytest.approx(expected.pixel_accuracy(), abs=1e-3)
    topics = bench.node_topics(bench.SPAWN_NAMESPACE)
    with bag.open_bag(rec) as recorded:
        for name in ("labels", "color", "overlay"):
            assert recorded.message_count(topics[name]) == len(frames)
    labels = list(bench.iter_labels(rec, topics["labels"]))
    assert len({stamp for stamp, _ in labels}) == len(frames) and labels[0][1].shape == (HEIGHT, WIDTH)
    printed = capsys.readouterr().out
    assert "bench live: 4 frames" in printed and f"outputs recorded in {rec}" in printed
    assert tree_hashes(path) == before


def test_live_ctrl_c_writes_a_partial_report_and_stops_the_node(frames_bag, small_card, tmp_path, dds,
                                                                monkeypatch):
    dds(52)
    path, _ = frames_bag
    original = bench.LiveBench._publish
    published = []

    def publish(self, msg):
        published.append(1)
        if len(published) == 1 + 3:  # one warm-up frame, two frames, Ctrl-C at the third
            raise KeyboardInterrupt
        original(self, msg)

    monkeypatch.setattr(bench.LiveBench, "_publish", publish)
    out = tmp_path / "report"
    assert run_cli(*live_args(path, small_card, out, "--rate", "0.5", "--warmup", "1")) == 130
    report = read_report(out)
    assert report["partial"] is True and report["sent"] == 2 and report["received"] <= 2
    assert report["node_exit_code"] == 0  # SIGINT: a clean shutdown
    assert "PARTIAL" in (out / "report.md").read_text()


def test_live_find_max_rate_and_iterations(frames_bag, small_card, tmp_path, dds):
    dds(53)
    path, frames = frames_bag
    out = tmp_path / "report"
    assert run_cli(*live_args(path, small_card, out, "--find-max-rate", "--max-trials", "2", "--trial-frames", "6",
                              "--iterations", "3", "--warmup", "1", "--drain-timeout", "2")) == 0
    report = read_report(out)
    trials = report["trials"]
    assert 1 <= len(trials) <= 2 and trials[0]["label"].startswith("trial 1: back to back")
    assert all(t["sent"] == 6 for t in trials)
    passing = [t for t in trials if t["loss"] <= 0.05]
    if report["max_rate_hz"] is None:
        assert not passing
    else:
        assert passing and report["max_rate_hz"] > 0
    iterations = report["iterations"]
    assert len(iterations) == 3 and sum(it["kept"] for it in iterations) == 1
    kept = next(it for it in iterations if it["kept"])
    means = sorted(it["latency_mean_ms"] for it in iterations)
    assert kept["latency_mean_ms"] == means[1]  # the best and the worst run are left out
    assert report["sent"] == kept["sent"] == len(frames) and report["latency_ms"]["count"] == kept["received"]
    assert "## Max-rate search" in (out / "report.md").read_text()


def _wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_running_node_and_the_record_command(frames_bag, small_card, tmp_path, dds):
    env = dds(54)
    path, frames = frames_bag
    namespace = "/bench_test"
    node = subprocess.Popen(
        [sys.executable, "-m", "rail_seg_ros.node", "--ros-args", "-r", f"__ns:={namespace}",
         "-p", f"model:={small_card}", "-p", "backend:=torch", "-p", "device:=cpu", "-p", "warmup_frames:=1",
         "-p", "input_qos.reliability:=reliable", "-p", "input_qos.depth:=10"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    rec = tmp_path / "recorded"
    recorder = subprocess.Popen(
        [sys.executable, "-m", "rail_seg_ros.cli", "record", "--namespace", namespace, "--topics", "labels",
         "--out", str(rec), "--no-progress"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    labels_topic = bench.node_topics(namespace)["labels"]
    session = bench.RosSession("bench_test_probe")
    try:
        assert _wait_for(lambda: session.node.count_subscribers(labels_topic) >= 1
                         and session.node.count_publishers(labels_topic) >= 1, 60)
        out = tmp_path / "report"
        assert run_cli(*live_args(path, small_card, out, "--use-running-node", "--node-namespace", namespace,
                                  "--rate", "0.5", "--warmup", "1")) == 0
        report = read_report(out)
        assert report["node_started_by_bench"] is False and report["node_exit_code"] is None
        assert report["input_topic"] == f"{namespace}/image" and report["output_topic"] == labels_topic
        assert report["received"] == report["sent"] == len(frames) and report["unmatched"] == 0
        assert node.poll() is None  # the bench leaves a running node alone
    finally:
        session.close()
        recorder.send_signal(signal.SIGINT)
        stdout, stderr = recorder.communicate(timeout=30)
        node.send_signal(signal.SIGINT)
        node.communicate(timeout=30)
    assert recorder.returncode == 0, stderr
    assert "recorded" in stdout
    with bag.open_bag(rec) as recorded:
        count = recorded.message_count(labels_topic)
    assert len(frames) + 1 <= count <= len(frames) + 3  # the measured frames and the warm-up frame(s)


def test_node_that_dies_is_an_error_with_its_output(frames_bag, small_card, tmp_path, dds, capsys):
    dds(55)
    path, _ = frames_bag
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    out = tmp_path / "report"
    assert run_cli(*live_args(path, small_card, out, "--weights", broken, "--ready-timeout", "60")) == 2
    err = capsys.readouterr().err
    assert "segmentation_node exited with status 2" in err and "broken.pt" in err
    assert not out.exists()


def test_record_without_a_node_names_what_it_waited_for(tmp_path, dds, capsys):
    dds(55)
    out = tmp_path / "rec"
    assert run_cli("record", "--namespace", "/nobody", "--wait", "1", "--out", out, "--no-progress") == 2
    err = capsys.readouterr().err
    assert "no publisher on /nobody/segmentation_node/labels" in err
    assert not out.exists()


# ---- the "done when" flow with the public SqueezeNAS fixtures ---------------------------------------------

def test_cityscapes_frame_offline_equals_predict_and_live_reports_latency(tmp_path, cache_dir, dds, capsys):
    image = shared_path("squeezenas", "reference", "input_structured_1024x2048.png")
    mac = cv2.imread(str(shared_path("squeezenas", "reference", "mac_small_labels.png")), cv2.IMREAD_GRAYSCALE)
    lat = cv2.imread(str(shared_path("squeezenas", "reference", "lat_small_labels.png")), cv2.IMREAD_GRAYSCALE)
    weights = shared_path("squeezenas", "weights", "mac_small.pth")
    gt = mac.copy()
    gt[512:] = lat[512:]  # half right, half another network's answer
    gt[:, :64] = 255
    root = tmp_path / "cityscapes"
    (root / "leftImg8bit/val/city").mkdir(parents=True)
    (root / "gtFine/val/city").mkdir(parents=True)
    (root / "leftImg8bit/val/city/city_000000_000019_leftImg8bit.png").write_bytes(image.read_bytes())
    cv2.imwrite(str(root / "gtFine/val/city/city_000000_000019_gtFine_labelTrainIds.png"), gt)
    bag_path = tmp_path / "cs-bag"
    assert run_cli("make-bag", "--layout", "cityscapes", root, "--out", bag_path, "--no-progress") == 0
    model = ["--model", "squeezenas_mac_small_cityscapes", "--weights", str(weights), "--backend", "onnxruntime",
             "--device", "cpu", "--cache-dir", str(cache_dir)]
    offline = tmp_path / "offline"
    assert run_cli("bench", bag_path, *model, "--out", offline, "--no-progress", "--warmup", "0") == 0
    predicted = tmp_path / "predicted"
    assert run_cli("predict", *model, str(root / "leftImg8bit/val/city/city_000000_000019_leftImg8bit.png"),
                   "--out", predicted) == 0
    labels = cv2.imread(str(predicted / "city_000000_000019_leftImg8bit_labels.png"), cv2.IMREAD_GRAYSCALE)
    direct = ConfusionMatrix(19)
    direct.update(labels, gt)
    report = read_report(offline)
    assert report["pixel_accuracy"] == pytest.approx(direct.pixel_accuracy(), abs=1e-4)
    assert 0.2 < report["pixel_accuracy"] < 0.9  # neither trivially right nor wrong
    for name, iou in direct.per_class(load_card("squeezenas_mac_small_cityscapes").labels).items():
        assert report["per_class"][name] == (None if iou is None else pytest.approx(iou, abs=1e-4))

    dds(55)
    live = tmp_path / "live"
    assert run_cli("bench", bag_path, *model, "--mode", "live", "--out", live, "--no-progress", "--warmup", "1",
                   "--node-param", "warmup_frames:=1", "--node-param", "publish_overlay:=false") == 0
    report = read_report(live)
    assert report["unmatched"] == 0 and report["sent"] == report["received"] == 1
    assert report["latency_ms"]["p50"] > 0 and report["latency_ms"]["p99"] >= report["latency_ms"]["p50"]
    assert report["fps"] > 0
    assert report["pixel_accuracy"] == pytest.approx(direct.pixel_accuracy(), abs=1e-4)
    capsys.readouterr()
