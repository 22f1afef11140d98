"""What a bench run measured, how a prediction is scored and shown, and the run's one-line summary."""

import math
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..bag import decode_labels_msg
from ..errors import RailSegError
from ..labels import LabelSet
from ..metrics import ConfusionMatrix, jitter_ms, rate_hz, resize_labels_nearest
from ..report import build_report, fmt_percent, fmt_value, write_report

SAMPLE_WIDTH = 960  # samples are scaled down to at most this width per panel
LATENCY_DEFINITION = (
    "Live latency: receive time of the node's ~/labels message minus publish time of the image with the same "
    "header stamp, both time.perf_counter() in the bench process (serialisation, transport both ways, the "
    "node's queueing and processing included). Offline latency: decode + preprocess + infer + postprocess of "
    "one frame in this process."
)
LIVE_FPS_DEFINITION = (
    "Live fps: per run (received - 1) / (last - first receive time), or 1 / (receive - publish time) when a run "
    "received one output; with several kept iterations, the mean over them."
)

Sample = Tuple[str, np.ndarray]


@dataclass
class BenchResult:
    """What a bench run measured; :func:`write_bench_report` turns it into the report folder."""

    mode: str
    label_set: LabelSet
    confusion: Optional[ConfusionMatrix]  # None: the bag has no ground truth (latency-only report)
    latencies_ms: List[float] = field(default_factory=list)
    receive_times_s: List[float] = field(default_factory=list)
    run: Dict[str, Any] = field(default_factory=dict)  # facts for report.build_report
    samples: List[Sample] = field(default_factory=list)
    partial: bool = False
    notes: List[str] = field(default_factory=list)


@dataclass
class RunData:
    """One measured pass of the live bench over the frames."""

    label: str
    sent: int = 0
    received: int = 0
    stray: int = 0
    unmatched: int = 0
    latencies_ms: List[float] = field(default_factory=list)
    receive_times_s: List[float] = field(default_factory=list)
    publish_times_s: List[float] = field(default_factory=list)
    confusion: Optional[ConfusionMatrix] = None
    interrupted: bool = False

    @property
    def dropped(self) -> int:
        return max(self.sent - self.received, 0)

    @property
    def loss(self) -> float:
        return self.dropped / self.sent if self.sent else 1.0

    @property
    def mean_latency_ms(self) -> float:
        return float(np.mean(self.latencies_ms)) if self.latencies_ms else float("nan")

    @property
    def fps(self) -> float:
        """(received - 1) / receive span; with a single output, 1 / (its receive - the first publish)."""
        if len(self.receive_times_s) == 1 and self.publish_times_s:
            span = self.receive_times_s[0] - self.publish_times_s[0]
            return 1.0 / span if span > 0 else float("nan")
        return rate_hz(self.receive_times_s)

    @property
    def publish_rate_hz(self) -> float:
        return rate_hz(self.publish_times_s)

    def summary(self) -> Dict[str, Any]:
        return {"label": self.label, "sent": self.sent, "received": self.received, "dropped": self.dropped,
                "loss": self.loss, "stray": self.stray, "publish_rate_hz": none_if_nan(self.publish_rate_hz),
                "fps": none_if_nan(self.fps), "latency_mean_ms": none_if_nan(self.mean_latency_ms),
                "latency_p50_ms": none_if_nan(float(np.percentile(self.latencies_ms, 50)) if self.latencies_ms
                                              else float("nan")),
                "jitter_ms": none_if_nan(jitter_ms(self.receive_times_s))}


def none_if_nan(value: Optional[float]) -> Optional[float]:
    return None if value is None or not math.isfinite(value) else float(value)


def finite(value: Any) -> bool:
    """Whether ``value`` (a number or the text of one, as diagnostics carry it) is a finite number."""
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def default_out_dir(bag_path: Any, mode: str) -> Path:
    """``bench-<bag name>-<mode>`` in the current folder."""
    path = Path(bag_path)
    name = path.stem if path.suffix in (".db3", ".mcap") else path.name
    return Path(f"bench-{name or 'bag'}-{mode}")


def write_bench_report(result: BenchResult, out_dir: Any) -> Tuple[Path, Dict[str, Any]]:
    """Write the report folder (report.json, report.md, plots, samples); return its path and the report."""
    run = dict(result.run)
    if result.notes:
        run["notes"] = list(result.notes)
    run.setdefault("latency_definition", LATENCY_DEFINITION)
    report = build_report(result.confusion, result.label_set, result.latencies_ms, result.receive_times_s,
                          run=run, partial=result.partial)
    for key in ("jitter_ms", "fps"):  # the run's own value (e.g. the mean over kept iterations) wins
        if run.get(key) is not None:
            report[key] = run[key]
    path = write_report(out_dir, report, result.confusion, result.label_set, result.latencies_ms,
                        result.receive_times_s, samples=result.samples, partial=result.partial)
    return path, report


def summary_line(report: Dict[str, Any]) -> str:
    """One line: mode, frames, mIoU, pixel accuracy, latency, fps, drops."""
    latency = report.get("latency_ms") or {}
    parts = [f"bench {report.get('mode')}{' (PARTIAL)' if report.get('partial') else ''}: "
             f"{report.get('frames') or 0} frames"]
    if report.get("has_ground_truth"):
        parts.append(f"mIoU {fmt_percent(report.get('miou'))}, "
                     f"pixel accuracy {fmt_percent(report.get('pixel_accuracy'))}")
    else:
        parts.append("no ground truth (latency only)")
    parts.append("latency " + " ".join(f"{key} {fmt_value(latency.get(key), 1, unit=' ms')}"
                                       for key in ("p50", "p99", "max")))
    parts.append("fps " + fmt_value(report.get("fps"), 2))
    if report.get("mode") == "live":
        parts.append(f"sent {report.get('sent')}, received {report.get('received')}, dropped {report.get('dropped')}")
        if report.get("max_rate_hz") is not None:
            parts.append(f"max rate {report['max_rate_hz']:.1f} Hz")
    if report.get("unmatched"):
        parts.append(f"{report['unmatched']} without ground truth")
    track = (report.get("track_ahead") or {}).get("model_labels")
    if track:
        parts.append(f"track ahead: ego-path IoU {fmt_value(track.get('ego_path_iou'), 3)}, obstacle recall "
                     f"{fmt_percent(track.get('recall'))}")
    return "; ".join(parts)


def no_gt_note(info: Any, gt_topic: Optional[str]) -> str:
    """Why the report of the bag ``info`` (a BagInfo) has no mIoU."""
    if not gt_topic:
        return "no ground-truth topic given: latency-only report"
    return f"bag {info.path} has no ground truth on {gt_topic}: latency-only report (no mIoU)"


# ---- scoring and samples -----------------------------------------------------------------------------

def score_labels(confusion: ConfusionMatrix, labels: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Add one frame to ``confusion``: the prediction is nearest-resized to the gt's size when they differ."""
    if labels.shape != gt.shape:
        labels = resize_labels_nearest(labels, gt.shape[0], gt.shape[1])
    confusion.update(labels, gt)
    return labels


def sample_indices(total: int, count: int) -> List[int]:
    """``count`` frame indices spread evenly over ``total`` frames (first and last included)."""
    if total <= 0 or count <= 0:
        return []
    return sorted({int(round(v)) for v in np.linspace(0, total - 1, min(count, total))})


def _fit_width(image: np.ndarray, width: int = SAMPLE_WIDTH) -> np.ndarray:
    if image.shape[1] <= width:
        return image
    height = max(1, round(image.shape[0] * width / image.shape[1]))
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def _blend(rgb: np.ndarray, labels: np.ndarray, label_set: LabelSet, alpha: float = 0.5) -> np.ndarray:
    color = label_set.palette[labels]
    if rgb.shape[:2] != color.shape[:2]:
        rgb = cv2.resize(rgb, (color.shape[1], color.shape[0]), interpolation=cv2.INTER_AREA)
    return cv2.addWeighted(rgb, 1.0 - alpha, color, alpha, 0.0)


def caption_image(image: np.ndarray, text: str) -> np.ndarray:
    image = np.ascontiguousarray(image)
    scale = max(0.4, image.shape[1] / 1400.0)
    (width, height), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(image, (0, 0), (width + 8, height + base + 8), (255, 255, 255), -1)
    cv2.putText(image, text, (4, height + 4), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return image


def make_sample(rgb: np.ndarray, labels: np.ndarray, gt: Optional[np.ndarray], label_set: LabelSet) -> np.ndarray:
    """The prediction's overlay; with ground truth, the gt overlay beside it (ignore pixels black)."""
    left = _fit_width(_blend(rgb, labels, label_set))
    if gt is None:
        return np.ascontiguousarray(left)
    left = caption_image(left, "prediction")
    right = caption_image(_fit_width(_blend(rgb, gt, label_set)), "ground truth")
    if right.shape[0] != left.shape[0]:
        right = cv2.resize(right, (right.shape[1] * left.shape[0] // right.shape[0], left.shape[0]))
    gap = np.full((left.shape[0], 8, 3), 255, np.uint8)
    return np.ascontiguousarray(np.concatenate([left, gap, right], axis=1))


def sample_name(index: int, gt: Optional[np.ndarray]) -> str:
    return f"frame{index:05d}_{'prediction_vs_gt' if gt is not None else 'overlay'}"


class Scorer:
    """Scores received labels and cuts samples in a worker thread, so no receive waits for it."""

    def __init__(self, label_set: LabelSet, gts: Sequence[Optional[np.ndarray]],
                 sample_rgb: Dict[int, np.ndarray], track: Any = None, stamps_ns: Sequence[int] = ()) -> None:
        """``gts``: ground truth by frame index (cycled); ``sample_rgb``: the frames to cut samples of;
        ``track``: a bench.track.TrackScorer, given each frame's labels by :meth:`score_track` after the runs
        (``stamps_ns`` by index), so the stage does not share the CPU with the node while it is timed."""
        self.label_set = label_set
        self.gts = gts
        self.sample_rgb = sample_rgb
        self.track = track
        self.stamps_ns = stamps_ns
        self._track_pending: Dict[int, Tuple[Any, Optional[np.ndarray], Optional[np.ndarray]]] = {}
        self.error: Optional[BaseException] = None
        self._samples: Dict[int, Sample] = {}
        self._queue: "queue.Queue[Optional[Tuple[Any, ...]]]" = queue.Queue()  # noqa: UP037 (3.8)
        self._thread = threading.Thread(target=self._loop, name="rail_seg_bench_worker", daemon=True)
        self._thread.start()

    def put(self, run: RunData, index: int, msg: Any) -> None:
        self._queue.put((run, index, msg))

    def join(self) -> None:
        """Wait until everything queued is scored; raise what scoring raised."""
        self._queue.join()
        if self.error is not None:
            raise RailSegError(f"scoring failed: {self.error}")

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=60.0)

    def samples(self) -> List[Sample]:
        return [self._samples[i] for i in sorted(self._samples)]

    def score_track(self) -> None:
        """Run the track-ahead scoring on the labels kept during the runs (once per frame of the bag)."""
        pending, self._track_pending = self._track_pending, {}
        for frame in sorted(pending):
            msg, gt, rgb = pending[frame]
            self.track.add(frame, self.stamps_ns[frame], decode_labels_msg(msg), gt, rgb)

    def _loop(self) -> None:
        while True:
            task = self._queue.get()
            try:
                if task is None:
                    return
                if self.error is None:
                    self._score(*task)
            except Exception as exc:  # reported to the main thread by join() and .error
                self.error = exc
            finally:
                self._queue.task_done()

    def _score(self, run: RunData, index: int, msg: Any) -> None:
        gt = self.gts[index % len(self.gts)]
        if run.confusion is None and gt is None and index not in self.sample_rgb and self.track is None:
            return
        if self.track is not None:
            self._track_pending.setdefault(index % len(self.stamps_ns), (msg, gt, self.sample_rgb.get(index)))
        if run.confusion is None and gt is None and index not in self.sample_rgb:
            return
        labels = decode_labels_msg(msg)
        if run.confusion is not None:
            if gt is None:
                run.unmatched += 1
            else:
                score_labels(run.confusion, labels, gt)
        rgb = self.sample_rgb.get(index)
        if rgb is not None and index not in self._samples:
            self._samples[index] = (sample_name(index, gt), make_sample(rgb, labels, gt, self.label_set))
