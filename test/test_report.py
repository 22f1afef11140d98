"""Tests of rail_seg_ros.report: report.json keys, report.md text, plots, samples, atomic folder."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from rail_seg_ros.contract import Stage
from rail_seg_ros.errors import RailSegError
from rail_seg_ros.labels import CITYSCAPES, RAILSEM19, colorize
from rail_seg_ros.metrics import MIOU_DEFINITION, ConfusionMatrix, StageTimer
from rail_seg_ros.report import REPORT_KEYS, build_report, to_jsonable, write_report

REQUIRED_KEYS = (
    "frames", "dropped", "unmatched", "miou", "pixel_accuracy", "per_class", "category_miou", "latency_ms",
    "jitter_ms", "fps", "sent", "received", "stages_ms", "model", "backend", "precision", "bag", "mode",
    "miou_definition", "partial",
)
PLOTS = ("latency_histogram.png", "latency_timeline.png", "per_class_iou.png", "confusion_matrix.png")


def _strict_json(path):
    def reject(name):
        raise AssertionError(f"{name} in JSON")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=reject)


def _confusion(label_set, seed=0):
    rng = np.random.default_rng(seed)
    n = label_set.num_classes
    gt = rng.integers(0, n - 1, (24, 32)).astype(np.uint8)  # the last class never occurs
    gt[:2] = 255
    pred = gt.copy()
    wrong = rng.random(gt.shape) < 0.2
    pred[wrong] = rng.integers(0, n - 1, int(wrong.sum()))
    cm = ConfusionMatrix(n)
    cm.update(pred, gt)
    return cm, pred


def _run():
    timer = StageTimer()
    timer.add(Stage.DECODE, 1.5)
    timer.add(Stage.INFER, 12.0)
    return {"model": "fastscnn", "backend": "onnxruntime", "precision": "fp16", "bag": "bags/demo",
            "mode": "live", "sent": 40, "received": 37, "unmatched": 2, "stages_ms": timer}


LATENCIES = [20.0 + (i % 7) * 1.5 for i in range(37)]
RECEIVE = [i / 10 for i in range(37)]


def test_build_report_fills_facts():
    cm, _ = _confusion(CITYSCAPES)
    report = build_report(cm, CITYSCAPES, LATENCIES, RECEIVE, _run())
    assert set(REQUIRED_KEYS) <= set(report) and set(REQUIRED_KEYS) <= set(REPORT_KEYS)
    assert report["dropped"] == 3 and report["frames"] == 37
    assert report["fps"] == pytest.approx(10.0)
    assert report["jitter_ms"] == pytest.approx(0.0, abs=1e-9)
    assert report["stages_ms"] == {Stage.DECODE: 1.5, Stage.INFER: 12.0}
    assert report["latency_ms"]["p50"] == float(np.percentile(LATENCIES, 50))
    assert report["miou"] == cm.miou() and report["category_miou"] == cm.category_miou(CITYSCAPES)
    assert report["miou_definition"] == MIOU_DEFINITION and report["partial"] is False
    assert build_report(cm, CITYSCAPES, run={"fps": 25.0})["fps"] == 25.0


def test_to_jsonable_turns_nan_into_null():
    data = to_jsonable({"a": float("nan"), "b": np.float32(1.5), "c": [np.int64(3), float("inf")],
                        "d": np.array([1, 2])})
    assert data == {"a": None, "b": 1.5, "c": [3, None], "d": [1, 2]}


def test_write_report_full(tmp_path):
    cm, pred = _confusion(CITYSCAPES)
    report = build_report(cm, CITYSCAPES, LATENCIES, RECEIVE, _run())
    samples = [("frame 001", colorize(pred, CITYSCAPES)), ("frame/001", colorize(pred, CITYSCAPES))]
    out = write_report(tmp_path / "report", report, cm, CITYSCAPES, LATENCIES, RECEIVE, samples)
    assert out == tmp_path / "report"
    assert [p.name for p in tmp_path.iterdir()] == ["report"]  # no temporary folder left

    data = _strict_json(out / "report.json")
    for key in REQUIRED_KEYS:
        assert key in data, key
    assert data["per_class"]["bicycle"] is None  # absent class: NaN written as null
    assert data["per_class"]["road"] == pytest.approx(cm.iou()[0])
    assert set(data["latency_ms"]) >= {"p50", "p90", "p99", "max", "mean"}
    assert data["category_miou"] == pytest.approx(cm.category_miou(CITYSCAPES))
    assert data["partial"] is False and data["sent"] == 40

    md = (out / "report.md").read_text(encoding="utf-8")
    assert "PARTIAL" not in md
    for name in CITYSCAPES.names + CITYSCAPES.category_names:
        assert f"| {name} |" in md, name
    assert f"| mIoU | {cm.miou() * 100:.1f} % |" in md
    assert "fastscnn" in md and "onnxruntime" in md and "bags/demo" in md
    assert MIOU_DEFINITION in md and f"| {Stage.INFER} | 12.00 |" in md

    for plot in PLOTS:
        image = cv2.imread(str(out / plot))
        assert image is not None and image.shape[0] > 100 and image.shape[1] > 100, plot
        assert f"({plot})" in md
    saved = sorted(p.name for p in (out / "samples").iterdir())
    assert saved == ["frame_001.png", "frame_001_1.png"]
    sample = cv2.imread(str(out / "samples" / "frame_001.png"))
    np.testing.assert_array_equal(sample[..., ::-1], colorize(pred, CITYSCAPES))  # RGB kept
    assert ConfusionMatrix.from_dict(_strict_json(out / "confusion.json")).total == cm.total


def test_latency_only_report_without_ground_truth(tmp_path):
    report = build_report(None, RAILSEM19, LATENCIES, None, _run())
    out = write_report(tmp_path / "r", report, None, RAILSEM19, LATENCIES, None)
    data = _strict_json(out / "report.json")
    assert data["miou"] is None and data["pixel_accuracy"] is None and data["per_class"] is None
    assert data["category_miou"] is None and data["has_ground_truth"] is False
    assert data["latency_ms"]["max"] == max(LATENCIES)
    assert data["fps"] is None and data["jitter_ms"] is None  # no receive times
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "latency-only" in md and "| mIoU | n/a |" in md
    assert (out / "latency_histogram.png").is_file() and (out / "latency_timeline.png").is_file()
    assert not (out / "per_class_iou.png").exists() and not (out / "confusion_matrix.png").exists()


def test_category_miou_null_without_categories(tmp_path):
    cm, _ = _confusion(RAILSEM19)
    out = write_report(tmp_path / "r", build_report(cm, RAILSEM19), cm, RAILSEM19)
    data = _strict_json(out / "report.json")
    assert data["category_miou"] is None and data["miou"] == pytest.approx(cm.miou())
    assert "rail-track" in (out / "report.md").read_text(encoding="utf-8")
    assert (out / "confusion_matrix.png").is_file() and not (out / "latency_histogram.png").exists()


def test_partial_flag_shown(tmp_path):
    report = build_report(None, RAILSEM19, LATENCIES, RECEIVE, _run())
    out = write_report(tmp_path / "r", report, None, RAILSEM19, LATENCIES, RECEIVE, partial=True)
    assert _strict_json(out / "report.json")["partial"] is True
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "PARTIAL" in md.split("## Summary")[0]


def test_existing_report_replaced_only_on_success(tmp_path):
    target = tmp_path / "r"
    write_report(target, build_report(None, RAILSEM19, [5.0]), None, RAILSEM19, [5.0])
    first = _strict_json(target / "report.json")
    bad_samples = [("broken", np.zeros((4, 4), np.float32))]
    with pytest.raises(ValueError):
        write_report(target, build_report(None, RAILSEM19, [9.0]), None, RAILSEM19, [9.0], samples=bad_samples)
    assert _strict_json(target / "report.json") == first
    assert [p.name for p in tmp_path.iterdir()] == ["r"]
    write_report(target, build_report(None, RAILSEM19, [9.0]), None, RAILSEM19, [9.0])
    assert _strict_json(target / "report.json")["latency_ms"]["max"] == 9.0


def test_report_md_is_written_once_with_the_run_details(tmp_path, monkeypatch):
    run = dict(_run(), notes=["a note"], rate="2 x recorded", node="/front/node", iteration_rule="best and worst out",
               iterations=[{"label": f"run {i}/3", "sent": 40, "received": 37, "kept": i == 2} for i in (1, 2, 3)],
               trials=[{"label": "trial 1: back to back", "sent": 6, "received": 6}], max_rate_hz=12.5, max_loss=0.05)
    report = build_report(None, RAILSEM19, LATENCIES, RECEIVE, run)
    written, original_write, original_read = [], Path.write_text, Path.read_text

    def write_text(path, *args, **kwargs):
        written.append(path.name)
        return original_write(path, *args, **kwargs)

    def read_text(path, *args, **kwargs):
        assert path.name != "report.md", "report.md is read back"
        return original_read(path, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", write_text)
    monkeypatch.setattr(Path, "read_text", read_text)
    out = write_report(tmp_path / "r", report, None, RAILSEM19, LATENCIES, RECEIVE)
    monkeypatch.undo()
    assert written.count("report.md") == 1
    md = (out / "report.md").read_text(encoding="utf-8")
    assert md.index("## Summary") < md.index("## Run details") < md.index("## Iterations") < md.index(
        "## Max-rate search")
    assert "> a note" in md and "| publish rate | 2 x recorded |" in md and "| node | /front/node |" in md
    assert "| run 2/3 | 40 | 37 | n/a |" in md and md.count(" | no |") == 2
    assert "**12.50 Hz**" in md and "at most 5 % of the frames" in md


def test_a_folder_holding_other_files_is_left_alone(tmp_path):
    target = tmp_path / "r"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    with pytest.raises(RailSegError, match="not a report's"):
        write_report(target, build_report(None, RAILSEM19, [5.0]), None, RAILSEM19, [5.0])
    assert [p.name for p in target.iterdir()] == ["notes.txt"] and (target / "notes.txt").read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir()] == ["r"]  # nothing half-written beside it
    (tmp_path / "file").write_text("x")
    with pytest.raises(RailSegError, match="not a folder"):
        write_report(tmp_path / "file", build_report(None, RAILSEM19, [5.0]), None, RAILSEM19, [5.0])
    assert (tmp_path / "file").read_text() == "x"


def test_an_empty_folder_becomes_the_report(tmp_path):
    target = tmp_path / "r"
    target.mkdir()
    write_report(target, build_report(None, RAILSEM19, [5.0]), None, RAILSEM19, [5.0])
    assert _strict_json(target / "report.json")["latency_ms"]["max"] == 5.0
    assert [p.name for p in tmp_path.iterdir()] == ["r"]
