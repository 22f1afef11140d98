"""The live bench's runs: iterations pooled, the max-rate search, and :func:`run_live` that does it all.

Iterations: with ``--iterations N`` (N >= 3) the run is repeated N times and the one with the lowest
and the one with the highest mean latency are left out; latencies, frame counts and the confusion
matrix are pooled over the kept runs, fps and jitter are the means of the kept runs.

Max rate: ``--find-max-rate`` first publishes back to back; if at most ``max_loss`` of the frames
are lost that is the answer. Otherwise it bisects the publish rate (Hz, evenly spaced frames)
between 0 and the back-to-back rate, starting at the throughput seen back to back, for at most
``max_trials`` trials in all; the highest rate that lost at most ``max_loss`` is then measured with
the whole bag (``iterations`` times) for the report.
"""

import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..contract import OUTPUT_LABELS, Diag
from ..labels import LabelSet
from ..metrics import MIOU_DEFINITION, ConfusionMatrix, jitter_ms
from .live import LiveBench, LiveOptions
from .result import LIVE_FPS_DEFINITION, BenchResult, RunData, finite, no_gt_note, none_if_nan
from .track import track_report

ITERATION_RULE = ("with 3 or more iterations the runs with the lowest and the highest mean latency are left out; "
                  "the rest are pooled")


def pool_runs(runs: Sequence[RunData], label_set: LabelSet, has_gt: bool) -> Tuple[
        Optional[ConfusionMatrix], List[float], List[float], Dict[str, Any]]:
    """Latencies, confusion and counts pooled over ``runs``; receive times laid end to end (for the plots)."""
    confusion = ConfusionMatrix(label_set.num_classes) if has_gt else None
    latencies: List[float] = []
    times: List[float] = []
    offset = 0.0
    for run in runs:
        if confusion is not None and run.confusion is not None:
            confusion.merge(run.confusion)
        latencies += run.latencies_ms
        if run.receive_times_s:
            base = run.receive_times_s[0]
            gaps = np.diff(run.receive_times_s)
            step = float(np.median(gaps)) if gaps.size else 0.0
            times += [offset + t - base for t in run.receive_times_s]
            offset = times[-1] + step
    fps = [r.fps for r in runs if finite(r.fps)]
    jitters = [jitter_ms(r.receive_times_s) for r in runs]
    jitters = [j for j in jitters if finite(j)]
    counts = {
        "sent": sum(r.sent for r in runs),
        "received": sum(r.received for r in runs),
        "dropped": sum(r.dropped for r in runs),
        "stray": sum(r.stray for r in runs),
        "unmatched": sum(r.unmatched for r in runs) if has_gt else None,
        "fps": float(np.mean(fps)) if fps else None,
        "jitter_ms": float(np.mean(jitters)) if jitters else None,
        "publish_rate_hz": none_if_nan(float(np.mean([r.publish_rate_hz for r in runs]))) if runs else None,
    }
    return confusion, latencies, times, counts


def keep_runs(runs: Sequence[RunData]) -> List[int]:
    """Indices of the runs kept: all, or with three or more, all but the lowest and highest mean latency."""
    if len(runs) < 3:
        return list(range(len(runs)))
    means = [r.mean_latency_ms if finite(r.mean_latency_ms) else float("inf") for r in runs]
    order = sorted(range(len(runs)), key=lambda i: means[i])
    return sorted(order[1:-1])


def search_max_rate(bench: LiveBench, trials: List[RunData]) -> Optional[float]:
    """The highest publish rate (Hz) that loses at most ``max_loss``; None if no trial did.

    Trial 1 publishes back to back (its publish rate bounds the search). Trial 2 tries the rate the
    node's mean latency allows (1000 / mean ms); then the interval between the highest passing and
    the lowest failing rate is halved geometrically (or the failing rate halved while none passed).
    """
    opts = bench.options
    frames = max(opts.trial_frames, 1)
    first = bench.measure("trial 1: back to back", count=frames, max_rate=True, stages=False)
    trials.append(first)
    if first.interrupted:
        raise KeyboardInterrupt
    top = first.publish_rate_hz if finite(first.publish_rate_hz) else 1000.0
    if first.loss <= opts.max_loss:
        return top
    low, high = 0.0, top
    mean_ms = first.mean_latency_ms
    guess = 1000.0 / mean_ms if finite(mean_ms) and mean_ms > 0 else 10.0
    guess = min(guess, high / 2)
    for number in range(2, max(opts.max_trials, 1) + 1):
        if number == 2:
            rate = guess
        elif low > 0:
            rate = math.sqrt(low * high)
        else:
            rate = high / 2
        trial = bench.measure(f"trial {number}: {rate:.1f} Hz", count=frames, hz=rate, max_rate=False, stages=False)
        trials.append(trial)
        if trial.interrupted:
            raise KeyboardInterrupt
        if trial.loss <= opts.max_loss:
            low = rate
        else:
            high = rate
        if low > 0 and (high - low) / high < 0.05:
            break
    return low if low > 0 else None


class _Passes:
    """What the passes of one live session measured."""

    def __init__(self) -> None:
        self.runs: List[RunData] = []
        self.trials: List[RunData] = []
        self.max_rate_hz: Optional[float] = None


def _measure(bench: LiveBench, options: LiveOptions, result: BenchResult, passes: _Passes) -> None:
    """Warm up, search the max rate if asked, then measure ``iterations`` runs."""
    bench.preload()
    bench.start()
    bench.warm_up()
    hz = None
    if options.find_max_rate:
        passes.max_rate_hz = search_max_rate(bench, passes.trials)
        if passes.max_rate_hz is None:
            result.notes.append(f"no trial rate lost at most {options.max_loss:.0%} of the frames; the "
                                f"report measures the lowest rate tried")
            hz = min((t.publish_rate_hz for t in passes.trials if finite(t.publish_rate_hz)), default=1.0)
        else:
            hz = passes.max_rate_hz
    for number in range(1, max(options.iterations, 1) + 1):
        label = f"run {number}/{options.iterations}" if options.iterations > 1 else "run"
        run = bench.measure(label, hz=hz, max_rate=False if hz is not None else None)
        passes.runs.append(run)
        if run.interrupted:
            raise KeyboardInterrupt
    bench.final_diagnostics()


def run_live(bag_path: Any, options: LiveOptions) -> BenchResult:
    """Replay the bag through the node over DDS (see :mod:`rail_seg_ros.bench.live`).

    Ctrl-C returns what was measured so far, marked partial, after stopping the node.
    """
    bench = LiveBench(bag_path, options)
    result = BenchResult("live", bench.label_set, None)
    if not bench.info.has_gt:
        result.notes.append(no_gt_note(bench.info, options.gt_topic))
    if bench.track_note:
        result.notes.append(bench.track_note)
    passes = _Passes()
    failed = True
    try:
        try:
            _measure(bench, options, result, passes)
        except KeyboardInterrupt:
            result.partial = True
            result.notes.append("interrupted: the numbers cover the frames measured before Ctrl-C")
        failed = False
    finally:
        node_code = bench.close(failed)
    kept = keep_runs(passes.runs) if not result.partial else list(range(len(passes.runs)))
    confusion, latencies, times, counts = pool_runs([passes.runs[i] for i in kept], bench.label_set,
                                                    bench.info.has_gt)
    result.confusion, result.latencies_ms, result.receive_times_s = confusion, latencies, times
    if bench.track is not None and bench.scorer is not None:
        bench.scorer.score_track()   # after the runs: the stage does not compete with the node for the CPU
    result.samples = bench.samples()
    result.run.update(_live_facts(bench, options, passes, kept, node_code))
    result.run.update(counts)
    result.run["track_ahead"] = track_report(bench.track, bench.track_note)
    if options.find_max_rate:
        result.run["max_rate_hz"] = passes.max_rate_hz
        result.run["max_loss"] = options.max_loss
        result.run["trials"] = [t.summary() for t in passes.trials]
    if options.record and Path(options.record).exists():
        result.run["record"] = str(options.record)
    return result


def _live_facts(bench: LiveBench, options: LiveOptions, passes: _Passes, kept: List[int],
                node_code: Optional[int]) -> Dict[str, Any]:
    """The run's facts for the report; model, backend, precision and device as the node's diagnostics say."""
    diag = bench.diagnostics
    rate_text = ("back to back" if options.max_rate else f"{options.rate:g} x recorded")
    if options.find_max_rate:
        rate_text = f"{passes.max_rate_hz:.2f} Hz (found)" if passes.max_rate_hz is not None else "lowest trial rate"
    return {
        "model": diag.get(Diag.MODEL) or bench.card.name,
        "backend": diag.get(Diag.BACKEND) or options.backend,
        "precision": diag.get(Diag.PRECISION) or options.precision,
        "device": diag.get(Diag.DEVICE) or options.device,
        "bag": str(bench.info.path),
        "image_topic": options.image_topic,
        "gt_topic": bench.info.gt_topic,
        "mode": "live",
        "frames": sum(passes.runs[i].received for i in kept),
        "frames_in_bag": bench.info.frames,
        "stages_ms": bench.stages_ms(),
        "rate": rate_text,
        "node": bench.node_fqn,
        "node_started_by_bench": not options.use_running_node,
        "node_exit_code": node_code,
        "input_topic": bench.input_topic,
        "output_topic": bench.topics.get(OUTPUT_LABELS),
        "output_reliable": bench.output_reliable,
        "warmup_frames": max(1, options.warmup),
        "iterations": [dict(r.summary(), kept=i in kept) for i, r in enumerate(passes.runs)],
        "iteration_rule": ITERATION_RULE,
        "node_dropped": _int_or_none(diag.get(Diag.DROPPED)),
        "miou_definition": MIOU_DEFINITION,
        "fps_definition": LIVE_FPS_DEFINITION,
    }


def _int_or_none(value: Optional[str]) -> Optional[int]:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
