"""Figures of the track-ahead stage against ground truth (the synthetic scenes' JSON), for the bench.

Both sides are the JSON objects of ``rail-seg track-ahead --json`` (``TrackResult.to_dict``); the ground
truth adds per object ``in_envelope`` and its true ``distance_m``. Figures:

* **ego-path IoU** (as TEP-Net reports it): IoU of the ego-path region polygon (between the rails, bottom
  of the image to where the track is seen) against the true one, rasterised at the image's size;
* **rail position error**: mean absolute column difference of each rail, over the rows both cover (px);
* **obstacle recall / precision**: true obstacles in the envelope with at least ``min_pixels`` pixels
  that a predicted obstacle of the same class overlaps (bounding boxes, IoU >= ``MATCH_IOU``); predicted
  obstacles that overlap a true one in the envelope (of any size); and the recall of any obstacle class
  (what "the track is not clear" needs: a car read as a truck is found, but not as a car);
* **distance error** of matched obstacles, absolute (m) and relative to the true distance; not of those
  nearer than the camera's nearest visible ground (``nearest_visible_m``): their ground contact is below
  the image, so no flat-ground camera can measure it (the stage reports the nearest visible distance),
  and they are counted apart (``distance_unseen``).
"""

from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

MATCH_IOU = 0.3
SHIFT = 4


def _as_dict(result: Any) -> Dict[str, Any]:
    return result.to_dict(ndigits=3) if hasattr(result, "to_dict") else result


def _mask(polygon: Optional[Sequence], shape: Tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    if polygon is not None and len(polygon) >= 3:
        pts = np.rint(np.asarray(polygon, dtype=np.float64) * (1 << SHIFT)).clip(-1e7, 1e7).astype(np.int32)
        cv2.fillPoly(mask, [pts], 1, cv2.LINE_8, SHIFT)
    return mask


def ego_path_iou(predicted: Optional[Sequence], truth: Optional[Sequence], shape: Tuple[int, int]) -> float:
    """IoU of two ego-path polygons (lists of (u, v)) in an image of ``shape`` (H, W); 1.0 when neither exists."""
    p, t = _mask(predicted, shape), _mask(truth, shape)
    union = int(np.count_nonzero(p | t))
    return 1.0 if union == 0 else int(np.count_nonzero(p & t)) / union


def _column_at(rail: Sequence, rows: np.ndarray) -> np.ndarray:
    pts = np.asarray(rail, dtype=np.float64).reshape(-1, 2)
    order = np.argsort(pts[:, 1])
    v, u = pts[order, 1], pts[order, 0]
    out = np.interp(rows, v, u)
    out[(rows < v[0]) | (rows > v[-1])] = np.nan
    return out


def rail_position_error(predicted: Dict[str, Any], truth: Dict[str, Any]) -> Optional[float]:
    """Mean |u_pred - u_true| in pixels over both rails and every image row both tracks cover, or None."""
    errors = []
    for side in ("left_rail", "right_rail"):
        p, t = predicted.get(side), truth.get(side)
        if not p or not t or len(p) < 2 or len(t) < 2:
            continue
        lo = max(min(q[1] for q in p), min(q[1] for q in t))
        hi = min(max(q[1] for q in p), max(q[1] for q in t))
        if hi <= lo:
            continue
        rows = np.arange(np.ceil(lo), np.floor(hi) + 1)
        diff = np.abs(_column_at(p, rows) - _column_at(t, rows))
        errors.append(diff[np.isfinite(diff)])
    joined = np.concatenate(errors) if errors else np.zeros(0)
    return float(joined.mean()) if len(joined) else None


def _box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _greedy_match(predicted: List[Dict[str, Any]], relevant: List[Dict[str, Any]],
                  same_class: bool) -> List[Tuple[int, int]]:
    """One-to-one (predicted, true) index pairs, best box IoU first, each at least ``MATCH_IOU``."""
    pairs = sorted(((_box_iou(p["bbox"], t["bbox"]), i, j) for i, p in enumerate(predicted)
                    for j, t in enumerate(relevant) if not same_class or p["class"] == t["class"]), reverse=True)
    used_p, used_t, matches = set(), set(), []
    for iou, i, j in pairs:
        if iou < MATCH_IOU or i in used_p or j in used_t:
            continue
        used_p.add(i)
        used_t.add(j)
        matches.append((i, j))
    return matches


def match_obstacles(predicted: List[Dict[str, Any]], truth: List[Dict[str, Any]],
                    min_pixels: int = 20) -> Dict[str, Any]:
    """Greedy one-to-one matching by box IoU (same class). Returns counts and the matched distance pairs;
    ``found_any_class`` counts the true ones found when the class may differ (a car read as a truck)."""
    relevant = [t for t in truth if t.get("in_envelope")]
    matches = _greedy_match(predicted, relevant, same_class=True)
    used_t = {j for _, j in matches}
    any_class = {j for _, j in _greedy_match(predicted, relevant, same_class=False)}
    counted = [j for j, t in enumerate(relevant) if t.get("pixels", 0) >= min_pixels]
    return {
        "truth": len(counted),
        "found": sum(1 for j in counted if j in used_t),
        "found_any_class": sum(1 for j in counted if j in any_class),
        "predicted": len(predicted),
        "true_positive": len(matches),
        "distances": [(predicted[i]["distance_m"], relevant[j]["distance_m"], relevant[j]["class"]) for i, j in matches],
    }


def score_frame(result: Any, truth: Dict[str, Any], shape: Tuple[int, int], min_pixels: int = 20,
                nearest_visible_m: float = 0.0) -> Dict[str, Any]:
    """Every figure for one frame (``result``: a TrackResult or its JSON; ``truth``: the scene's JSON);
    ``nearest_visible_m``: the camera's nearest visible ground, nearer true distances are not scored."""
    pred = _as_dict(result)
    p_ego, t_ego = pred.get("ego_track"), truth.get("ego_track")
    iou = ego_path_iou(p_ego["polygon"] if p_ego else None, t_ego["polygon"] if t_ego else None, shape)
    rail_px = rail_position_error(p_ego, t_ego) if p_ego and t_ego else None
    matched = match_obstacles(pred.get("obstacles", []), truth.get("obstacles", []), min_pixels)
    pairs = matched.pop("distances")
    return {"ego_path_iou": iou, "rail_error_px": rail_px, "ego_found": p_ego is not None,
            "ego_exists": t_ego is not None, **matched,
            "distances": [d for d in pairs if d[1] >= nearest_visible_m],
            "distance_unseen": sum(1 for d in pairs if d[1] < nearest_visible_m)}


def summarise(frames: List[Dict[str, Any]], max_distance_m: float = 100.0) -> Dict[str, Any]:
    """The figures over a set of frames: means, recall, precision, distance errors up to ``max_distance_m``."""
    ious = [f["ego_path_iou"] for f in frames if f["ego_exists"] or f["ego_found"]]
    rail = [f["rail_error_px"] for f in frames if f["rail_error_px"] is not None]
    truth, found = sum(f["truth"] for f in frames), sum(f["found"] for f in frames)
    predicted, tp = sum(f["predicted"] for f in frames), sum(f["true_positive"] for f in frames)
    dist = np.array([(p, t) for f in frames for p, t, _ in f["distances"] if t <= max_distance_m], dtype=np.float64)
    abs_err = np.abs(dist[:, 0] - dist[:, 1]) if len(dist) else np.zeros(0)
    rel_err = abs_err / np.maximum(dist[:, 1], 1e-9) if len(dist) else np.zeros(0)

    def stats(a: np.ndarray) -> Optional[Dict[str, float]]:
        if not len(a):
            return None
        return {"mean": float(a.mean()), "median": float(np.median(a)), "p95": float(np.percentile(a, 95)),
                "max": float(a.max())}

    return {
        "frames": len(frames),
        "ego_path_iou": float(np.mean(ious)) if ious else None,
        "ego_path_iou_min": float(np.min(ious)) if ious else None,
        "rail_error_px": float(np.mean(rail)) if rail else None,
        "obstacles_true": truth, "obstacles_found": found,
        "recall": found / truth if truth else None,
        "recall_any_class": sum(f.get("found_any_class", 0) for f in frames) / truth if truth else None,
        "obstacles_predicted": predicted,
        "precision": tp / predicted if predicted else None,
        "distance_pairs": int(len(dist)),
        "distance_unseen": sum(f.get("distance_unseen", 0) for f in frames),
        "distance_abs_m": stats(abs_err), "distance_rel": stats(rel_err),
    }
