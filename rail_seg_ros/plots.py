"""The plots of a report folder: latency histogram and timeline, per-class IoU, confusion matrix, and
the track-ahead ego-path IoU and distances where the run scored that stage.

Plots use matplotlib's Agg canvas directly, so no display and no global backend switch is needed;
without matplotlib the report has no plots and says so.
"""

from pathlib import Path
from typing import Any, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .labels import LabelSet
from .metrics import ConfusionMatrix

PLOT_TITLES = {
    "latency_histogram.png": "Latency histogram",
    "latency_timeline.png": "Latency over the run",
    "per_class_iou.png": "Per-class IoU",
    "confusion_matrix.png": "Confusion matrix (row-normalised)",
    "track_ego_path_iou.png": "Track ahead: ego-path IoU per frame",
    "track_distances.png": "Track ahead: obstacle distance, estimated against true",
    "accuracy_vs_latency.png": "Accuracy against latency, Pareto front marked (rail-seg compare)",
}


def write_plots(
    folder: Path,
    confusion: Optional[ConfusionMatrix],
    label_set: LabelSet,
    latencies: List[float],
    receive_times: List[float],
    track: Optional[Mapping[str, Any]] = None,
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
    if track and track.get("per_frame_iou"):
        written.append(_save(_track_iou(track), folder / "track_ego_path_iou.png"))
    if track and (track.get("distances") or track.get("distances_gt")):
        written.append(_save(_track_distances(track), folder / "track_distances.png"))
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


def _track_iou(track: Mapping[str, Any]) -> Any:
    """Ego-path IoU per frame, from the model's labels (and from the ground truth's where scored)."""
    fig = _new_figure(8.0, 3.4)
    ax = fig.add_subplot(1, 1, 1)
    for key, label, colour in (("per_frame_iou", "model labels", "#4c78a8"),
                               ("per_frame_iou_gt", "ground-truth labels", "#2ca02c")):
        values = np.asarray(track.get(key) or [], dtype=np.float64)
        if values.size:
            ax.plot(np.arange(values.size), values, marker=".", markersize=4, linewidth=0.8, color=colour,
                    label=f"{label} (mean {values.mean():.3f})")
    ax.axhline(0.975, color="#888888", linestyle=":", linewidth=1, label="TEP-Net 0.975")
    ax.set_ylim(0, 1.02)
    return _finish_track_plot(fig, ax, "frame", "ego-path IoU", "lower right")


def _track_distances(track: Mapping[str, Any]) -> Any:
    """Estimated against true distance of every matched obstacle (model and ground-truth labels), 5 % band."""
    sides = [(np.asarray([(float(p[0]), float(p[1])) for p in track.get(key) or []], dtype=np.float64).reshape(-1, 2),
              label, colour, marker) for key, label, colour, marker in
             (("distances", "model labels", "#d62728", "o"), ("distances_gt", "ground-truth labels", "#2ca02c", "x"))]
    fig = _new_figure(5.2, 4.6)
    ax = fig.add_subplot(1, 1, 1)
    top = max([float(d.max()) * 1.08 for d, *_ in sides if d.size] + [1.0])
    line = np.array([0.0, top])
    ax.fill_between(line, line * 0.95, line * 1.05, color="#cccccc", alpha=0.5, label="within 5 %")
    ax.plot(line, line, color="#888888", linewidth=1)
    for data, label, colour, marker in sides:
        if data.size:
            ax.scatter(data[:, 1], data[:, 0], s=16, color=colour, marker=marker, zorder=3,
                       label=f"{label}: {len(data)} obstacles")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    return _finish_track_plot(fig, ax, "true distance (m)", "estimated distance (m)", "upper left")


def _finish_track_plot(fig: Any, ax: Any, xlabel: str, ylabel: str, legend_at: str) -> Any:
    """Axis labels, legend and grid of the track-ahead plots."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(loc=legend_at, fontsize=8, framealpha=0.9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def accuracy_latency_plot(path: Path, rows: Sequence[Mapping[str, Any]]) -> List[str]:
    """rail-seg compare: mIoU against end-to-end ms per model, the Pareto front joined and marked.

    Returns ``[file name]``, or ``[]`` when matplotlib is missing or no model has both figures.
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return []
    points = [(r["end_to_end_ms"], 100.0 * r["miou"], r["model"], bool(r.get("pareto"))) for r in rows
              if r.get("miou") is not None and r.get("end_to_end_ms") is not None]
    if not points:
        return []
    fig = _new_figure(6.4, 4.4)
    ax = fig.add_subplot(1, 1, 1)
    front = sorted((p for p in points if p[3]), key=lambda p: p[0])
    if len(front) > 1:
        ax.plot([p[0] for p in front], [p[1] for p in front], "-", color="tab:red", lw=1.2, zorder=1)
    for ms, miou, name, on_front in points:
        ax.scatter([ms], [miou], s=46, zorder=2, color="tab:red" if on_front else "tab:blue",
                   marker="*" if on_front else "o")
        ax.annotate(name, (ms, miou), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set_xlabel("end-to-end ms per frame (this machine)")
    ax.set_ylabel("mIoU (%)")
    ax.set_title("Accuracy against latency (red stars: the Pareto front)")
    ax.grid(True, alpha=0.3)
    return [_save(fig, path)]
