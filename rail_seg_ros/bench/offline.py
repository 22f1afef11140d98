"""The offline bench: every frame of the bag through the Segmenter in this process, scored and timed.

Stages: ``decode`` (reading the message from the bag and converting it to RGB), ``preprocess``,
``infer``, ``postprocess`` (labels back at the input size, palette image and overlay, as the node does
with its default outputs). A frame's latency is the sum of its stages; fps is 1000 / mean latency (one
stream, frames back to back; scoring is not counted).
"""

import time
from typing import Any, Dict, Optional

import numpy as np
from tqdm import tqdm

from ..bag import GT_TOPIC, IMAGE_TOPIC, BagInfo, inspect_bag, read_frames
from ..contract import OFFLINE_STAGES, Stage
from ..metrics import ConfusionMatrix, StageTimer
from .result import BenchResult, make_sample, no_gt_note, sample_indices, sample_name, score_labels
from .track import TRACK_TRUTH_TOPIC, track_report, track_scorer_for


class _OfflineRun:
    """The state of one offline pass: what each frame adds to the result."""

    def __init__(self, info: BagInfo, segmenter: Any, samples: int, warmup: int, track_topic: Optional[str],
                 typestore: Optional[str]) -> None:
        self.segmenter = segmenter
        self.label_set = segmenter.card.labels
        self.confusion = ConfusionMatrix(self.label_set.num_classes) if info.has_gt else None
        self.result = BenchResult("offline", self.label_set, self.confusion)
        self.stages = StageTimer()
        self.wanted = set(sample_indices(info.frames, samples))
        self.track, self.track_note = track_scorer_for(info.path, track_topic, self.label_set, sorted(self.wanted),
                                                       typestore)
        self.warmup = max(warmup, 0)
        self.unmatched = 0
        self.frames = 0

    def add(self, frame: Any, decode_ms: float) -> None:
        """Segment one bag frame (the first one after ``warmup`` untimed runs), time and score it."""
        segmenter, result = self.segmenter, self.result
        if self.frames == 0:
            for _ in range(self.warmup):
                segmenter.process(frame.image, color=True, overlay=True)
        out = segmenter.process(frame.image, color=True, overlay=True)
        timings = dict(out.timings_ms, **{Stage.DECODE: decode_ms})
        for stage in OFFLINE_STAGES:
            self.stages.add(stage, timings.get(stage, 0.0))
        result.latencies_ms.append(sum(timings.get(stage, 0.0) for stage in OFFLINE_STAGES))
        if self.confusion is not None:
            if frame.gt is None:
                self.unmatched += 1
            else:
                score_labels(self.confusion, out.labels, frame.gt)
        if self.track is not None:
            self.track.add(self.frames, frame.stamp_ns, out.labels, frame.gt,
                           frame.image if self.frames in self.wanted else None)
        if self.frames in self.wanted:
            result.samples.append((sample_name(self.frames, frame.gt),
                                   make_sample(frame.image, out.labels, frame.gt, self.label_set)))
        self.frames += 1


def run_offline(bag_path: Any, segmenter: Any, image_topic: str = IMAGE_TOPIC, gt_topic: Optional[str] = GT_TOPIC,
                samples: int = 4, progress: bool = True, typestore: Optional[str] = None,
                warmup: int = 3, track_topic: Optional[str] = TRACK_TRUTH_TOPIC,
                bar: Optional[Any] = None) -> BenchResult:
    """Run every frame of the bag through ``segmenter`` here; score against the ground truth.

    ``bar``: a tqdm bar the frames are counted on (rail-seg compare: one across models), instead of one here.
    The first frame is first run ``warmup`` times untimed (lazy initialisation, caches, clocks).
    Where the bag has track truth on ``track_topic``, the track-ahead stage is scored too (not timed
    with the frame: see :mod:`rail_seg_ros.bench.track`).
    Ctrl-C (KeyboardInterrupt) ends the loop and returns what was measured, marked partial.
    """
    info = inspect_bag(bag_path, image_topic, gt_topic, typestore)
    run = _OfflineRun(info, segmenter, samples, warmup, track_topic, typestore)
    result = run.result
    if not info.has_gt:
        result.notes.append(no_gt_note(info, gt_topic))
    if run.track_note:
        result.notes.append(run.track_note)
    own_bar = bar is None
    if own_bar:
        bar = tqdm(total=info.frames, unit="frame", desc=f"bench {info.path.name}", disable=not progress)
    iterator = read_frames(info.path, image_topic, info.gt_topic, typestore=typestore)
    try:
        while True:
            start = time.perf_counter()
            frame = next(iterator, None)
            if frame is None:
                break
            run.add(frame, (time.perf_counter() - start) * 1e3)
            bar.update(1)
    except KeyboardInterrupt:
        result.partial = True
        result.notes.append(f"interrupted after {run.frames} of {info.frames} frames")
    finally:
        if own_bar:
            bar.close()
        close = getattr(iterator, "close", None)
        if close is not None:
            close()
    # a virtual timeline of the frames processed back to back: jitter is the frame-to-frame change of latency
    result.receive_times_s = list(np.cumsum(result.latencies_ms) / 1e3) if result.latencies_ms else []
    result.run.update(_offline_facts(info, run, image_topic))
    result.run["track_ahead"] = track_report(run.track, run.track_note)
    if run.track is not None:
        result.samples += run.track.samples()
    return result


def _offline_facts(info: BagInfo, run: _OfflineRun, image_topic: str) -> Dict[str, Any]:
    latencies = run.result.latencies_ms
    mean_ms = float(np.mean(latencies)) if latencies else float("nan")
    segmenter = run.segmenter
    backend = getattr(segmenter, "backend", None)
    return {
        "model": segmenter.card.name,
        "architecture": getattr(segmenter.card, "architecture", None),
        "backend": backend.describe() if backend is not None else None,
        "precision": getattr(backend, "precision", None),
        "bag": str(info.path),
        "image_topic": image_topic,
        "gt_topic": info.gt_topic,
        "mode": "offline",
        "frames": run.frames,
        "frames_in_bag": info.frames,
        "warmup_frames": run.warmup,
        "unmatched": run.unmatched if run.confusion is not None else None,
        "fps": 1000.0 / mean_ms if mean_ms > 0 else None,
        "stages_ms": run.stages,
    }
