"""Replay a bag through the model (offline) or through the ROS node over DDS (live): mIoU and latency.

Offline
    Frames are read from the bag and run through :class:`~rail_seg_ros.pipeline.Segmenter` one by
    one in this process. Stages: ``decode`` (reading the message from the bag and converting it to
    RGB), ``preprocess``, ``infer``, ``postprocess`` (labels back at the input size, palette image
    and overlay, as the node does with its default outputs). A frame's latency is the sum of its
    stages; fps is 1000 / mean latency (one stream, frames back to back; scoring is not counted).

Live, measured the way NVIDIA's ros2_benchmark does it
    ``segmentation_node`` runs as a separate process (or an already running one is used). Every
    frame of the bag is turned into an rclpy message up front (same encoding as recorded). Once the
    node's ``~/labels`` publisher and its image subscription are matched, warm-up frames are sent
    (each waited for; not counted). Then the frames are published at the recorded rate (from the
    bag's header stamps), R times it, or back to back, each with a unique header stamp (wall clock
    ns, strictly increasing) that keys it. A subscriber spun by an executor thread takes the receive
    time of each ``~/labels`` message first thing in its callback; latency = receive time - publish
    time, both ``time.perf_counter()`` in this process (the publish time is taken just before
    ``publish()``, so serialisation and transport both ways are included). Scoring and recording
    happen in a worker thread so they never delay a receive. After the last publish the bench waits
    until every output came or none came for min(drain_timeout, max(1 s, 4 x the longest latency
    seen)) - the node keeps one frame while busy, so an output comes within a few latencies or never;
    frames without an output then are dropped. Outputs whose stamp matches no frame sent are stray.

QoS: the bench publishes reliable, keep-last 10 (compatible with any subscription). A node it
starts gets ``input_qos.reliability: reliable``, ``input_qos.depth: 10`` and reliable outputs of
depth 10, so nothing is lost in transport; the node itself still keeps only the newest frame while
it is busy (frames it replaces are the drops a too-high rate causes). A running node is used with
the QoS it has; the bench subscribes best effort when the node publishes best effort.

Iterations: with ``--iterations N`` (N >= 3) the run is repeated N times and the one with the lowest
and the one with the highest mean latency are left out; latencies, frame counts and the confusion
matrix are pooled over the kept runs, fps and jitter are the means of the kept runs.

Max rate: ``--find-max-rate`` first publishes back to back; if at most ``max_loss`` of the frames
are lost that is the answer. Otherwise it bisects the publish rate (Hz, evenly spaced frames)
between 0 and the back-to-back rate, starting at the throughput seen back to back, for at most
``max_trials`` trials in all; the highest rate that lost at most ``max_loss`` is then measured with
the whole bag (``iterations`` times) for the report.
"""

import array
import math
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple

import cv2
import numpy as np
from tqdm import tqdm

from .bag import (
    COMPRESSED_TYPE,
    GT_TOPIC,
    IMAGE_TOPIC,
    IMAGE_TYPE,
    OutputRecorder,
    decode_labels_msg,
    header_stamp_ns,
    open_bag,
    read_frames,
)
from .errors import RailSegError
from .fileio import atomic_write_text
from .labels import LabelSet
from .metrics import MIOU_DEFINITION, ConfusionMatrix, StageTimer, jitter_ms, rate_hz, resize_labels_nearest
from .report import build_report, write_report

NODE_NAME = "segmentation_node"
SPAWN_NAMESPACE = "/rail_seg_bench"
OUTPUT_TOPICS = ("labels", "color", "overlay", "confidence")
OFFLINE_STAGES = ("decode", "preprocess", "infer", "postprocess")
LIVE_STAGES = ("decode", "preprocess", "infer", "postprocess", "publish")
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
LOCAL_DDS = {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "ROS_LOCALHOST_ONLY": "1"}

Sample = Tuple[str, np.ndarray]


# ---------------------------------------------------------------------------------------------
# Results


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
    markdown = path / "report.md"
    atomic_write_text(markdown, markdown.read_text(encoding="utf-8").rstrip("\n") + "\n\n" + render_details(report))
    return path, report


def _cell(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def render_details(report: Dict[str, Any]) -> str:
    """The bench's own part of report.md: how the run was made, notes, iterations, the max-rate search."""
    lines = ["## Run details", ""]
    for note in report.get("notes") or []:
        lines += [f"> {note}", ""]
    facts = [("bag", "bag"), ("image topic", "image_topic"), ("ground-truth topic", "gt_topic"),
             ("frames in the bag", "frames_in_bag"), ("warm-up frames (not counted)", "warmup_frames"),
             ("publish rate", "rate"), ("measured publish rate (Hz)", "publish_rate_hz"), ("node", "node"),
             ("node started by the bench", "node_started_by_bench"), ("node input topic", "input_topic"),
             ("node output topic", "output_topic"), ("outputs received reliably", "output_reliable"),
             ("stray outputs (stamp of no frame sent)", "stray"), ("frames the node dropped (its diagnostics)",
                                                                    "node_dropped"),
             ("node exit status", "node_exit_code"), ("outputs recorded in", "record")]
    rows = [(label, _cell(report.get(key), 2)) for label, key in facts if report.get(key) is not None]
    lines += ["| item | value |", "|:---|:---|"] + [f"| {a} | {b} |" for a, b in rows] + [""]
    columns = ("sent", "received", "dropped", "publish_rate_hz", "fps", "latency_mean_ms", "latency_p50_ms",
               "jitter_ms")
    header = "| run | " + " | ".join(columns) + " |"
    rule = "|:---|" + "---:|" * len(columns)
    iterations = report.get("iterations") or []
    if len(iterations) > 1:
        lines += ["## Iterations", "", str(report.get("iteration_rule") or ""), "", header + " kept |",
                  rule + ":---|"]
        lines += ["| " + " | ".join([str(it.get("label"))] + [_cell(it.get(c)) for c in columns])
                  + f" | {'yes' if it.get('kept') else 'no'} |" for it in iterations]
        lines.append("")
    trials = report.get("trials") or []
    if trials:
        found = report.get("max_rate_hz")
        loss = report.get("max_loss")
        lines += ["## Max-rate search", "",
                  f"Highest publish rate losing at most {_cell((loss or 0) * 100, 0)} % of the frames: "
                  f"**{_cell(found, 2)} Hz**" if found is not None else "No rate tried met the loss limit.", "",
                  header, rule]
        lines += ["| " + " | ".join([str(t.get("label"))] + [_cell(t.get(c)) for c in columns]) + " |" for t in trials]
        lines.append("")
    for key in ("latency_definition", "fps_definition"):
        if report.get(key):
            lines += [str(report[key]), ""]
    return "\n".join(lines)


def _pct(value: Any) -> str:
    return "n/a" if value is None or not _finite(value) else f"{value * 100:.1f} %"


def _ms(value: Any) -> str:
    return "n/a" if value is None or not _finite(value) else f"{value:.1f} ms"


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def summary_line(report: Dict[str, Any]) -> str:
    """One line: mode, frames, mIoU, pixel accuracy, latency, fps, drops."""
    latency = report.get("latency_ms") or {}
    fps = report.get("fps")
    parts = [f"bench {report.get('mode')}{' (PARTIAL)' if report.get('partial') else ''}: "
             f"{report.get('frames') or 0} frames"]
    if report.get("has_ground_truth"):
        parts.append(f"mIoU {_pct(report.get('miou'))}, pixel accuracy {_pct(report.get('pixel_accuracy'))}")
    else:
        parts.append("no ground truth (latency only)")
    parts.append(f"latency p50 {_ms(latency.get('p50'))} p99 {_ms(latency.get('p99'))} max {_ms(latency.get('max'))}")
    parts.append("fps " + ("n/a" if fps is None or not _finite(fps) else f"{fps:.2f}"))
    if report.get("mode") == "live":
        parts.append(f"sent {report.get('sent')}, received {report.get('received')}, dropped {report.get('dropped')}")
        if report.get("max_rate_hz") is not None:
            parts.append(f"max rate {report['max_rate_hz']:.1f} Hz")
    if report.get("unmatched"):
        parts.append(f"{report['unmatched']} without ground truth")
    return "; ".join(parts)


# ---------------------------------------------------------------------------------------------
# Bag inspection, scoring, samples


@dataclass
class BagInfo:
    path: Path
    frames: int
    msgtype: str  # IMAGE_TYPE or COMPRESSED_TYPE
    has_gt: bool
    gt_topic: Optional[str]


def inspect_bag(path: Any, image_topic: str = IMAGE_TOPIC, gt_topic: Optional[str] = GT_TOPIC,
                typestore: Optional[str] = None) -> BagInfo:
    """Check the bag opens and has the image topic (the error lists its topics); see whether it has gt."""
    path = Path(path)
    with open_bag(path, typestore=typestore) as bag:
        frames = bag.message_count(image_topic)  # raises, listing the bag's topics, when it is missing
        msgtype = bag.topics[image_topic]
        if msgtype not in (IMAGE_TYPE, COMPRESSED_TYPE):
            raise RailSegError(f"bag {path}: topic {image_topic} has type {msgtype}, expected {IMAGE_TYPE} "
                               f"or {COMPRESSED_TYPE}")
        has_gt = bool(gt_topic) and gt_topic in bag.topics and bag.message_count(gt_topic) > 0
    if frames == 0:
        raise RailSegError(f"bag {path}: topic {image_topic} has no messages")
    return BagInfo(path, frames, msgtype, has_gt, gt_topic if has_gt else None)


def no_gt_note(info: BagInfo, gt_topic: Optional[str]) -> str:
    if not gt_topic:
        return "no ground-truth topic given: latency-only report"
    return f"bag {info.path} has no ground truth on {gt_topic}: latency-only report (no mIoU)"


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


def _caption(image: np.ndarray, text: str) -> np.ndarray:
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
    left = _caption(left, "prediction")
    right = _caption(_fit_width(_blend(rgb, gt, label_set)), "ground truth")
    if right.shape[0] != left.shape[0]:
        right = cv2.resize(right, (right.shape[1] * left.shape[0] // right.shape[0], left.shape[0]))
    gap = np.full((left.shape[0], 8, 3), 255, np.uint8)
    return np.ascontiguousarray(np.concatenate([left, gap, right], axis=1))


def _sample_name(index: int, gt: Optional[np.ndarray]) -> str:
    return f"frame{index:05d}_{'prediction_vs_gt' if gt is not None else 'overlay'}"


# ---------------------------------------------------------------------------------------------
# Offline


def run_offline(bag_path: Any, segmenter: Any, image_topic: str = IMAGE_TOPIC, gt_topic: Optional[str] = GT_TOPIC,
                samples: int = 4, progress: bool = True, typestore: Optional[str] = None,
                warmup: int = 3) -> BenchResult:
    """Run every frame of the bag through ``segmenter`` here; score against the ground truth.

    The first frame is first run ``warmup`` times untimed (lazy initialisation, caches, clocks).
    Ctrl-C (KeyboardInterrupt) ends the loop and returns what was measured, marked partial.
    """
    info = inspect_bag(bag_path, image_topic, gt_topic, typestore)
    label_set = segmenter.card.labels
    confusion = ConfusionMatrix(label_set.num_classes) if info.has_gt else None
    result = BenchResult("offline", label_set, confusion)
    if not info.has_gt:
        result.notes.append(no_gt_note(info, gt_topic))
    stages = StageTimer()
    wanted = set(sample_indices(info.frames, samples))
    unmatched = 0
    frames = 0
    bar = tqdm(total=info.frames, unit="frame", desc=f"bench {info.path.name}", disable=not progress)
    iterator = read_frames(info.path, image_topic, info.gt_topic, typestore=typestore)
    try:
        while True:
            start = time.perf_counter()
            frame = next(iterator, None)
            if frame is None:
                break
            decode_ms = (time.perf_counter() - start) * 1e3
            if frames == 0:
                for _ in range(max(warmup, 0)):
                    segmenter.process(frame.image, color=True, overlay=True)
            out = segmenter.process(frame.image, color=True, overlay=True)
            timings = dict(out.timings_ms, decode=decode_ms)
            for stage in OFFLINE_STAGES:
                stages.add(stage, timings.get(stage, 0.0))
            result.latencies_ms.append(sum(timings.get(stage, 0.0) for stage in OFFLINE_STAGES))
            if confusion is not None:
                if frame.gt is None:
                    unmatched += 1
                else:
                    score_labels(confusion, out.labels, frame.gt)
            if frames in wanted:
                result.samples.append((_sample_name(frames, frame.gt),
                                       make_sample(frame.image, out.labels, frame.gt, label_set)))
            frames += 1
            bar.update(1)
    except KeyboardInterrupt:
        result.partial = True
        result.notes.append(f"interrupted after {frames} of {info.frames} frames")
    finally:
        bar.close()
        close = getattr(iterator, "close", None)
        if close is not None:
            close()
    # a virtual timeline of the frames processed back to back: jitter is the frame-to-frame change of latency
    result.receive_times_s = list(np.cumsum(result.latencies_ms) / 1e3) if result.latencies_ms else []
    mean_ms = float(np.mean(result.latencies_ms)) if result.latencies_ms else float("nan")
    backend = getattr(segmenter, "backend", None)
    result.run.update({
        "model": segmenter.card.name,
        "architecture": getattr(segmenter.card, "architecture", None),
        "backend": backend.describe() if backend is not None else None,
        "precision": getattr(backend, "precision", None),
        "bag": str(info.path),
        "image_topic": image_topic,
        "gt_topic": info.gt_topic,
        "mode": "offline",
        "frames": frames,
        "frames_in_bag": info.frames,
        "warmup_frames": max(warmup, 0),
        "unmatched": unmatched if confusion is not None else None,
        "fps": 1000.0 / mean_ms if mean_ms > 0 else None,
        "stages_ms": stages,
    })
    return result


# ---------------------------------------------------------------------------------------------
# DDS set-up shared by the live bench and the recorder


def ensure_local_dds(env: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """Keep DDS on this machine unless the user chose otherwise: set the LOCALHOST defaults where unset."""
    target = os.environ if env is None else env
    for key, value in LOCAL_DDS.items():
        target.setdefault(key, value)
    return dict(target)


def _join_name(*parts: str) -> str:
    text = "/".join(p.strip("/") for p in parts if p and p.strip("/"))
    return "/" + text


def node_topics(namespace: str, node_name: str = NODE_NAME) -> Dict[str, str]:
    """Absolute output topic names of the node ``node_name`` in ``namespace`` (``~/labels`` etc.)."""
    base = _join_name(namespace, node_name)
    return {name: f"{base}/{name}" for name in OUTPUT_TOPICS}


class RosSession:
    """An rclpy context of its own, one node, and an executor spinning it in a background thread.

    Callbacks run in that thread; the main thread publishes and measures. Python's own SIGINT
    handling is kept (rclpy installs no signal handler), so Ctrl-C is a KeyboardInterrupt.
    """

    def __init__(self, name: str) -> None:
        ensure_local_dds()
        try:
            import rclpy
            from rclpy.context import Context
            from rclpy.executors import SingleThreadedExecutor
        except ImportError as exc:
            raise RailSegError(f"the live bench and the recorder need ROS 2 (rclpy): {exc}") from None
        self.rclpy = rclpy
        self.context = Context()
        try:
            from rclpy.signals import SignalHandlerOptions
            rclpy.init(context=self.context, signal_handler_options=SignalHandlerOptions.NO)
        except (ImportError, TypeError):  # older rclpy without signal handler options
            rclpy.init(context=self.context)
        try:
            self.node = rclpy.create_node(name, context=self.context)
            self.executor = SingleThreadedExecutor(context=self.context)
            self.executor.add_node(self.node)
        except BaseException:
            rclpy.try_shutdown(context=self.context)
            raise
        self._stop = threading.Event()
        self.error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._spin, name="rail_seg_bench_spin", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            while not self._stop.is_set() and self.context.ok():
                self.executor.spin_once(timeout_sec=0.05)
        except Exception as exc:  # a failing callback: reported to the main thread by check()
            self.error = exc

    def check(self) -> None:
        """Raise the error a callback raised in the spin thread, if any."""
        if self.error is not None:
            raise RailSegError(f"receiving failed: {type(self.error).__name__}: {self.error}")

    def publisher_qos(self, topic: str) -> List[Any]:
        """QoS profiles of the publishers of ``topic`` (graph information, no spinning needed)."""
        return [info.qos_profile for info in self.node.get_publishers_info_by_topic(topic)]

    def close(self) -> None:
        """Stop spinning and shut the context down (a second call does nothing)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=5.0)
        try:
            self.executor.shutdown(timeout_sec=1.0)
            self.node.destroy_node()
        finally:
            self.rclpy.try_shutdown(context=self.context)


class RecorderThread:
    """An :class:`OutputRecorder` owned by one thread of its own: created, written and closed there.

    (The sqlite3 storage may only be used from the thread that opened it, and writing a 6 MB image
    must not hold up an executor callback.) ``add`` only queues the message.
    """

    def __init__(self, path: Any, storage: str = "sqlite3", topics: Sequence[str] = ()) -> None:
        self.path = Path(path)
        self.count = 0
        self.error: Optional[BaseException] = None
        self._queue: "queue.Queue[Optional[Tuple[str, Any, int]]]" = queue.Queue()  # noqa: UP037 (3.8)
        self._opened = threading.Event()
        self._keep = False
        self._thread = threading.Thread(target=self._run, args=(storage, tuple(topics)),
                                        name="rail_seg_recorder", daemon=True)
        self._thread.start()
        self._opened.wait()
        if self.error is not None:
            self._thread.join()
            raise self.error

    def _run(self, storage: str, topics: Tuple[str, ...]) -> None:
        try:
            recorder = OutputRecorder(self.path, storage=storage)
            for topic in topics:
                recorder.add_topic(topic, IMAGE_TYPE)
        except BaseException as exc:
            self.error = exc
            self._opened.set()
            return
        self._opened.set()
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    break
                if self.error is None:
                    try:
                        recorder.add(item[0], IMAGE_TYPE, item[1], item[2])
                        self.count += 1
                    except Exception as exc:  # reported by check() / finish()
                        self.error = exc
        finally:
            if self._keep and self.error is None and self.count > 0:
                recorder.close()
            else:
                recorder.abort()

    def add(self, topic: str, msg: Any, timestamp_ns: int) -> None:
        """Queue one Image message for ``topic``, logged at ``timestamp_ns``."""
        self._queue.put((topic, msg, timestamp_ns))

    def check(self) -> None:
        if self.error is not None:
            raise RailSegError(f"recording into {self.path} failed: {self.error}")

    def finish(self, keep: bool = True) -> int:
        """Write what is queued and close the bag (kept when ``keep`` and anything was written); return the count."""
        if self._thread.is_alive():
            self._keep = keep
            self._queue.put(None)
            self._thread.join()
        return self.count


def _qos(reliable: bool, depth: int) -> Any:
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, durability=DurabilityPolicy.VOLATILE,
                      reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT)


def _offers_reliable(profiles: Sequence[Any]) -> bool:
    from rclpy.qos import ReliabilityPolicy

    return bool(profiles) and all(p.reliability == ReliabilityPolicy.RELIABLE for p in profiles)


# ---------------------------------------------------------------------------------------------
# The node process


class NodeProcess:
    """``segmentation_node`` started as a separate process; its output goes to a log file."""

    def __init__(self, command: List[str], env: Dict[str, str]) -> None:
        self.command = command
        self.log = tempfile.NamedTemporaryFile(prefix="rail-seg-node-", suffix=".log", delete=False)
        try:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=self.log,
                                            stderr=subprocess.STDOUT, env=env, start_new_session=True)
        except OSError as exc:
            self.log.close()
            os.unlink(self.log.name)
            raise RailSegError(f"cannot start segmentation_node ({command[0]}): {exc}") from None
        self.returncode: Optional[int] = None

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 15) -> str:
        try:
            text = Path(self.log.name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        kept = [line for line in text.splitlines() if line.strip()]
        return "\n".join(kept[-lines:])

    def check(self, what: str) -> None:
        """Raise a RailSegError with the end of the node's log when the process has exited."""
        code = self.process.poll()
        if code is not None:
            self.returncode = code
            tail = self.tail()
            raise RailSegError(f"segmentation_node exited with status {code} {what}; its last output:\n{tail}"
                               if tail else f"segmentation_node exited with status {code} {what} (no output)")

    def stop(self, timeout: float = 10.0) -> Optional[int]:
        """SIGINT (a clean shutdown), then SIGTERM, then SIGKILL; return the exit status."""
        proc = self.process
        try:
            for sig, wait in ((signal.SIGINT, timeout), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
                if proc.poll() is not None:
                    break
                try:
                    proc.send_signal(sig)
                    proc.wait(timeout=wait)
                except subprocess.TimeoutExpired:
                    continue
                except OSError:
                    break
        except KeyboardInterrupt:  # a second Ctrl-C: do not leave the node behind
            proc.kill()
            proc.wait()
            raise
        self.returncode = proc.poll()
        return self.returncode

    def remove_log(self) -> None:
        self.log.close()
        try:
            os.unlink(self.log.name)
        except OSError:
            pass


def node_command(namespace: str, node_name: str, params_file: Path, extra_params: Sequence[str]) -> List[str]:
    """The command line starting the node (``python -m rail_seg_ros.node``, as the console script does)."""
    command = [sys.executable, "-m", "rail_seg_ros.node", "--ros-args", "-r", f"__ns:={_join_name(namespace)}",
               "-r", f"__node:={node_name}", "--params-file", str(params_file)]
    for item in extra_params:
        command += ["-p", item]
    return command


def _absolute_if_file(value: Optional[str]) -> Optional[str]:
    if not value:
        return value
    path = Path(os.path.expanduser(value))
    return str(path.resolve()) if path.exists() else value


# ---------------------------------------------------------------------------------------------
# Live


@dataclass
class LiveOptions:
    """Everything a live run needs besides the bag (the CLI fills it from its arguments)."""

    model: str
    weights: Optional[str] = None
    backend: str = "auto"
    precision: str = "fp32"
    device: str = "auto"
    cache_dir: Optional[str] = None
    calibration: Optional[str] = None
    label_set: Optional[str] = None
    color_order: Optional[str] = None
    image_topic: str = IMAGE_TOPIC
    gt_topic: Optional[str] = GT_TOPIC
    typestore: Optional[str] = None
    rate: float = 1.0  # multiple of the recorded rate
    max_rate: bool = False  # publish back to back
    iterations: int = 1
    find_max_rate: bool = False
    max_loss: float = 0.05
    max_trials: int = 6
    trial_frames: int = 50
    warmup: int = 3
    record: Optional[str] = None
    record_storage: str = "sqlite3"
    namespace: Optional[str] = None
    node_name: str = NODE_NAME
    use_running_node: bool = False
    input_topic: Optional[str] = None  # the running node's input; found from its subscriptions when None
    node_params: List[str] = field(default_factory=list)  # NAME:=VALUE for the node the bench starts
    ready_timeout: float = 300.0
    drain_timeout: float = 5.0
    samples: int = 4
    progress: bool = True


@dataclass
class _Preloaded:
    messages: List[Any]  # rclpy messages, as recorded
    gts: List[Optional[np.ndarray]]
    offsets_s: List[float]  # from the header stamps, first frame at 0
    sample_rgb: Dict[int, np.ndarray]


@dataclass
class RunData:
    """One measured pass over the frames."""

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
                "loss": self.loss, "stray": self.stray, "publish_rate_hz": _none_if_nan(self.publish_rate_hz),
                "fps": _none_if_nan(self.fps), "latency_mean_ms": _none_if_nan(self.mean_latency_ms),
                "latency_p50_ms": _none_if_nan(float(np.percentile(self.latencies_ms, 50)) if self.latencies_ms
                                               else float("nan")),
                "jitter_ms": _none_if_nan(jitter_ms(self.receive_times_s))}


def _none_if_nan(value: float) -> Optional[float]:
    return None if value is None or not math.isfinite(value) else float(value)


def _to_rclpy(msgtype: str, src: Any) -> Any:
    """An rclpy Image / CompressedImage with the fields of a rosbags message (data copied once)."""
    from sensor_msgs.msg import CompressedImage, Image

    data = array.array("B")
    data.frombytes(np.ascontiguousarray(np.asarray(src.data, dtype=np.uint8)).tobytes())
    msg = CompressedImage() if msgtype == COMPRESSED_TYPE else Image()
    msg.header.frame_id = str(src.header.frame_id)
    if msgtype == COMPRESSED_TYPE:
        msg.format = str(src.format)
    else:
        msg.height, msg.width, msg.step = int(src.height), int(src.width), int(src.step)
        msg.encoding = str(src.encoding)
        msg.is_bigendian = int(src.is_bigendian)
    msg.data = data
    return msg


def schedule(offsets_s: Sequence[float], count: int, rate: Optional[float], max_rate: bool,
             hz: Optional[float] = None) -> List[float]:
    """Publish times (s from the start) of ``count`` frames: back to back, evenly at ``hz``, or as recorded / rate.

    With the recorded timing, frames beyond the bag's (when it is cycled) continue with its mean interval.
    """
    if max_rate:
        return [0.0] * count
    if hz is not None:
        return [i / hz for i in range(count)]
    n = len(offsets_s)
    span = offsets_s[-1] if n else 0.0
    step = span / (n - 1) if n > 1 and span > 0 else 0.1
    times = [offsets_s[i] if i < n else span + (i - n + 1) * step for i in range(count)]
    return [t / float(rate or 1.0) for t in times]


class LiveBench:
    """One live session: the node (started or found), the DDS endpoints, warm-up and measured runs."""

    def __init__(self, bag_path: Any, options: LiveOptions) -> None:
        self.options = options
        self.info = inspect_bag(bag_path, options.image_topic, options.gt_topic, options.typestore)
        from .model_card import load_card

        self.card = load_card(options.model, weights=options.weights, label_set=options.label_set,
                              color_order=options.color_order)
        self.label_set = self.card.labels
        self.compressed = self.info.msgtype == COMPRESSED_TYPE
        self.session: Optional[RosSession] = None
        self.node_process: Optional[NodeProcess] = None
        self.recorder: Optional[RecorderThread] = None
        self.publisher: Any = None
        self.subscriptions: List[Any] = []
        self.topics: Dict[str, str] = {}
        self.input_topic = ""
        self.node_fqn = ""
        self.output_reliable = True
        self.diagnostics: Dict[str, str] = {}
        self.stage_samples: Dict[str, List[float]] = {}
        self._collect_stages = False
        self._params_file: Optional[Path] = None
        self._lock = threading.Lock()
        self._expected: Dict[int, Tuple[int, float, bool]] = {}  # stamp -> (frame index, publish time, warm-up)
        self._record_stamps: Set[int] = set()
        self._last_stamp = 0
        self._current: Optional[RunData] = None
        self._warm_event = threading.Event()
        self._diag_event = threading.Event()
        self._last_receive = 0.0
        self._max_latency_s = 0.0
        self._work: "queue.Queue[Optional[Tuple[Any, ...]]]" = queue.Queue()  # noqa: UP037 (3.8)
        self._worker: Optional[threading.Thread] = None
        self._worker_error: Optional[BaseException] = None
        self._samples: Dict[int, Sample] = {}
        self.preloaded: Optional[_Preloaded] = None

    # -- set-up --------------------------------------------------------------------------------
    def preload(self) -> _Preloaded:
        """Every frame as an rclpy message (and its ground truth), before any timing starts."""
        info, opts = self.info, self.options
        messages: List[Any] = []
        gts: List[Optional[np.ndarray]] = []
        stamps: List[int] = []
        sample_rgb: Dict[int, np.ndarray] = {}
        wanted = set(sample_indices(info.frames, opts.samples))
        frames = read_frames(info.path, opts.image_topic, info.gt_topic, typestore=opts.typestore)
        for index, frame in enumerate(tqdm(frames, total=info.frames, unit="frame", desc="loading frames",
                                           disable=not opts.progress)):
            messages.append(_to_rclpy(self.info.msgtype, frame.encoding_msg))
            gts.append(frame.gt)
            stamps.append(frame.stamp_ns)
            if index in wanted:
                sample_rgb[index] = frame.image
        offsets = [0.0]
        for prev, cur in zip(stamps, stamps[1:]):
            offsets.append(offsets[-1] + max(cur - prev, 0) / 1e9)
        self.preloaded = _Preloaded(messages, gts, offsets, sample_rgb)
        return self.preloaded

    def start(self) -> None:
        opts = self.options
        self.session = RosSession(f"rail_seg_bench_{os.getpid()}")
        self._worker = threading.Thread(target=self._work_loop, name="rail_seg_bench_worker", daemon=True)
        self._worker.start()
        if opts.use_running_node:
            namespace = opts.namespace or "/"
        else:
            namespace = opts.namespace or SPAWN_NAMESPACE
            self._start_node(namespace)
        self.node_fqn = _join_name(namespace, opts.node_name)
        self.topics = node_topics(namespace, opts.node_name)
        self._connect(namespace)

    def _start_node(self, namespace: str) -> None:
        import yaml

        opts = self.options
        if opts.label_set or opts.color_order:
            raise RailSegError("--labels and --color-order are not parameters of segmentation_node; put them in a "
                               "model card YAML and pass that as --model")
        params = {
            "model": _absolute_if_file(opts.model), "weights": _absolute_if_file(opts.weights) or "",
            "backend": opts.backend, "precision": opts.precision, "device": opts.device,
            "engine_cache_dir": str(Path(opts.cache_dir).resolve()) if opts.cache_dir else "",
            "calibration": _absolute_if_file(opts.calibration) or "",
            "input_transport": "compressed" if self.compressed else "raw",
            "input_qos.reliability": "reliable", "input_qos.depth": 10,
            "output_qos.reliability": "reliable", "output_qos.depth": 10,
        }
        handle, name = tempfile.mkstemp(prefix="rail-seg-bench-", suffix=".yaml")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            yaml.safe_dump({"/**": {"ros__parameters": params}}, out, sort_keys=False)
        self._params_file = Path(name)
        for item in opts.node_params:
            if ":=" not in item:
                raise RailSegError(f"--node-param {item!r}: expected NAME:=VALUE")
        command = node_command(namespace, opts.node_name, self._params_file, opts.node_params)
        self.node_process = NodeProcess(command, ensure_local_dds(dict(os.environ)))
        self.input_topic = _join_name(namespace, "image/compressed" if self.compressed else "image")

    def _check_node(self, what: str) -> None:
        if self.node_process is not None:
            self.node_process.check(what)
        if self.session is not None:
            self.session.check()
        if self.recorder is not None:
            self.recorder.check()
        if self._worker_error is not None:
            raise RailSegError(f"scoring failed: {self._worker_error}")

    def _wait(self, condition: Callable[[], bool], timeout: float, what: str) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_node(what)
            if condition():
                return True
            time.sleep(0.05)
        return condition()

    def _find_input_topic(self, namespace: str) -> str:
        """The topic the running node subscribes to, from its subscriptions' types."""
        node = self.session.node
        wanted = COMPRESSED_TYPE if self.compressed else IMAGE_TYPE
        found: List[str] = []

        def look() -> bool:
            try:
                pairs = node.get_subscriber_names_and_types_by_node(self.options.node_name, _join_name(namespace))
            except Exception:  # the node is not (yet) known to the graph
                return False
            found[:] = [name for name, types in pairs if wanted in types]
            return bool(found)

        if not self._wait(look, self.options.ready_timeout, "while the bench looked for it"):
            raise RailSegError(self._not_found_text(f"subscribing to a {wanted} topic"))
        if len(found) > 1:
            raise RailSegError(f"{self.node_fqn} subscribes to several {wanted} topics ({', '.join(found)}); "
                               f"choose one with --input-topic")
        return found[0]

    def _not_found_text(self, what: str) -> str:
        names = self.session.node.get_node_names_and_namespaces()
        running = ", ".join(sorted(_join_name(ns, name) for name, ns in names)) or "none"
        return (f"no node {self.node_fqn} {what} within {self.options.ready_timeout:g} s (nodes seen: {running}; "
                f"ROS_DOMAIN_ID={os.environ.get('ROS_DOMAIN_ID', '0')})")

    def _connect(self, namespace: str) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from sensor_msgs.msg import CompressedImage, Image

        opts, session = self.options, self.session
        node = session.node
        labels_topic = self.topics["labels"]
        waiting = "before it was ready"
        if opts.use_running_node:
            self.input_topic = opts.input_topic or self._find_input_topic(namespace)
        # the node creates its output publishers once the model is loaded and warmed up
        if not self._wait(lambda: bool(session.publisher_qos(labels_topic)), opts.ready_timeout, waiting):
            if self.node_process is not None:
                tail = self.node_process.tail()
                raise RailSegError(f"segmentation_node did not publish {labels_topic} within "
                                   f"{opts.ready_timeout:g} s (raise --ready-timeout for a first TensorRT build); "
                                   f"its last output:\n{tail or '(none)'}")
            raise RailSegError(self._not_found_text(f"publishing {labels_topic}"))
        self.output_reliable = _offers_reliable(session.publisher_qos(labels_topic))
        depth = 50
        self.subscriptions.append(node.create_subscription(
            Image, labels_topic, self._on_labels, _qos(self.output_reliable, depth)))
        if opts.record:
            self.recorder = RecorderThread(opts.record, opts.record_storage,
                                           [self.topics[name] for name in ("labels", "color", "overlay")])
            for name in ("color", "overlay"):
                topic = self.topics[name]
                reliable = _offers_reliable(session.publisher_qos(topic)) or not session.publisher_qos(topic)
                self.subscriptions.append(node.create_subscription(
                    Image, topic, self._recording_callback(topic), _qos(reliable, depth)))
        self.subscriptions.append(node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10))
        self.publisher = node.create_publisher(CompressedImage if self.compressed else Image, self.input_topic,
                                               _qos(True, 10))
        matched = self._wait(lambda: self.publisher.get_subscription_count() > 0
                             and node.count_publishers(labels_topic) > 0, opts.ready_timeout, waiting)
        if not matched:
            raise RailSegError(f"{self.node_fqn} does not subscribe to {self.input_topic} (no subscription matched "
                               f"within {opts.ready_timeout:g} s); check its input transport / remapping")

    # -- callbacks (executor thread) -------------------------------------------------------------
    def _on_labels(self, msg: Any) -> None:
        now = time.perf_counter()
        stamp = header_stamp_ns(msg)
        with self._lock:
            entry = self._expected.pop(stamp, None)
            run = self._current
            if entry is None:
                if run is not None:
                    run.stray += 1
                return
            index, published, warmup = entry
            self._last_receive = now
            self._max_latency_s = max(self._max_latency_s, now - published)
            if warmup:
                self._warm_event.set()
                return
            if run is None:
                return
            run.received += 1
            run.latencies_ms.append((now - published) * 1e3)
            run.receive_times_s.append(now)
        self._work.put((run, index, msg))
        if self.recorder is not None:
            self.recorder.add(self.topics["labels"], msg, time.time_ns())

    def _recording_callback(self, topic: str) -> Callable[[Any], None]:
        def record(msg: Any) -> None:
            if header_stamp_ns(msg) in self._record_stamps:
                self.recorder.add(topic, msg, time.time_ns())
        return record

    def _on_diagnostics(self, msg: Any) -> None:
        prefix = self.node_fqn.lstrip("/") + ":"
        for status in msg.status:
            if not status.name.startswith(prefix):
                continue
            values = {kv.key: kv.value for kv in status.values}
            self.diagnostics = values
            self._diag_event.set()
            if self._collect_stages:
                for stage in LIVE_STAGES:
                    value = values.get(stage + "_ms")
                    if value is not None and _finite(value):
                        self.stage_samples.setdefault(stage, []).append(float(value))

    # -- the worker (scoring and recording off the executor thread) --------------------------------
    def _work_loop(self) -> None:
        while True:
            task = self._work.get()
            try:
                if task is None:
                    return
                if self._worker_error is None:
                    self._do(task)
            except Exception as exc:  # reported to the main thread by _check_node
                self._worker_error = exc
            finally:
                self._work.task_done()

    def _do(self, task: Tuple[Any, ...]) -> None:
        run, index, msg = task
        gt = self.preloaded.gts[index % len(self.preloaded.gts)]
        if run.confusion is None and gt is None and index not in self.preloaded.sample_rgb:
            return
        labels = decode_labels_msg(msg)
        if run.confusion is not None:
            if gt is None:
                run.unmatched += 1
            else:
                score_labels(run.confusion, labels, gt)
        rgb = self.preloaded.sample_rgb.get(index)
        if rgb is not None and index not in self._samples:
            self._samples[index] = (_sample_name(index, gt), make_sample(rgb, labels, gt, self.label_set))

    # -- publishing -----------------------------------------------------------------------------
    def _next_stamp(self) -> int:
        stamp = max(time.time_ns(), self._last_stamp + 1)
        self._last_stamp = stamp
        return stamp

    def _publish(self, msg: Any) -> None:
        self.publisher.publish(msg)

    def _send(self, index: int, warmup: bool) -> int:
        """Publish frame ``index`` (cycling through the bag) with a fresh stamp; return the stamp."""
        msgs = self.preloaded.messages
        msg = msgs[index % len(msgs)]
        stamp = self._next_stamp()
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
        if not warmup and self.recorder is not None:
            self._record_stamps.add(stamp)
        run = None if warmup else self._current
        with self._lock:
            published = time.perf_counter()
            self._expected[stamp] = (index, published, warmup)
            if run is not None:
                run.publish_times_s.append(published)
                run.sent += 1
        try:
            self._publish(msg)
        except BaseException:  # Ctrl-C inside publish(): the frame was not sent
            with self._lock:
                self._expected.pop(stamp, None)
                if run is not None:
                    run.publish_times_s.pop()
                    run.sent -= 1
            raise
        return stamp

    def warm_up(self) -> None:
        """Send warm-up frames, each waited for; the first is re-sent until the node answers."""
        opts = self.options
        count = max(1, opts.warmup)
        deadline = time.monotonic() + opts.ready_timeout
        first = True
        done = 0
        while done < count:
            self._warm_event.clear()
            stamp = self._send(done, warmup=True)
            wait = 2.0 if first else max(10.0, opts.drain_timeout)
            if self._wait(self._warm_event.is_set, wait, "during the warm-up"):
                done += 1
                first = False
                continue
            with self._lock:
                self._expected.pop(stamp, None)
            if not first or time.monotonic() > deadline:
                raise RailSegError(f"{self.node_fqn} sent no {self.topics['labels']} for a warm-up frame on "
                                   f"{self.input_topic} (waited {wait if not first else opts.ready_timeout:g} s)"
                                   + self._log_tail())
        with self._lock:
            self._expected.clear()

    def _log_tail(self) -> str:
        if self.node_process is None:
            return ""
        tail = self.node_process.tail()
        return f"; its last output:\n{tail}" if tail else ""

    def measure(self, label: str, count: Optional[int] = None, hz: Optional[float] = None,
                max_rate: Optional[bool] = None, stages: bool = True) -> RunData:
        """One pass: publish ``count`` frames (the bag's by default) on schedule, wait for the outputs.

        ``stages``: collect the node's stage times from its diagnostics during the pass.
        """
        opts, pre = self.options, self.preloaded
        count = len(pre.messages) if count is None else count
        max_rate = opts.max_rate if max_rate is None else max_rate
        times = schedule(pre.offsets_s, count, opts.rate, max_rate, hz)
        run = RunData(label, confusion=ConfusionMatrix(self.label_set.num_classes) if self.info.has_gt else None)
        with self._lock:
            self._expected.clear()
            self._current = run
        self._collect_stages = stages
        bar = tqdm(total=count, unit="frame", desc=label, disable=not opts.progress)
        try:
            start = time.perf_counter()
            for index, offset in enumerate(times):
                delay = start + offset - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                if index % 16 == 0:
                    self._check_node("during the run")
                self._send(index, warmup=False)
                bar.update(1)
                bar.set_postfix(received=run.received, refresh=False)
            last_publish = time.perf_counter()

            # the node keeps one frame while busy: an output comes within a few latencies of its frame or never
            quiet = min(opts.drain_timeout, max(1.0, 4.0 * self._max_latency_s))

            def drained() -> bool:
                with self._lock:
                    return run.received >= run.sent or (
                        time.perf_counter() - max(last_publish, self._last_receive) > quiet)

            self._wait(drained, float("inf"), "during the run")
            bar.set_postfix(received=run.received)
        except KeyboardInterrupt:
            run.interrupted = True
        finally:
            bar.close()
            with self._lock:
                self._current = None
                self._expected.clear()
            self._collect_stages = False
        self._work.join()
        if self._worker_error is not None:
            raise RailSegError(f"scoring failed: {self._worker_error}")
        return run

    def final_diagnostics(self, timeout: float = 1.5) -> None:
        """Wait for the node's next diagnostics (it covers the end of the last run) and collect its stages."""
        if self.session is None or not self.node_fqn:
            return
        self._diag_event.clear()
        self._collect_stages = True
        try:
            self._wait(self._diag_event.is_set, timeout, "after the run")
        finally:
            self._collect_stages = False

    def samples(self) -> List[Sample]:
        return [self._samples[i] for i in sorted(self._samples)]

    def stages_ms(self) -> Dict[str, float]:
        """Mean of the node's per-second stage means (its /diagnostics) over the measured runs."""
        return {stage: float(np.mean(v)) for stage, v in self.stage_samples.items() if v}

    def close(self, failed: bool) -> Optional[int]:
        """Stop everything; the node process gets SIGINT. Return its exit status (None for a running node)."""
        code = None
        try:
            if self.session is not None:
                self.session.close()
        finally:
            self.subscriptions = []
            if self.node_process is not None:
                code = self.node_process.stop()
                self.node_process.remove_log()
            if self._worker is not None:
                self._work.put(None)
                self._worker.join(timeout=60.0)
            if self._params_file is not None and self._params_file.exists():
                self._params_file.unlink()
            if self.recorder is not None:
                self.recorder.finish(keep=not failed)
        return code


def _pool(runs: Sequence[RunData], label_set: LabelSet, has_gt: bool) -> Tuple[
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
    fps = [r.fps for r in runs if _finite(r.fps)]
    jitters = [jitter_ms(r.receive_times_s) for r in runs]
    jitters = [j for j in jitters if _finite(j)]
    counts = {
        "sent": sum(r.sent for r in runs),
        "received": sum(r.received for r in runs),
        "dropped": sum(r.dropped for r in runs),
        "stray": sum(r.stray for r in runs),
        "unmatched": sum(r.unmatched for r in runs) if has_gt else None,
        "fps": float(np.mean(fps)) if fps else None,
        "jitter_ms": float(np.mean(jitters)) if jitters else None,
        "publish_rate_hz": _none_if_nan(float(np.mean([r.publish_rate_hz for r in runs]))) if runs else None,
    }
    return confusion, latencies, times, counts


def keep_runs(runs: Sequence[RunData]) -> List[int]:
    """Indices of the runs kept: all, or with three or more, all but the lowest and highest mean latency."""
    if len(runs) < 3:
        return list(range(len(runs)))
    means = [r.mean_latency_ms if _finite(r.mean_latency_ms) else float("inf") for r in runs]
    order = sorted(range(len(runs)), key=lambda i: means[i])
    return sorted(order[1:-1])


def _search_max_rate(bench: LiveBench, trials: List[RunData]) -> Optional[float]:
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
    top = first.publish_rate_hz if _finite(first.publish_rate_hz) else 1000.0
    if first.loss <= opts.max_loss:
        return top
    low, high = 0.0, top
    mean_ms = first.mean_latency_ms
    guess = 1000.0 / mean_ms if _finite(mean_ms) and mean_ms > 0 else 10.0
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


def run_live(bag_path: Any, options: LiveOptions) -> BenchResult:
    """Replay the bag through segmentation_node over DDS (see the module docstring).

    Ctrl-C returns what was measured so far, marked partial, after stopping the node.
    """
    bench = LiveBench(bag_path, options)
    result = BenchResult("live", bench.label_set, None)
    if not bench.info.has_gt:
        result.notes.append(no_gt_note(bench.info, options.gt_topic))
    runs: List[RunData] = []
    trials: List[RunData] = []
    max_rate_hz: Optional[float] = None
    failed = True
    node_code: Optional[int] = None
    try:
        try:
            bench.preload()
            bench.start()
            bench.warm_up()
            hz = None
            if options.find_max_rate:
                max_rate_hz = _search_max_rate(bench, trials)
                if max_rate_hz is None:
                    result.notes.append(f"no trial rate lost at most {options.max_loss:.0%} of the frames; the "
                                        f"report measures the lowest rate tried")
                    hz = min((t.publish_rate_hz for t in trials if _finite(t.publish_rate_hz)), default=1.0)
                else:
                    hz = max_rate_hz
            for number in range(1, max(options.iterations, 1) + 1):
                label = f"run {number}/{options.iterations}" if options.iterations > 1 else "run"
                run = bench.measure(label, hz=hz, max_rate=False if hz is not None else None)
                runs.append(run)
                if run.interrupted:
                    raise KeyboardInterrupt
            bench.final_diagnostics()
        except KeyboardInterrupt:
            result.partial = True
            result.notes.append("interrupted: the numbers cover the frames measured before Ctrl-C")
        failed = False
    finally:
        node_code = bench.close(failed)
    kept = keep_runs(runs) if not result.partial else list(range(len(runs)))
    pooled = [runs[i] for i in kept]
    confusion, latencies, times, counts = _pool(pooled, bench.label_set, bench.info.has_gt)
    result.confusion = confusion
    result.latencies_ms = latencies
    result.receive_times_s = times
    result.samples = bench.samples()
    diag = bench.diagnostics
    rate_text = ("back to back" if options.max_rate else f"{options.rate:g} x recorded")
    if options.find_max_rate:
        rate_text = f"{max_rate_hz:.2f} Hz (found)" if max_rate_hz is not None else "lowest trial rate"
    result.run.update({
        "model": diag.get("model") or bench.card.name,
        "backend": diag.get("backend") or options.backend,
        "precision": diag.get("precision") or options.precision,
        "device": diag.get("device") or options.device,
        "bag": str(bench.info.path),
        "image_topic": options.image_topic,
        "gt_topic": bench.info.gt_topic,
        "mode": "live",
        "frames": counts["received"],
        "frames_in_bag": bench.info.frames,
        "stages_ms": bench.stages_ms(),
        "rate": rate_text,
        "node": bench.node_fqn,
        "node_started_by_bench": not options.use_running_node,
        "node_exit_code": node_code,
        "input_topic": bench.input_topic,
        "output_topic": bench.topics.get("labels"),
        "output_reliable": bench.output_reliable,
        "warmup_frames": max(1, options.warmup),
        "iterations": [dict(r.summary(), kept=i in kept) for i, r in enumerate(runs)],
        "iteration_rule": "with 3 or more iterations the runs with the lowest and the highest mean latency "
                          "are left out; the rest are pooled",
        "node_dropped": _int_or_none(diag.get("dropped")),
        "miou_definition": MIOU_DEFINITION,
        "fps_definition": LIVE_FPS_DEFINITION,
    })
    result.run.update(counts)
    if options.find_max_rate:
        result.run["max_rate_hz"] = max_rate_hz
        result.run["max_loss"] = options.max_loss
        result.run["trials"] = [t.summary() for t in trials]
    if options.record and Path(options.record).exists():
        result.run["record"] = str(options.record)
    return result


def _int_or_none(value: Optional[str]) -> Optional[int]:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# Recording a running node


def record_outputs(out: Any, namespace: str = "/", node_name: str = NODE_NAME,
                   topics: Sequence[str] = ("labels", "color", "overlay"), duration: Optional[float] = None,
                   storage: str = "sqlite3", wait_timeout: float = 30.0, progress: bool = True) -> Dict[str, int]:
    """Record a running node's outputs into a new bag at ``out`` until Ctrl-C or ``duration`` seconds.

    Topic names are relative to the node (``labels`` -> ``NS/NODE/labels``) unless they start with '/'.
    Log time is the receive time (wall clock), as ros2 bag record does. Returns messages per topic.
    Nothing is written when no message arrived (RailSegError).
    """
    from sensor_msgs.msg import Image

    resolved = [t if t.startswith("/") else f"{_join_name(namespace, node_name)}/{t}" for t in topics]
    counts: Dict[str, int] = {t: 0 for t in resolved}
    session = RosSession(f"rail_seg_record_{os.getpid()}")
    recorder: Optional[RecorderThread] = None
    bar = None
    try:
        deadline = time.monotonic() + wait_timeout
        while not any(session.publisher_qos(t) for t in resolved):
            if time.monotonic() > deadline:
                seen = sorted(name for name, types in session.node.get_topic_names_and_types() if IMAGE_TYPE in types)
                raise RailSegError(
                    f"no publisher on {', '.join(resolved)} within {wait_timeout:g} s (image topics seen: "
                    f"{', '.join(seen) or 'none'}; ROS_DOMAIN_ID={os.environ.get('ROS_DOMAIN_ID', '0')})")
            time.sleep(0.1)
        recorder = RecorderThread(out, storage, resolved)
        bar = tqdm(unit="msg", desc=f"recording {Path(out).name}", disable=not progress)

        def callback(topic: str) -> Callable[[Any], None]:
            def on_message(msg: Any) -> None:
                recorder.add(topic, msg, time.time_ns())
                counts[topic] += 1
            return on_message

        for topic in resolved:
            profiles = session.publisher_qos(topic)
            reliable = _offers_reliable(profiles) or not profiles
            session.node.create_subscription(Image, topic, callback(topic), _qos(reliable, 50))
        end = None if duration is None else time.monotonic() + duration
        shown = 0
        try:
            while end is None or time.monotonic() < end:
                session.check()
                recorder.check()
                time.sleep(0.1)
                total = sum(counts.values())
                bar.update(total - shown)
                shown = total
        except KeyboardInterrupt:
            pass
        session.close()
        written = recorder.finish(keep=True)
        recorder.check()
        if not written:
            raise RailSegError(f"no messages received on {', '.join(resolved)}; nothing written")
    finally:
        if bar is not None:
            bar.close()
        if recorder is not None:
            recorder.finish(keep=False)
        session.close()
    return counts


def iter_labels(bag_path: Any, topic: str) -> Iterator[Tuple[int, np.ndarray]]:
    """(header stamp ns, labels) of a labels topic in a recorded bag (for checking recordings)."""
    with open_bag(bag_path) as bag:
        for _, _, _, msg in bag.read([topic]):
            yield header_stamp_ns(msg), decode_labels_msg(msg)
