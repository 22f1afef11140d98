"""bench.live over real DDS on loopback: a node the bench starts, its report and recording, Ctrl-C, a node
that dies, and the public SqueezeNAS flow (offline equals predict; live reports latency).

Each test starts segmentation_node as a process with a small random-weight card (128x256, torch on the
CPU) in a ROS domain of its own (51, 52, 55), DDS kept on localhost.
"""

import json

import cv2
import numpy as np
import pytest
from conftest import (
    BENCH_SIZE,
    REQUIRED_REPORT_KEYS,
    expected_confusion,
    read_report,
    run_cli,
    shared_path,
    tree_hashes,
)

from rail_seg_ros import bag, bench
from rail_seg_ros.contract import NODE_NAME, OUTPUT_LABELS, RECORDED_OUTPUTS, output_topics
from rail_seg_ros.metrics import ConfusionMatrix
from rail_seg_ros.model_card import load_card


def test_live_report_and_record(frames_bag, small_card, tmp_path, dds, live_args, capsys):
    dds(51)
    path, frames = frames_bag
    before = tree_hashes(path)
    out, rec = tmp_path / "report", tmp_path / "outputs"
    assert run_cli(*live_args(path, small_card, out, "--rate", "0.5", "--record", rec, "--warmup", "2")) == 0
    report = read_report(out)
    assert set(REQUIRED_REPORT_KEYS) <= set(report)
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
    topics = output_topics(bench.SPAWN_NAMESPACE)
    with bag.open_bag(rec) as recorded:
        for name in RECORDED_OUTPUTS:
            assert recorded.message_count(topics[name]) == len(frames)
    with bag.open_bag(rec) as recorded:
        labels = [(bag.header_stamp_ns(msg), bag.decode_labels_msg(msg))
                  for _, _, _, msg in recorded.read([topics[OUTPUT_LABELS]])]
    assert len({stamp for stamp, _ in labels}) == len(frames) and labels[0][1].shape == BENCH_SIZE
    printed = capsys.readouterr().out
    assert "bench live: 4 frames" in printed and f"outputs recorded in {rec}" in printed
    assert tree_hashes(path) == before


def test_live_ctrl_c_writes_a_partial_report_and_stops_the_node(frames_bag, small_card, tmp_path, dds, live_args,
                                                                monkeypatch):
    dds(52)
    path, _ = frames_bag
    original = bench.LiveBench._send
    measured = []

    def send(self, index, warmup):
        if not warmup:  # a best-effort warm-up frame may be re-sent: only measured frames are counted
            measured.append(1)
            if len(measured) == 3:  # two frames, Ctrl-C at the third
                raise KeyboardInterrupt
        return original(self, index, warmup)

    monkeypatch.setattr(bench.LiveBench, "_send", send)
    out = tmp_path / "report"
    assert run_cli(*live_args(path, small_card, out, "--rate", "0.5", "--warmup", "1")) == 130
    report = read_report(out)
    assert report["partial"] is True and report["sent"] == 2 and report["received"] <= 2
    assert report["node_exit_code"] == 0  # SIGINT: a clean shutdown
    assert "PARTIAL" in (out / "report.md").read_text()


def test_node_that_dies_is_an_error_with_its_output(frames_bag, small_card, tmp_path, dds, live_args, capsys):
    dds(55)
    path, _ = frames_bag
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    out = tmp_path / "report"
    assert run_cli(*live_args(path, small_card, out, "--weights", broken, "--ready-timeout", "60")) == 2
    err = capsys.readouterr().err
    assert f"{NODE_NAME} exited with status 2" in err and "broken.pt" in err
    assert not out.exists()


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
