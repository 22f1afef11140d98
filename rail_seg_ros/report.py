"""The report folder of ``rail-seg bench``: report.json, report.md, PNG plots and sample overlays.

:func:`build_report` turns a confusion matrix, latency lists and run facts into the report dict;
:func:`write_report` builds the whole folder (report.md with the run details included) under a
temporary name and renames it into place once. Plots are drawn by :mod:`rail_seg_ros.plots`.
"""


import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import cv2
import numpy as np

from .errors import RailSegError
from .fileio import PathLike, atomic_path, check_writable
from .labels import LabelSet
from .metrics import MIOU_DEFINITION, ConfusionMatrix, StageTimer, jitter_ms, rate_hz, summarize_latencies
from .plots import PLOT_TITLES, write_plots

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
# What write_report puts in a folder (besides plots/*.png and samples/*.png): an earlier report is
# recognised by these names and replaced; a folder holding anything else is left alone.
REPORT_FILES = ("report.json", "report.md", "confusion.json", "latency.csv")

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
    """Write report.json, report.md (with the run details), plots and samples/ as ``out_dir``; return its path.

    The folder is built completely under a temporary name and renamed into place once. An earlier
    report there is replaced only when the new one is complete; a file, or a folder holding anything
    a report does not write, is left as it is (RailSegError).
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

    def fill(folder: Path) -> None:
        plots, plot_note = write_plots(folder, confusion, label_set, latencies, receive_times,
                                       report.get("track_ahead"))
        report["plots"] = plots
        report["samples"] = write_samples(folder / "samples", samples)
        data = to_jsonable(report)
        (folder / "report.json").write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        (folder / "report.md").write_text(render_markdown(data, label_set, plot_note), encoding="utf-8")
        if confusion is not None:
            (folder / "confusion.json").write_text(json.dumps(confusion.to_dict()) + "\n", encoding="utf-8")
        if latencies:
            _write_latency_csv(folder / "latency.csv", latencies, receive_times)

    final = Path(out_dir)
    check_report_target(final)
    _build_in_place(final, fill)
    return final


def _is_report_folder(folder: Path) -> bool:
    """Whether ``folder`` is empty or holds only what :func:`write_report` writes (an earlier report)."""
    entries = list(folder.iterdir())
    if entries and not (folder / "report.json").is_file():
        return False
    for entry in entries:
        if entry.name == "samples" and entry.is_dir() and not entry.is_symlink():
            if not all(p.suffix == ".png" and p.is_file() for p in entry.iterdir()):
                return False
        elif not (entry.is_file() and (entry.name in REPORT_FILES or entry.suffix == ".png")):
            return False
    return True


def check_report_target(final: Path) -> None:
    """Raise RailSegError unless ``final`` is absent, an empty folder or an earlier report (call before the run)."""
    if final.is_symlink() or (final.exists() and not final.is_dir()):
        raise RailSegError(f"report folder {final}: exists and is not a folder; choose another --out")
    if final.is_dir() and (final.resolve() == Path.cwd().resolve() or final.resolve() in Path.cwd().resolve().parents):
        raise RailSegError(f"report folder {final}: is the current folder (or holds it); choose another --out")
    if final.is_dir() and not _is_report_folder(final):
        raise RailSegError(f"report folder {final}: holds files that are not a report's; choose another --out")
    check_writable(final, "report folder")


def _rmdir_quietly(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:  # absent, or not empty: kept
        pass


def _remove_report_files(folder: Path) -> None:
    """Delete what :func:`_is_report_folder` accepted, file by file; anything else stays."""
    samples = folder / "samples"
    for path in (list(samples.glob("*.png")) if samples.is_dir() else []) + list(folder.iterdir()):
        if path.is_file() and (path.suffix == ".png" or path.name in REPORT_FILES):
            path.unlink()
    _rmdir_quietly(samples)
    _rmdir_quietly(folder)


def write_folder(final: Path, fill: Callable[[Path], None]) -> Path:
    """A report-shaped folder (report.json, report.md, *.png, samples/) that ``fill`` writes, checked as
    :func:`check_report_target` does, built under a temporary name and renamed into place once."""
    check_report_target(final)
    _build_in_place(final, fill)
    return final


def _build_in_place(final: Path, fill: Callable[[Path], None]) -> None:
    """Build the folder with ``fill`` under a temporary name, then rename it to ``final`` once.

    An earlier report at ``final`` is moved into a hidden folder beside it just before the rename and
    removed file by file afterwards; it is moved back if the rename fails.
    """
    aside: Optional[Path] = None
    try:
        with atomic_path(final) as tmp:
            tmp.mkdir(parents=True)
            fill(tmp)
            if final.is_dir():
                aside = Path(tempfile.mkdtemp(prefix=f".{final.name}.old", dir=final.parent))
                os.replace(final, aside / final.name)
    except BaseException:
        if aside is not None:
            if not final.exists():
                os.replace(aside / final.name, final)
            _rmdir_quietly(aside)
        raise
    if aside is not None:
        _remove_report_files(aside / final.name)
        _rmdir_quietly(aside)


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


def write_samples(folder: Path, samples: Sequence[Sample]) -> List[str]:
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

def fmt_value(value: Any, digits: int = 1, scale: float = 1.0, unit: str = "") -> str:
    """A table cell: n/a for a missing or non-finite number, ints and words as they are."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, bool) or (isinstance(value, int) and scale == 1.0) or not isinstance(value, (int, float)):
        return f"{value}{unit}"
    return f"{float(value) * scale:.{digits}f}{unit}"


def fmt_percent(value: Any) -> str:
    return fmt_value(value, 1, 100.0, " %")


def _table(header: Tuple[str, str], rows: Sequence[Tuple[str, str]], align_right: bool = True) -> List[str]:
    lines = [f"| {header[0]} | {header[1]} |", "|:---|---:|" if align_right else "|:---|:---|"]
    lines += [f"| {a} | {b} |" for a, b in rows]
    return lines + [""]


def _iou_table(title: str, label: str, ious: Mapping[str, Any], mean: Any) -> List[str]:
    rows = [(name, fmt_value(v, 1, 100.0)) for name, v in ious.items()]
    rows.append(("**Score Average**", f"**{fmt_value(mean, 1, 100.0)}**"))
    lines = [f"## {title}", ""] + _table((label, "IoU (%)"), rows)
    if any(v is None for v in ious.values()):
        lines += ["n/a: in neither the ground truth nor the predictions of the set; left out of the mean.", ""]
    return lines


def _summary_rows(report: Mapping[str, Any]) -> List[Tuple[str, str]]:
    latency = report.get("latency_ms") or {}
    rows = [("mIoU", fmt_percent(report.get("miou")))]
    if report.get("category_miou") is not None:
        rows.append(("category mIoU", fmt_percent(report.get("category_miou"))))
    rows += [
        ("pixel accuracy", fmt_percent(report.get("pixel_accuracy"))),
        ("fps", fmt_value(report.get("fps"), 2)),
    ]
    rows += [(f"latency {key}", fmt_value(latency.get(key), 2, unit=" ms"))
             for key in ("p50", "p90", "p99", "max", "mean")]
    rows += [
        ("jitter", fmt_value(report.get("jitter_ms"), 2, unit=" ms")),
        ("frames sent", fmt_value(report.get("sent"))),
        ("frames received", fmt_value(report.get("received"))),
        ("frames dropped", fmt_value(report.get("dropped"))),
        ("frames unmatched", fmt_value(report.get("unmatched"))),
        ("frames", fmt_value(report.get("frames"))),
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
        rows = [(name, fmt_value(ms, 2)) for name, ms in stages.items()]
        lines += ["## Stages", ""] + _table(("stage", "mean ms"), rows)
    lines += _track_lines(report.get("track_ahead"))
    lines += ["## Definitions", "", str(report.get("miou_definition") or MIOU_DEFINITION), "",
              JITTER_DEFINITION, "", FPS_DEFINITION, ""]
    lines += _plot_lines(report.get("plots") or [], plot_note)
    samples = report.get("samples") or []
    if samples:
        lines += ["## Samples", ""] + [f"- [{Path(s).name}]({s})" for s in samples] + [""]
    return "\n".join(lines).rstrip("\n") + "\n\n" + "\n".join(_details_lines(report))


# The track-ahead table of report.md: (row label, key of track.score.summarise, how it is shown).
TRACK_ROWS: Tuple[Tuple[str, str, Callable[[Any], str]], ...] = (
    ("ego-path IoU (mean)", "ego_path_iou", lambda v: fmt_value(v, 3)),
    ("ego-path IoU (lowest frame)", "ego_path_iou_min", lambda v: fmt_value(v, 3)),
    ("rail position error", "rail_error_px", lambda v: fmt_value(v, 2, unit=" px")),
    ("obstacles in the envelope (true, counted)", "obstacles_true", fmt_value),
    ("obstacle recall", "recall", fmt_percent),
    ("obstacle recall, any obstacle class", "recall_any_class", fmt_percent),
    ("obstacle precision", "precision", fmt_percent),
    ("distance pairs (true <= 100 m)", "distance_pairs", fmt_value),
    ("matched, contact below the image (not scored)", "distance_unseen", fmt_value),
)


def _distance_cell(side: Mapping[str, Any], name: str, stat: str) -> str:
    value = (side.get("distance_abs_m" if name == "abs" else "distance_rel") or {}).get(stat)
    return fmt_percent(value) if name == "rel" else fmt_value(value, 2, unit=" m")


def _track_lines(track: Optional[Mapping[str, Any]]) -> List[str]:
    """The "Track ahead" section: figures from the model's and the ground truth's labels, or why there are none."""
    if not track:
        return []
    lines = ["## Track ahead", ""]
    if not track.get("scored"):
        return lines + [str(track.get("note") or "no track truth in bag: track ahead not scored"), ""]
    model, gt = track.get("model_labels") or {}, track.get("gt_labels") or {}
    lines += ["| metric | from model labels | from ground-truth labels |", "|:---|---:|---:|"]
    rows = [(label, show(model.get(key)), show(gt.get(key)) if gt else "n/a") for label, key, show in TRACK_ROWS]
    for name in ("abs", "rel"):
        for stat in ("mean", "p95", "max"):
            cells = [_distance_cell(side, name, stat) if side else "n/a" for side in (model, gt)]
            rows.append((f"distance error {name} ({stat})", cells[0], cells[1]))
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows] + [""]
    lines += [f"{track.get('frames')} frames scored ({track.get('truth_topic')}); stage "
              f"{fmt_value(track.get('stage_ms'), 1, unit=' ms')} a frame. {track.get('definition') or ''}", ""]
    return lines


# The run's facts in report.md, in this order: (label, report key).
DETAIL_FACTS = (
    ("bag", "bag"), ("image topic", "image_topic"), ("ground-truth topic", "gt_topic"),
    ("frames in the bag", "frames_in_bag"), ("warm-up frames (not counted)", "warmup_frames"),
    ("publish rate", "rate"), ("measured publish rate (Hz)", "publish_rate_hz"), ("node", "node"),
    ("node started by the bench", "node_started_by_bench"), ("node input topic", "input_topic"),
    ("node output topic", "output_topic"), ("outputs received reliably", "output_reliable"),
    ("stray outputs (stamp of no frame sent)", "stray"), ("frames the node dropped (its diagnostics)", "node_dropped"),
    ("node exit status", "node_exit_code"), ("outputs recorded in", "record"),
)
RUN_COLUMNS = ("sent", "received", "dropped", "publish_rate_hz", "fps", "latency_mean_ms", "latency_p50_ms",
               "jitter_ms")


def _run_rows(runs: Sequence[Mapping[str, Any]], kept_column: bool) -> List[str]:
    header = "| run | " + " | ".join(RUN_COLUMNS) + " |" + (" kept |" if kept_column else "")
    rule = "|:---|" + "---:|" * len(RUN_COLUMNS) + (":---|" if kept_column else "")
    rows = ["| " + " | ".join([str(run.get("label"))] + [fmt_value(run.get(c)) for c in RUN_COLUMNS]) + " |"
            + (f" {'yes' if run.get('kept') else 'no'} |" if kept_column else "") for run in runs]
    return [header, rule] + rows + [""]


def _details_lines(report: Mapping[str, Any]) -> List[str]:
    """How the run was made: notes, facts, iterations, the max-rate search, the definitions."""
    lines = ["## Run details", ""]
    for note in report.get("notes") or []:
        lines += [f"> {note}", ""]
    rows = [(label, fmt_value(report.get(key), 2)) for label, key in DETAIL_FACTS if report.get(key) is not None]
    lines += _table(("item", "value"), rows, align_right=False)
    iterations = report.get("iterations") or []
    if len(iterations) > 1:
        lines += ["## Iterations", "", str(report.get("iteration_rule") or ""), ""] + _run_rows(iterations, True)
    trials = report.get("trials") or []
    if trials:
        found, loss = report.get("max_rate_hz"), report.get("max_loss")
        lines += ["## Max-rate search", "",
                  f"Highest publish rate losing at most {fmt_value((loss or 0) * 100, 0)} % of the frames: "
                  f"**{fmt_value(found, 2)} Hz**" if found is not None else "No rate tried met the loss limit.", ""]
        lines += _run_rows(trials, False)
    for key in ("latency_definition", "fps_definition"):
        if report.get(key):
            lines += [str(report[key]), ""]
    return lines


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
