"""The overlay: ego track, clearance envelope, obstacles and the status line drawn onto a frame."""

from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from .stage import EgoTrack, TrackResult

SHIFT = 4
CLEAR = (40, 220, 90)        # RGB
BLOCKED = (235, 50, 40)
RAILS = (255, 220, 0)
ENVELOPE = (0, 200, 255)
POSTS_M = (10.0, 25.0, 50.0, 100.0, 200.0)   # the envelope's outline is drawn across at these distances


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(points, dtype=np.float64) * (1 << SHIFT)).clip(-1e7, 1e7).astype(np.int32)


def _polyline(img: np.ndarray, points: np.ndarray, colour: Tuple[int, int, int], thickness: int) -> None:
    if len(points) >= 2:
        cv2.polylines(img, [_fixed(points)], False, colour, thickness, cv2.LINE_AA, SHIFT)


def _posts(img: np.ndarray, ego: EgoTrack, s: np.ndarray, thickness: int) -> None:
    """Cross-sections of the envelope (ground edge, up, across the top, down) at ``POSTS_M``."""
    env = ego.envelope
    for d in POSTS_M:
        if not env.arc_m[0] <= d <= ego.length_m:
            continue
        k = int(np.argmin(np.abs(env.arc_m - d)))
        corners = np.array([env.left_ground[k], env.left_top[k], env.right_top[k], env.right_ground[k]])
        _polyline(img, corners * s, ENVELOPE, thickness)


def draw_track(image: np.ndarray, result: TrackResult, alpha: float = 0.35,
               scale: Optional[Sequence[float]] = None) -> np.ndarray:
    """A copy of ``image`` (H x W x 3 RGB uint8) with ``result`` drawn on it.

    ``scale`` = (sx, sy) maps the result's pixel coordinates to the image's, for a result computed on
    labels of another size (1, 1 when omitted).
    """
    out = np.ascontiguousarray(image, dtype=np.uint8).copy()
    sx, sy = (1.0, 1.0) if scale is None else (float(scale[0]), float(scale[1]))
    h, w = out.shape[:2]
    thickness = max(1, int(round(w / 640)))
    colour = CLEAR if result.clear else BLOCKED
    ego = result.ego_track
    if ego is not None:
        s = np.array([sx, sy])
        fill = out.copy()
        cv2.fillPoly(fill, [_fixed(ego.polygon * s)], colour, cv2.LINE_AA, SHIFT)
        out = cv2.addWeighted(out, 1.0 - alpha, fill, alpha, 0.0)
        env = ego.envelope
        for edge in (env.left_ground, env.right_ground, env.left_top, env.right_top):
            _polyline(out, edge * s, ENVELOPE, thickness)
        _posts(out, ego, s, thickness)
        for rail in (ego.left_rail, ego.right_rail):
            _polyline(out, rail * s, RAILS, thickness + 1)
    font = cv2.FONT_HERSHEY_SIMPLEX
    size = 0.4 * thickness + 0.1
    for o in result.obstacles:
        u0, v0, u1, v1 = o.bbox
        p0, p1 = (int(u0 * sx), int(v0 * sy)), (int(u1 * sx) - 1, int(v1 * sy) - 1)
        cv2.rectangle(out, p0, p1, BLOCKED, thickness + 1)
        text = f"{o.class_name} {o.distance_m:.1f} m"
        cv2.putText(out, text, (p0[0], max(p0[1] - 4 * thickness, 12 * thickness)), font, size, BLOCKED,
                    thickness, cv2.LINE_AA)
        cv2.circle(out, (int(o.contact[0] * sx), int(o.contact[1] * sy)), 2 * thickness + 1, BLOCKED, -1)
    bar = max(18, int(h * 0.05))
    cv2.rectangle(out, (0, 0), (min(w - 1, int(bar * 9)), bar), (0, 0, 0), -1)
    cv2.putText(out, result.status, (int(bar * 0.25), int(bar * 0.75)), font, bar / 40.0, colour,
                max(1, bar // 16), cv2.LINE_AA)
    return out
