"""bench.runs: iterations pooled and the best and worst left out, and the max-rate search, over DDS on
loopback (domain 53)."""

import pytest
from conftest import read_report, run_cli

from rail_seg_ros.bench import RunData, keep_runs, pool_runs
from rail_seg_ros.labels import RAILSEM19


def test_live_find_max_rate_and_iterations(frames_bag, small_card, tmp_path, dds, live_args):
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


def run_data(label: str, latencies, receive_times, sent: int) -> RunData:
    return RunData(label, sent=sent, received=len(latencies), latencies_ms=list(latencies),
                   receive_times_s=list(receive_times), publish_times_s=[t - 0.01 for t in receive_times])


def test_keep_runs_leaves_out_the_best_and_the_worst():
    runs = [run_data(f"run {i}", [ms], [0.0], 1) for i, ms in enumerate((30.0, 10.0, 20.0, 40.0))]
    assert keep_runs(runs) == [0, 2]
    assert keep_runs(runs[:2]) == [0, 1]  # fewer than three: all kept


def test_pool_runs_adds_counts_and_lays_receive_times_end_to_end():
    first = run_data("a", [10.0, 12.0], [5.0, 5.1], 3)
    second = run_data("b", [20.0], [9.0], 1)
    confusion, latencies, times, counts = pool_runs([first, second], RAILSEM19, has_gt=False)
    assert confusion is None and latencies == [10.0, 12.0, 20.0]
    assert times == pytest.approx([0.0, 0.1, 0.2])  # the second run starts one median gap after the first
    assert (counts["sent"], counts["received"], counts["dropped"], counts["unmatched"]) == (4, 3, 1, None)
    assert counts["fps"] == pytest.approx((10.0 + 100.0) / 2)  # 1 / 0.1 s and, for one output, 1 / 0.01 s
