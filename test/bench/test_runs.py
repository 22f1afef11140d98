"""bench.runs: iterations pooled and the best and worst left out, and the max-rate search, over DDS on
loopback (domain 53)."""

from conftest import read_report, run_cli


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
