"""Segmentation and timing metrics shared by the ROS node, the bench tool, training validation and tests.

Segmentation: one :class:`ConfusionMatrix` is accumulated over the whole set and mIoU is computed from it
(the Cityscapes definition, :data:`MIOU_DEFINITION`). Timing: latency percentiles, receive jitter, a sliding
window rate meter, rolling percentiles and per-stage timers.
"""


import collections
import contextlib
import math
import threading
import time
from typing import Any, Deque, Dict, Iterator, List, Optional, Sequence

import cv2
import numpy as np

from .errors import RailSegError
from .labels import IGNORE_ID, LabelSet

MIOU_DEFINITION = (
    "mIoU is computed as in the Cityscapes benchmark: one confusion matrix is accumulated over all evaluated "
    "pixels of the whole set (ground-truth ignore pixels left out), each class's IoU is TP / (TP + FP + FN), "
    "and the mean is taken over the classes that occur in the ground truth or the predictions of the set; "
    "predictions outside the label set count as false negatives of the true class and as nobody's false positive."
)


class ConfusionMatrix:
    """Pixel confusion counts accumulated over a set of images.

    Rows are ground truth, columns are predictions. Ground-truth pixels equal to ``ignore_id`` are left out.
    A predicted value outside ``0..num_classes-1`` goes to an extra "other" column: it is a false negative
    of the ground-truth class and a false positive of no class; it lowers pixel accuracy.
    A ground-truth value outside ``0..num_classes-1`` (other than ``ignore_id``) is an error.
    """

    def __init__(self, num_classes: int, ignore_id: int = IGNORE_ID) -> None:
        if not 0 < num_classes < 256:
            raise ValueError(f"num_classes must be 1..255, got {num_classes}")
        self.num_classes = int(num_classes)
        self.ignore_id = int(ignore_id)
        # N x (N + 1): the last column holds predictions outside the label set.
        self._counts = np.zeros((self.num_classes, self.num_classes + 1), dtype=np.int64)

    # ---- accumulation -------------------------------------------------------------------------
    def update(self, pred: np.ndarray, gt: np.ndarray) -> None:
        """Add one prediction / ground-truth pair of label maps (same shape, integer dtype)."""
        pred = np.asarray(pred)
        gt = np.asarray(gt)
        if pred.shape != gt.shape:
            raise RailSegError(f"prediction shape {pred.shape} differs from ground-truth shape {gt.shape}")
        for what, array in (("prediction", pred), ("ground truth", gt)):
            if array.dtype.kind not in "iu":
                raise TypeError(f"{what} must be an integer label map, got dtype {array.dtype}")
        n = self.num_classes
        valid = gt != self.ignore_id
        gt_v = gt[valid].astype(np.int64)
        pred_v = pred[valid].astype(np.int64)
        if gt_v.size and (gt_v.min() < 0 or gt_v.max() >= n):
            bad = int(gt_v.min()) if gt_v.min() < 0 else int(gt_v.max())
            raise RailSegError(
                f"ground truth holds label {bad}, outside 0..{n - 1} and not the ignore id {self.ignore_id}"
            )
        pred_v[(pred_v < 0) | (pred_v >= n)] = n
        counts = np.bincount(gt_v * (n + 1) + pred_v, minlength=n * (n + 1))
        self._counts += counts.reshape(n, n + 1)

    def merge(self, other: "ConfusionMatrix") -> None:
        """Add the counts of another matrix over the same label set."""
        if other.num_classes != self.num_classes or other.ignore_id != self.ignore_id:
            raise ValueError(
                f"cannot merge a {other.num_classes}-class matrix (ignore {other.ignore_id}) into a "
                f"{self.num_classes}-class one (ignore {self.ignore_id})"
            )
        self._counts += other._counts

    def reset(self) -> None:
        """Forget all counts."""
        self._counts[:] = 0

    # ---- views --------------------------------------------------------------------------------
    @property
    def matrix(self) -> np.ndarray:
        """N x N int64 counts, rows = ground truth, columns = prediction (a copy)."""
        return self._counts[:, : self.num_classes].copy()

    @property
    def other(self) -> np.ndarray:
        """Per ground-truth class, pixels predicted as a value outside the label set."""
        return self._counts[:, self.num_classes].copy()

    @property
    def total(self) -> int:
        """Evaluated pixels (ignore pixels excluded)."""
        return int(self._counts.sum())

    # ---- scores -------------------------------------------------------------------------------
    def iou(self) -> np.ndarray:
        """Per-class IoU = TP / (TP + FP + FN); NaN where the class is in neither gt nor prediction."""
        n = self.num_classes
        tp = np.diag(self._counts[:, :n]).astype(np.float64)
        fp = self._counts[:, :n].sum(axis=0) - tp
        fn = self._counts.sum(axis=1) - tp
        denom = tp + fp + fn
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denom > 0, tp / np.maximum(denom, 1), np.nan)

    def miou(self) -> float:
        """Mean IoU over the classes present in gt or prediction (NaN when nothing was evaluated)."""
        return _nanmean(self.iou())

    def pixel_accuracy(self) -> float:
        """Correct pixels / evaluated pixels (NaN when nothing was evaluated)."""
        total = self.total
        if total == 0:
            return float("nan")
        return float(np.trace(self._counts[:, : self.num_classes])) / total

    def per_class(self, label_set: LabelSet) -> Dict[str, Optional[float]]:
        """Class name -> IoU, None for classes absent from both gt and prediction."""
        self._check_label_set(label_set)
        return {name: _float_or_none(v) for name, v in zip(label_set.names, self.iou())}

    # ---- categories ---------------------------------------------------------------------------
    def category_matrix(self, lut: np.ndarray) -> "ConfusionMatrix":
        """The matrix with classes merged into categories by ``lut`` (class id -> category id).

        Classes the table maps to the ignore id lose their ground-truth pixels, and predictions of them
        count as "other" (wrong).
        """
        n = self.num_classes
        lut = np.asarray(lut)
        if lut.shape[0] < n:
            raise ValueError(f"category table has {lut.shape[0]} entries for {n} classes")
        cat = lut[:n].astype(np.int64)
        kept = cat != self.ignore_id
        if not kept.any():
            raise ValueError("category table maps every class to the ignore id")
        c = int(cat[kept].max()) + 1
        rows = np.zeros((c, n), dtype=np.int64)  # category x class
        rows[cat[kept], np.nonzero(kept)[0]] = 1
        cols = np.zeros((n + 1, c + 1), dtype=np.int64)  # class (+ other) x category (+ other)
        cols[np.arange(n), np.where(kept, cat, c)] = 1
        cols[n, c] = 1
        merged = ConfusionMatrix(c, self.ignore_id)
        merged._counts = rows @ self._counts @ cols
        return merged

    def category_iou(self, label_set: LabelSet) -> Dict[str, Optional[float]]:
        """Category name -> IoU (classes merged before TP/FP/FN are counted), None where absent."""
        self._check_label_set(label_set)
        ious = self.category_matrix(label_set.category_lut()).iou()
        return {name: _float_or_none(v) for name, v in zip(label_set.category_names, ious)}

    def category_miou(self, label_set: LabelSet) -> float:
        """Mean category IoU, same rules as :meth:`miou`."""
        self._check_label_set(label_set)
        return self.category_matrix(label_set.category_lut()).miou()

    # ---- saving -------------------------------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` restores it."""
        return {
            "num_classes": self.num_classes,
            "ignore_id": self.ignore_id,
            "matrix": self.matrix.tolist(),
            "other": self.other.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "ConfusionMatrix":
        """Restore a matrix saved with :meth:`to_dict`."""
        cm = cls(int(data["num_classes"]), int(data.get("ignore_id", IGNORE_ID)))
        n = cm.num_classes
        matrix = np.asarray(data["matrix"], dtype=np.int64)
        other = np.asarray(data.get("other", [0] * n), dtype=np.int64)
        if matrix.shape != (n, n) or other.shape != (n,):
            raise ValueError(f"saved confusion matrix has shape {matrix.shape}, expected {(n, n)}")
        if (matrix < 0).any() or (other < 0).any():
            raise ValueError("saved confusion matrix has negative counts")
        cm._counts[:, :n] = matrix
        cm._counts[:, n] = other
        return cm

    def _check_label_set(self, label_set: LabelSet) -> None:
        if label_set.num_classes != self.num_classes:
            raise ValueError(
                f"label set {label_set.name} has {label_set.num_classes} classes, matrix has {self.num_classes}"
            )


def _nanmean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else float("nan")


def _float_or_none(value: float) -> Optional[float]:
    return None if value is None or math.isnan(value) else float(value)


def resize_labels_nearest(labels: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a label map to ``height`` x ``width`` with nearest neighbour (no new label values)."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"label map must be 2-D, got shape {labels.shape}")
    if labels.shape == (height, width):
        return labels
    work = labels
    if labels.dtype not in (np.uint8, np.uint16, np.int16, np.int32):
        work = labels.astype(np.int32)  # cv2 resizes no int64 / bool
    out = cv2.resize(work, (int(width), int(height)), interpolation=cv2.INTER_NEAREST)
    return out.astype(labels.dtype, copy=False)


# ---- latency ----------------------------------------------------------------------------------

LATENCY_KEYS = ("mean", "p50", "p90", "p95", "p99", "max", "min", "count")


def summarize_latencies(ms: Sequence[float]) -> Dict[str, float]:
    """mean, p50, p90, p95, p99, max, min (ms, linear-interpolated percentiles) and count.

    With no values, count is 0 and the rest NaN.
    """
    values = np.asarray(list(ms), dtype=np.float64)
    if values.size == 0:
        summary = {key: float("nan") for key in LATENCY_KEYS}
        summary["count"] = 0
        return summary
    p50, p90, p95, p99 = np.percentile(values, [50, 90, 95, 99])
    return {
        "mean": float(values.mean()),
        "p50": float(p50),
        "p90": float(p90),
        "p95": float(p95),
        "p99": float(p99),
        "max": float(values.max()),
        "min": float(values.min()),
        "count": int(values.size),
    }


def jitter_ms(receive_times_s: Sequence[float]) -> float:
    """Receive jitter in ms: the mean absolute change between consecutive inter-arrival intervals.

    With receive times t, intervals d[i] = t[i+1] - t[i]; jitter = mean(|d[i+1] - d[i]|) * 1000.
    A perfectly periodic stream has jitter 0. NaN with fewer than three receive times.
    """
    times = np.asarray(list(receive_times_s), dtype=np.float64)
    if times.size < 3:
        return float("nan")
    return float(np.abs(np.diff(times, n=2)).mean() * 1000.0)


def rate_hz(receive_times_s: Sequence[float]) -> float:
    """Average rate over a run: (n - 1) / (last - first); NaN with fewer than two times or no span."""
    times = np.asarray(list(receive_times_s), dtype=np.float64)
    if times.size < 2:
        return float("nan")
    span = float(times.max() - times.min())
    return (times.size - 1) / span if span > 0 else float("nan")


class RateMeter:
    """Events per second over a sliding window of ``window_s`` seconds (thread-safe).

    ``rate(now)`` = events in (now - window_s, now] / window_s, so it reads low during the first window
    and falls to 0 one window after events stop. A clock that jumps back (a looped bag) restarts the count.
    """

    def __init__(self, window_s: float = 2.0) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be positive, got {window_s}")
        self.window_s = float(window_s)
        self._times: Deque[float] = collections.deque()
        self._lock = threading.Lock()

    def tick(self, now: float) -> None:
        """Record one event at time ``now`` (seconds)."""
        with self._lock:
            if self._times and now < self._times[-1]:
                self._times.clear()
            self._times.append(float(now))
            self._prune(now)

    def count(self, now: float) -> int:
        """Events in (now - window_s, now]."""
        with self._lock:
            self._prune(now)
            return sum(1 for t in self._times if t <= now)

    def rate(self, now: float) -> float:
        """Events per second over the window ending at ``now``."""
        return self.count(now) / self.window_s

    def _prune(self, now: float) -> None:
        start = now - self.window_s
        while self._times and self._times[0] <= start:
            self._times.popleft()


class RollingStats:
    """The most recent ``maxlen`` values with mean and percentiles (thread-safe)."""

    def __init__(self, maxlen: int = 300) -> None:
        if maxlen <= 0:
            raise ValueError(f"maxlen must be positive, got {maxlen}")
        self._values: Deque[float] = collections.deque(maxlen=int(maxlen))
        self._lock = threading.Lock()

    def add(self, value: float) -> None:
        """Append a value, dropping the oldest when full."""
        with self._lock:
            self._values.append(float(value))

    def values(self) -> List[float]:
        """A copy of the kept values, oldest first."""
        with self._lock:
            return list(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def percentile(self, p: float) -> float:
        """The ``p``-th percentile (0..100, linear) of the kept values; NaN when empty."""
        values = self.values()
        return float(np.percentile(values, p)) if values else float("nan")

    def mean(self) -> float:
        """Mean of the kept values; NaN when empty."""
        values = self.values()
        return float(np.mean(values)) if values else float("nan")

    def max(self) -> float:
        """Largest kept value; NaN when empty."""
        values = self.values()
        return float(max(values)) if values else float("nan")

    def summary(self) -> Dict[str, float]:
        """:func:`summarize_latencies` of the kept values."""
        return summarize_latencies(self.values())


class StageTimer:
    """Per-stage milliseconds (decode, preprocess, infer, ...) accumulated across frames (thread-safe)."""

    def __init__(self) -> None:
        self._totals: Dict[str, float] = {}
        self._counts: Dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, stage: str, ms: float) -> None:
        """Add one measurement of ``stage`` in milliseconds."""
        with self._lock:
            self._totals[stage] = self._totals.get(stage, 0.0) + float(ms)
            self._counts[stage] = self._counts.get(stage, 0) + 1

    @contextlib.contextmanager
    def measure(self, stage: str) -> Iterator[None]:
        """Time the ``with`` body with ``time.perf_counter`` and add it to ``stage`` (not when it raises)."""
        start = time.perf_counter()
        yield
        self.add(stage, (time.perf_counter() - start) * 1000.0)

    def means(self) -> Dict[str, float]:
        """Stage -> mean ms per measurement, in the order stages were first seen."""
        with self._lock:
            return {stage: self._totals[stage] / self._counts[stage] for stage in self._totals}

    def counts(self) -> Dict[str, int]:
        """Stage -> number of measurements."""
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        """Forget all measurements."""
        with self._lock:
            self._totals.clear()
            self._counts.clear()
