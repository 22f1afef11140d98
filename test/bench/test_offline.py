"""bench.offline through the CLI: scores equal the pipeline's, mcap bags, no ground truth, bad bags, Ctrl-C."""

import json

import pytest
from conftest import (
    REQUIRED_REPORT_KEYS,
    expected_confusion,
    random_frames,
    read_report,
    run_cli,
    torch_segmenter,
    tree_hashes,
)

from rail_seg_ros import bag, bench
from rail_seg_ros.pipeline import Segmenter
from rail_seg_ros.report import REPORT_KEYS


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
    assert set(REQUIRED_REPORT_KEYS) <= set(report) and set(REPORT_KEYS) <= set(report)
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


def test_out_folder_holding_other_files_is_refused_before_the_run(frames_bag, small_card, tmp_path, capsys):
    path, _ = frames_bag
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert run_cli("bench", path, "--model", small_card, "--backend", "torch", "--out", out, "--no-progress") == 2
    err = capsys.readouterr().err
    assert f"report folder {out}: holds files that are not a report's" in err and len(err.strip().splitlines()) == 1
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
