"""The report folder of ``rail-seg bench``: report.json, report.md, PNG plots and sample overlays.

:func:`build_report` turns a confusion matrix, latency lists and run facts into the report dict;
:func:`write_report` writes the folder atomically (a temporary folder renamed at the end).
Plots use matplotlib's Agg canvas directly, so no display and no global backend switch is needed.
"""


import json
import math
import re
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import cv2
import numpy as np

from .errors import RailSegError
from .fileio import PathLike, atomic_path
from .labels import LabelSet
from .metrics import MIOU_DEFINITION, ConfusionMatrix, StageTimer, jitter_ms, rate_hz, summarize_latencies

JITTER_DEFINITION = (
    "Jitter is the mean absolute change between consecutive inter-arrival intervals of the received "
    "results, in ms (0 for a perfectly periodic stream)."
)
PARTIAL_NOTE = (
    "> **PARTIAL** — the run did not finish; the numbers cover only the frames processed before it stopped."
)
NO_GT_NOTE = (
    "No ground truth: this is a latency-only report; mIoU, pixel accuracy and per-class IoU are not available."
)
FPS_DEFINITION = "fps is (received - 1) / (last receive time - first receive time) unless the run states it."

# Keys every report.json has (null where the run has no value for them).
REPORT_KEYS = (
    "frames", "dropped", "unmatched", "sent", "received", "miou", "pixel_accuracy", "per_class",
    "category_miou", "per_category", "latency_ms", "jitter_ms", "fps", "stages_ms", "model", "backend",
    "precision", "bag", "mode", "label_set", "has_ground_truth", "miou_definition", "partial",
)
# Run facts the bench tool passes in ``run``; anything else it passes is kept as well.
RUN_KEYS = (
    "model", "backend", "precision", "bag", "mode", "frames", "sent", "received", "dropped", "unmatched",
    "fps", "stages_ms",
)

Sample = Tuple[str, np.ndarray]


# ---- the report dict ------------------------------------------------------------------------------

def build_report(
    confusion: Optional[ConfusionMatrix],
    label_set: LabelSet,
    latencies_ms: Optional[Sequence[float]] = None,
    receive_times_s: Optional[Sequence[float]] = None,
    run: Optional[Mapping[str, Any]] = None,
    partial: bool = False,
) -> Dict[str, Any]:
    """The report dict from the measurements and the run facts (model, backend, sent, received, ...).

    ``confusion`` None means the bag had no ground truth: the segmentation scores are None.
    ``run["stages_ms"]`` may be a dict of mean ms or a :class:`StageTimer`.
    """
    run = dict(run or {})
    latencies = list(latencies_ms or [])
    receive_times = list(receive_times_s or [])
    report: Dict[str, Any] = {key: None for key in REPORT_KEYS}
    report.update(run)
    report.update(_segmentation_scores(confusion, label_set))
    stages = run.get("stages_ms")
    report["stages_ms"] = stages.means() if isinstance(stages, StageTimer) else dict(stages or {})
    report["latency_ms"] = summarize_latencies(latencies)
    report["jitter_ms"] = jitter_ms(receive_times)
    if run.get("fps") is None:
        report["fps"] = rate_hz(receive_times)
    if run.get("frames") is None and latencies:
        report["frames"] = len(latencies)
    if run.get("dropped") is None and run.get("sent") is not None and run.get("received") is not None:
        report["dropped"] = max(int(run["sent"]) - int(run["received"]), 0)
    report["label_set"] = label_set.name
    report["miou_definition"] = MIOU_DEFINITION
    report["partial"] = bool(partial or run.get("partial", False))
    return report


def _segmentation_scores(confusion: Optional[ConfusionMatrix], label_set: LabelSet) -> Dict[str, Any]:
    if confusion is None:
        return {"has_ground_truth": False, "miou": None, "pixel_accuracy": None, "per_class": None,
                "category_miou": None, "per_category": None}
    scores: Dict[str, Any] = {
        "has_ground_truth": True,
        "miou": confusion.miou(),
        "pixel_accuracy": confusion.pixel_accuracy(),
        "per_class": confusion.per_class(label_set),
        "category_miou": None,
        "per_category": None,
        "evaluated_pixels": confusion.total,
    }
    if label_set.categories:
        scores["category_miou"] = confusion.category_miou(label_set)
        scores["per_category"] = confusion.category_iou(label_set)
    return scores


def to_jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars/arrays converted, NaN and infinities to None, paths to str."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


# ---- the folder -----------------------------------------------------------------------------------

def write_report(
    out_dir: PathLike,
    report: Dict[str, Any],
    confusion: Optional[ConfusionMatrix],
    label_set: LabelSet,
    latencies_ms: Optional[Sequence[float]] = None,
    receive_times_s: Optional[Sequence[float]] = None,
    samples: Sequence[Sample] = (),
    partial: bool = False,
) -> Path:
    """Write report.json, report.md, plots and samples/ into ``out_dir``; return its path.

    The folder is built under a temporary name and renamed at the end, so an existing report there is
    replaced only when the new one is complete.
    """
    report = dict(report)
    for key in REPORT_KEYS:
        report.setdefault(key, None)
    report["partial"] = bool(partial or report.get("partial"))
    report["label_set"] = report["label_set"] or label_set.name
    if report["has_ground_truth"] is None:
        report["has_ground_truth"] = confusion is not None
    report["miou_definition"] = report["miou_definition"] or MIOU_DEFINITION
    latencies = [float(v) for v in (latencies_ms or [])]
    receive_times = [float(v) for v in (receive_times_s or [])]
    final = Path(out_dir)
    with atomic_path(final) as tmp:
        tmp.mkdir(parents=True)
        plots, plot_note = _write_plots(tmp, confusion, label_set, latencies, receive_times)
        sample_files = _write_samples(tmp / "samples", samples)
        report["plots"] = plots
        report["samples"] = sample_files
        data = to_jsonable(report)
        (tmp / "report.json").write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        (tmp / "report.md").write_text(render_markdown(data, label_set, plot_note), encoding="utf-8")
        if confusion is not None:
            text = json.dumps(confusion.to_dict()) + "\n"
            (tmp / "confusion.json").write_text(text, encoding="utf-8")
        if latencies:
            _write_latency_csv(tmp / "latency.csv", latencies, receive_times)
    return final


def _write_latency_csv(path: Path, latencies: List[float], receive_times: List[float]) -> None:
    times: List[Optional[float]] = list(receive_times) if len(receive_times) == len(latencies) else []
    if not times:
        times = [None] * len(latencies)
    lines = ["frame,receive_time_s,latency_ms"]
    lines += [f"{i},{'' if t is None else repr(t)},{ms!r}" for i, (t, ms) in enumerate(zip(times, latencies))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _safe_name(name: str, taken: Dict[str, int]) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).stem if name.lower().endswith(".png") else name)
    stem = stem.strip("._") or "sample"
    count = taken.get(stem, 0)
    taken[stem] = count + 1
    return f"{stem}.png" if count == 0 else f"{stem}_{count}.png"


def _write_samples(folder: Path, samples: Sequence[Sample]) -> List[str]:
    names: List[str] = []
    taken: Dict[str, int] = {}
    for name, image in samples:
        image = np.asarray(image)
        if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
            raise ValueError(f"sample {name!r} must be an HxWx3 RGB uint8 image, got {image.dtype} {image.shape}")
        folder.mkdir(exist_ok=True)
        filename = _safe_name(name, taken)
        bgr = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        if not cv2.imwrite(str(folder / filename), bgr):
            raise RailSegError(f"could not write sample image {folder / filename}")
        names.append(f"samples/{filename}")
    return names


# ---- report.md ------------------------------------------------------------------------------------

def _fmt(value: Any, digits: int = 1, scale: float = 1.0, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, bool) or (isinstance(value, int) and scale == 1.0):
        return f"{value}{unit}"
    return f"{float(value) * scale:.{digits}f}{unit}"


def _pct(value: Any) -> str:
    return _fmt(value, 1, 100.0, " %")


def _table(header: Tuple[str, str], rows: Sequence[Tuple[str, str]], align_right: bool = True) -> List[str]:
    lines = [f"| {header[0]} | {header[1]} |", "|:---|---:|" if align_right else "|:---|:---|"]
    lines += [f"| {a} | {b} |" for a, b in rows]
    return lines + [""]


def _iou_table(title: str, label: str, ious: Mapping[str, Any], mean: Any) -> List[str]:
    rows = [(name, _fmt(v, 1, 100.0)) for name, v in ious.items()]
    rows.append(("**Score Average**", f"**{_fmt(mean, 1, 100.0)}**"))
    lines = [f"## {title}", ""] + _table((label, "IoU (%)"), rows)
    if any(v is None for v in ious.values()):
        lines += ["n/a: in neither the ground truth nor the predictions of the set; left out of the mean.", ""]
    return lines


def _summary_rows(report: Mapping[str, Any]) -> List[Tuple[str, str]]:
    latency = report.get("latency_ms") or {}
    rows = [("mIoU", _pct(report.get("miou")))]
    if report.get("category_miou") is not None:
        rows.append(("category mIoU", _pct(report.get("category_miou"))))
    rows += [
        ("pixel accuracy", _pct(report.get("pixel_accuracy"))),
        ("fps", _fmt(report.get("fps"), 2)),
    ]
    rows += [(f"latency {key}", _fmt(latency.get(key), 2, unit=" ms")) for key in ("p50", "p90", "p99", "max", "mean")]
    rows += [
        ("jitter", _fmt(report.get("jitter_ms"), 2, unit=" ms")),
        ("frames sent", _fmt(report.get("sent"))),
        ("frames received", _fmt(report.get("received"))),
        ("frames dropped", _fmt(report.get("dropped"))),
        ("frames unmatched", _fmt(report.get("unmatched"))),
        ("frames", _fmt(report.get("frames"))),
    ]
    return rows


def render_markdown(report: Mapping[str, Any], label_set: LabelSet, plot_note: str = "") -> str:
    """report.md from a (JSON-ready) report dict."""
    lines = ["# rail-seg bench report", ""]
    if report.get("partial"):
        lines += [PARTIAL_NOTE, ""]
    facts = [(key, f"`{report.get(key)}`" if report.get(key) is not None else "n/a")
             for key in ("model", "backend", "precision", "bag", "mode", "label_set")]
    lines += _table(("run", "value"), facts, align_right=False)
    lines += ["## Summary", ""] + _table(("metric", "value"), _summary_rows(report))
    if not report.get("has_ground_truth"):
        lines += [NO_GT_NOTE, ""]
    if report.get("per_class"):
        lines += _iou_table("Per-class IoU", "class", report["per_class"], report.get("miou"))
    if report.get("per_category"):
        lines += _iou_table("Per-category IoU", "category", report["per_category"], report.get("category_miou"))
    stages = report.get("stages_ms") or {}
    if stages:
        rows = [(name, _fmt(ms, 2)) for name, ms in stages.items()]
        lines += ["## Stages", ""] + _table(("stage", "mean ms"), rows)
    lines += ["## Definitions", "", str(report.get("miou_definition") or MIOU_DEFINITION), "",
              JITTER_DEFINITION, "", FPS_DEFINITION, ""]
    lines += _plot_lines(report.get("plots") or [], plot_note)
    samples = report.get("samples") or []
    if samples:
        lines += ["## Samples", ""] + [f"- [{Path(s).name}]({s})" for s in samples] + [""]
    return "\n".join(lines)


PLOT_TITLES = {
    "latency_histogram.png": "Latency histogram",
    "latency_timeline.png": "Latency over the run",
    "per_class_iou.png": "Per-class IoU",
    "confusion_matrix.png": "Confusion matrix (row-normalised)",
}


def _plot_lines(plots: Sequence[str], note: str) -> List[str]:
    if not plots and not note:
        return []
    lines = ["## Plots", ""]
    for name in plots:
        title = PLOT_TITLES.get(name, name)
        lines += [f"### {title}", "", f"[![{title}]({name})]({name})", ""]
    if note:
        lines += [note, ""]
    return lines


# ---- plots ----------------------------------------------------------------------------------------

def _write_plots(
    folder: Path,
    confusion: Optional[ConfusionMatrix],
    label_set: LabelSet,
    latencies: List[float],
    receive_times: List[float],
) -> Tuple[List[str], str]:
    """Write the plots that have data; return their file names and a note (why plots are missing)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return [], "Plots skipped: matplotlib is not installed."
    written: List[str] = []
    if latencies:
        written.append(_save(_latency_histogram(latencies), folder / "latency_histogram.png"))
        written.append(_save(_latency_timeline(latencies, receive_times), folder / "latency_timeline.png"))
    if confusion is not None and confusion.total > 0:
        written.append(_save(_per_class_iou(confusion, label_set), folder / "per_class_iou.png"))
        written.append(_save(_confusion_plot(confusion, label_set), folder / "confusion_matrix.png"))
    return written, ""


def _new_figure(width: float, height: float) -> Any:
    """A matplotlib Figure on an Agg canvas (no pyplot, no display, no global backend state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: Path) -> str:
    fig.savefig(str(path), bbox_inches="tight", pad_inches=0.15, facecolor="white")
    return path.name


def _mark_percentiles(ax: Any, values: np.ndarray, vertical: bool) -> None:
    styles = (("p50", 50, "#2ca02c", "--"), ("p90", 90, "#ff7f0e", "--"), ("p99", 99, "#d62728", ":"))
    for label, p, color, style in styles:
        v = float(np.percentile(values, p))
        line = ax.axvline if vertical else ax.axhline
        line(v, color=color, linestyle=style, linewidth=1.4, label=f"{label} {v:.1f} ms")
    ax.legend(loc="upper right", fontsize=8, framealpha=0.9)


def _latency_histogram(latencies: List[float]) -> Any:
    values = np.asarray(latencies, dtype=np.float64)
    fig = _new_figure(7.0, 3.8)
    ax = fig.add_subplot(1, 1, 1)
    bins = int(np.clip(np.sqrt(values.size) * 2, 10, 60))
    ax.hist(values, bins=bins, color="#4c78a8", edgecolor="white", linewidth=0.5)
    _mark_percentiles(ax, values, vertical=True)
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("frames")
    ax.set_title(f"Latency, {values.size} frames (mean {values.mean():.1f} ms)")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def _latency_timeline(latencies: List[float], receive_times: List[float]) -> Any:
    values = np.asarray(latencies, dtype=np.float64)
    fig = _new_figure(9.0, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    if len(receive_times) == len(latencies):
        x = np.asarray(receive_times, dtype=np.float64) - receive_times[0]
        ax.set_xlabel("receive time since the first result (s)")
    else:
        x = np.arange(values.size)
        ax.set_xlabel("frame")
    ax.plot(x, values, color="#4c78a8", linewidth=0.8, marker="." if values.size <= 300 else None,
            markersize=3)
    _mark_percentiles(ax, values, vertical=False)
    ax.set_ylabel("latency (ms)")
    ax.set_ylim(bottom=0, top=max(float(values.max()) * 1.08, 1e-3))
    ax.set_title("Latency over the run")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _per_class_iou(confusion: ConfusionMatrix, label_set: LabelSet) -> Any:
    ious = confusion.iou()
    n = len(ious)
    fig = _new_figure(7.5, 0.3 * n + 1.3)
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(n)
    colors = np.asarray(label_set.colors, dtype=np.float64) / 255.0
    ax.barh(y, np.nan_to_num(ious * 100.0), color=colors, edgecolor="#333333", linewidth=0.6, height=0.75)
    for i, v in enumerate(ious):
        text = "n/a" if np.isnan(v) else f"{v * 100:.1f}"
        ax.text((0 if np.isnan(v) else v * 100) + 1.0, i, text, va="center", fontsize=8, zorder=3,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.6, "alpha": 0.85})
    miou = confusion.miou()
    if not np.isnan(miou):
        ax.axvline(miou * 100, color="#444444", linestyle="--", linewidth=1, zorder=2, label=f"mIoU {miou * 100:.1f} %")
        ax.legend(loc="lower right", fontsize=8, framealpha=0.9)
    ax.set_yticks(y)
    ax.set_yticklabels(label_set.names, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, 108)
    ax.set_xlabel("IoU (%)")
    ax.set_title(f"Per-class IoU ({label_set.name})")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    fig.tight_layout()
    return fig


def _confusion_plot(confusion: ConfusionMatrix, label_set: LabelSet) -> Any:
    from matplotlib import cm
    from matplotlib.colors import ListedColormap, LogNorm

    n = confusion.num_classes
    counts = confusion.matrix.astype(np.float64)
    other = confusion.other.astype(np.float64)
    names = list(label_set.names)
    if other.sum() > 0:
        counts = np.concatenate([counts, other[:, None]], axis=1)
        col_names = names + ["(other)"]
    else:
        col_names = names
    row_sums = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = counts / row_sums
    floor = 1e-3
    shown = np.ma.masked_where(~(share > 0), np.maximum(share, floor))  # zeros and absent rows: blank
    side = 0.38 * max(n, 4) + 2.5
    fig = _new_figure(side + 1.2, side)
    ax = fig.add_subplot(1, 1, 1)
    for i in np.nonzero(row_sums[:, 0] == 0)[0]:
        ax.axhspan(i - 0.5, i + 0.5, color="#dddddd", zorder=0)
    cmap = ListedColormap(cm.Blues(np.linspace(0.15, 1.0, 256)))  # the smallest share still shows a tint
    image = ax.imshow(shown, cmap=cmap, norm=LogNorm(vmin=floor, vmax=1.0), interpolation="nearest",
                      aspect="equal", zorder=1)
    for (i, j), v in np.ndenumerate(share):
        if v >= 0.005:
            color = "white" if v >= 0.25 else "#222222"
            ax.text(j, i, f"{v * 100:.0f}", ha="center", va="center", fontsize=6.5, color=color, zorder=2)
    ax.set_xticks(np.arange(len(col_names)))
    ax.set_xticklabels(col_names, rotation=60, ha="right", rotation_mode="anchor", fontsize=8)
    ax.set_yticks(np.arange(n))
    ax.set_yticklabels(names, fontsize=8)
    ax.set_xlim(-0.5, len(col_names) - 0.5)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlabel("prediction")
    ax.set_ylabel("ground truth")
    ax.set_title("Confusion matrix, % of each ground-truth row (log colour; grey: class absent)", fontsize=10)
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
    ticks = [0.001, 0.01, 0.1, 1.0]
    bar.set_ticks(ticks)
    bar.set_ticklabels(["≤0.1 %", "1 %", "10 %", "100 %"])
    fig.tight_layout()
    return fig
