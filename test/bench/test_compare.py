"""rail-seg compare on a tiny bag with two tiny cards: the report's rows, plot and samples, the Pareto
front, and the refusals before the run (a folder that is not a report, a model given twice)."""

import json

import pytest
from conftest import expected_confusion, read_report, run_cli, write_small_card

from rail_seg_ros.bench.compare import pareto_front

pytestmark = pytest.mark.needs_torch


@pytest.fixture(scope="module")
def two_cards(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cards")
    return write_small_card(folder), write_small_card(folder, "unet_small", seed=1)


def test_compare_writes_one_report_with_a_row_per_model(frames_bag, two_cards, tmp_path, capsys):
    path, frames = frames_bag
    out = tmp_path / "cmp"
    assert run_cli("compare", path, "--model", two_cards[0], "--model", two_cards[1], "--backend", "torch",
                   "--device", "cpu", "--warmup", "0", "--samples", "2", "--out", out, "--no-progress") == 0
    report = read_report(out)
    rows = report["models"]
    assert [r["model"] for r in rows] == [c.stem for c in two_cards]
    assert [r["architecture"] for r in rows] == ["squeezenas_mac_small", "unet_small"]
    for row, card in zip(rows, two_cards):
        assert row["frames"] == len(frames) and 0 < row["model_ms"] <= row["end_to_end_ms"]
        assert row["fps"] == pytest.approx(1000.0 / row["end_to_end_ms"])
        assert row["miou"] == pytest.approx(expected_confusion(card, frames).miou())  # the same frames, scored
        assert len(row["per_class"]) == 19 and row["params"] > 0 and row["gmacs"] > 0
    assert rows[0]["params"] == 277_598 and rows[1]["params"] == 1_942_883
    assert sum(r["pareto"] for r in rows) >= 1
    assert report["plots"] == ["accuracy_vs_latency.png"] and (out / "accuracy_vs_latency.png").stat().st_size > 0
    assert len(report["samples"]) == 2 and all((out / s).is_file() for s in report["samples"])
    markdown = (out / "report.md").read_text()
    assert all(f"| {c.stem} | " in markdown for c in two_cards) and "## Per-class IoU" in markdown
    # this bag has no track truth: no track-ahead figures, and the notes say why
    assert all(r["track_ahead"] is None for r in rows) and "## Track ahead" not in markdown
    assert any(n.startswith("Track ahead not scored: no track truth in bag") for n in report["notes"])
    assert "report:" in capsys.readouterr().out
    # a second run replaces the earlier compare report
    assert run_cli("compare", path, "--model", two_cards[1], "--model", two_cards[0], "--backend", "torch",
                   "--device", "cpu", "--warmup", "0", "--samples", "1", "--out", out, "--no-progress") == 0
    assert [r["model"] for r in read_report(out)["models"]] == [two_cards[1].stem, two_cards[0].stem]


def test_compare_refuses_before_running(frames_bag, two_cards, tmp_path, capsys):
    path, _ = frames_bag
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    assert run_cli("compare", path, "--model", two_cards[0], "--model", two_cards[1], "--out", other) == 2
    assert "not a report" in capsys.readouterr().err and (other / "notes.txt").read_text() == "keep"
    assert run_cli("compare", path, "--model", two_cards[0], "--model", two_cards[0], "--out", tmp_path / "x") == 2
    assert "given twice" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_pareto_front_keeps_the_models_nothing_beats():
    rows = [{"end_to_end_ms": 10, "miou": 0.5}, {"end_to_end_ms": 20, "miou": 0.7},
            {"end_to_end_ms": 30, "miou": 0.6}, {"end_to_end_ms": 5, "miou": None}]
    assert pareto_front(rows) == [True, True, False, False]
    assert json.dumps(pareto_front([])) == "[]"
