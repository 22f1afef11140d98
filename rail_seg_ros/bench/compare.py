"""`rail-seg compare`: several models over the same bag frames, one report to choose what to deploy.

Each model runs the offline bench (:func:`run_offline`: the same frames, each resized by the card's own
resize policy, the same stages timed); the report adds the network's size (parameters, GigaMACs at its
input size), marks the accuracy-vs-latency Pareto front and stacks the models' overlays of the same
frames. The folder is written once, as the bench's is (report.check_report_target, write_folder).
"""
# Python 3.8 target: typing.List/Dict/Optional/Tuple stay (no builtin generics, no X | Y).

import json
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import cv2
import numpy as np
from tqdm import tqdm

from ..bag import GT_TOPIC, IMAGE_TOPIC, inspect_bag
from ..contract import Stage
from ..metrics import MIOU_DEFINITION
from ..report import fmt_percent, fmt_value, to_jsonable, write_folder, write_samples
from .offline import run_offline
from .result import BenchResult, caption_image, none_if_nan

PLOT_NAME = "accuracy_vs_latency.png"
LATENCY_NOTE = ("model ms: the network alone (the infer stage: the exported graph with normalisation and argmax); "
                "end-to-end ms: decode + preprocess + infer + postprocess of one frame in this process; fps is "
                "1000 / end-to-end ms.")
# the track-ahead figures a comparison row keeps (track.score.summarise's, from the model's labels)
TRACK_KEYS = ("ego_path_iou", "ego_path_iou_min", "rail_error_px", "obstacles_true", "recall", "recall_any_class",
              "precision", "distance_rel")


def network_size(card: Any) -> Dict[str, Optional[float]]:
    """Trainable parameters and convolution GigaMACs at the card's input size (None without torch)."""
    from ..model_card import build_network
    from ..nets import count_conv_macs, count_parameters, torch_installed

    if not torch_installed():
        return {"params": None, "gmacs": None}
    net = build_network(card, load_weights=False)
    return {"params": count_parameters(net), "gmacs": round(count_conv_macs(net, *card.input_size), 3)}


def model_row(segmenter: Any, result: BenchResult) -> Dict[str, Any]:
    """One row of the comparison: what the model is, how fast and how accurate on this bag."""
    card = segmenter.card
    stages = result.run["stages_ms"].means()
    latencies = result.latencies_ms
    end_to_end = float(np.mean(latencies)) if latencies else None
    confusion = result.confusion
    scored = confusion is not None and confusion.total > 0
    row: Dict[str, Any] = {
        "model": card.name, "architecture": card.architecture, "label_set": card.label_set,
        "input_size": list(card.input_size), "backend": result.run.get("backend"),
        "precision": result.run.get("precision"), "frames": result.run.get("frames"),
        "model_ms": stages.get(Stage.INFER), "end_to_end_ms": end_to_end,
        "fps": 1000.0 / end_to_end if end_to_end else None,
        "miou": none_if_nan(confusion.miou()) if scored else None,
        "per_class": confusion.per_class(card.labels) if scored else None,
        "track_ahead": _track_figures(result.run.get("track_ahead")),
    }
    row.update(network_size(card))
    return row


def _track_figures(track: Optional[Mapping[str, Any]]) -> Optional[Dict[str, Any]]:
    """The stage's figures on this model's labels (``TRACK_KEYS``), or None where the bag was not scored."""
    scored = (track or {}).get("model_labels") if (track or {}).get("scored") else None
    return {key: scored.get(key) for key in TRACK_KEYS} if scored else None


def pareto_front(rows: Sequence[Mapping[str, Any]]) -> List[bool]:
    """Whether each row is on the front: no other model is at least as accurate and at least as fast, and
    better in one of the two (mIoU up, end-to-end ms down). Without mIoU no row is on it."""
    def point(row: Mapping[str, Any]) -> Optional[tuple]:
        if row.get("miou") is None or row.get("end_to_end_ms") is None:
            return None
        return (float(row["end_to_end_ms"]), float(row["miou"]))

    points = [point(r) for r in rows]
    front = []
    for p in points:
        front.append(p is not None and not any(
            q is not None and q[0] <= p[0] and q[1] >= p[1] and q != p for q in points))
    return front


def side_by_side(results: Sequence[BenchResult], names: Sequence[str]) -> List[tuple]:
    """For each sampled frame, the models' samples of it stacked top to bottom, captioned with the model."""
    stacked = []
    for index, (frame_name, _image) in enumerate(results[0].samples):
        panels = []
        for result, name in zip(results, names):
            if index >= len(result.samples):
                continue
            image = result.samples[index][1]
            width = results[0].samples[index][1].shape[1]
            if image.shape[1] != width:  # models of another output width: same panel width
                image = cv2.resize(image, (width, max(1, image.shape[0] * width // image.shape[1])))
            panels.append(caption_image(image.copy(), name))
            panels.append(np.full((6, width, 3), 255, np.uint8))
        stacked.append((f"{frame_name}_models", np.concatenate(panels[:-1], axis=0)))
    return stacked


def run_compare(bag_path: Any, segmenters: Sequence[Any], image_topic: str = IMAGE_TOPIC,
                gt_topic: Optional[str] = GT_TOPIC, samples: int = 3, warmup: int = 3,
                progress: bool = True, typestore: Optional[str] = None) -> Dict[str, Any]:
    """Every segmenter over every frame of the bag; returns the report dict and the sample images."""
    info = inspect_bag(bag_path, image_topic, gt_topic, typestore)
    bar = tqdm(total=info.frames * len(segmenters), unit="frame", disable=not progress, desc="compare")
    results: List[BenchResult] = []
    try:
        for segmenter in segmenters:
            bar.set_postfix_str(segmenter.card.name)
            results.append(run_offline(info.path, segmenter, image_topic, gt_topic, samples=samples,
                                       progress=False, typestore=typestore, warmup=warmup, bar=bar))
    finally:
        bar.close()
    rows = [model_row(s, r) for s, r in zip(segmenters, results)]
    for row, on_front in zip(rows, pareto_front(rows)):
        row["pareto"] = on_front
    notes = [n for r in results for n in r.notes[:1]][:1] + [LATENCY_NOTE, _track_note(results, rows)]
    if len({row["label_set"] for row in rows}) > 1:
        notes.append("The models use different label sets: each is scored in its own, against the bag's ids.")
    report = {"bag": str(info.path), "frames_in_bag": info.frames, "has_ground_truth": info.has_gt,
              "partial": any(r.partial for r in results), "miou_definition": MIOU_DEFINITION,
              "models": rows, "notes": notes}
    return {"report": report, "samples": side_by_side(results, [s.card.name for s in segmenters])}


def _track_note(results: Sequence[BenchResult], rows: Sequence[Mapping[str, Any]]) -> str:
    """What the track-ahead table means, or why there is none (the bench's own words)."""
    track = next((r.run.get("track_ahead") or {} for r, row in zip(results, rows) if row["track_ahead"]), None)
    if track is not None:
        return f"{track.get('definition', '')} Each model's figures are the stage's on that model's labels."
    reasons = sorted({str((r.run.get("track_ahead") or {}).get("note") or "") for r in results} - {""})
    return "Track ahead not scored" + (": " + "; ".join(reasons) if reasons else ".")


def _track_lines(rows: Sequence[Mapping[str, Any]]) -> List[str]:
    """Ego-path IoU, obstacle recall and distance error per model, where the bag has track truth."""
    scored = [r for r in rows if r.get("track_ahead")]
    if not scored:
        return []
    lines = ["", "## Track ahead", "", "| model | ego-path IoU | lowest frame | rail error | obstacles | recall "
             "| recall, any class | precision | distance error (mean) | distance error (max) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in scored:
        t = r["track_ahead"]
        rel = t.get("distance_rel") or {}
        lines.append(f"| {r['model']} | {fmt_value(t.get('ego_path_iou'), 3)} | {fmt_value(t.get('ego_path_iou_min'), 3)} "
                     f"| {fmt_value(t.get('rail_error_px'), 2, unit=' px')} | {fmt_value(t.get('obstacles_true'))} "
                     f"| {fmt_percent(t.get('recall'))} | {fmt_percent(t.get('recall_any_class'))} "
                     f"| {fmt_percent(t.get('precision'))} | {fmt_percent(rel.get('mean'))} "
                     f"| {fmt_percent(rel.get('max'))} |")
    return lines


def _table_lines(rows: Sequence[Mapping[str, Any]]) -> List[str]:
    lines = ["| model | architecture | input | params | GMACs | model ms | end-to-end ms | fps | mIoU | Pareto |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|:-:|"]
    for r in rows:
        params = f"{r['params'] / 1e6:.2f} M" if r.get("params") is not None else "n/a"
        lines.append(f"| {r['model']} | {r['architecture']} | {r['input_size'][0]}x{r['input_size'][1]} | {params} "
                     f"| {fmt_value(r.get('gmacs'), 2)} | {fmt_value(r.get('model_ms'))} "
                     f"| {fmt_value(r.get('end_to_end_ms'))} | {fmt_value(r.get('fps'))} "
                     f"| {fmt_percent(r.get('miou'))} | {'yes' if r.get('pareto') else ''} |")
    return lines


def _per_class_lines(rows: Sequence[Mapping[str, Any]]) -> List[str]:
    scored = [r for r in rows if r.get("per_class")]
    if not scored:
        return []
    classes = list(scored[0]["per_class"])
    lines = ["", "## Per-class IoU", "", "| class | " + " | ".join(r["model"] for r in scored) + " |",
             "|---|" + "---:|" * len(scored)]
    for name in classes:
        cells = [fmt_percent((r["per_class"] or {}).get(name)) for r in scored]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def render_compare_markdown(report: Mapping[str, Any]) -> str:
    rows = report["models"]
    lines = [f"# Model comparison on {Path(report['bag']).name}", "",
             f"{report['frames_in_bag']} frames; {len(rows)} models, each over every frame.", ""]
    if report.get("partial"):
        lines += ["> **PARTIAL**: interrupted; the figures cover the frames processed.", ""]
    lines += _table_lines(rows) + _track_lines(rows) + _per_class_lines(rows)
    if report.get("plots"):
        lines += ["", "## Accuracy against latency", "", f"![accuracy vs latency]({report['plots'][0]})"]
    if report.get("samples"):
        lines += ["", "## The same frames, every model", ""]
        lines += [f"![{Path(name).stem}]({name})" for name in report["samples"]]
    lines += ["", "## Notes", ""] + [f"- {note}" for note in report["notes"]]
    lines += [f"- {report['miou_definition']}"]
    return "\n".join(lines) + "\n"


def write_compare_report(out_dir: Any, compared: Mapping[str, Any]) -> Path:
    """report.json, report.md, the Pareto plot and samples/, as one folder renamed into place once."""
    from ..plots import accuracy_latency_plot

    report = dict(compared["report"])

    def fill(folder: Path) -> None:
        report["plots"] = accuracy_latency_plot(folder / PLOT_NAME, report["models"])
        report["samples"] = write_samples(folder / "samples", compared["samples"])
        data = to_jsonable(report)
        (folder / "report.json").write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        (folder / "report.md").write_text(render_compare_markdown(data), encoding="utf-8")

    return write_folder(Path(out_dir), fill)
