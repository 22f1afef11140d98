"""The ego path on the ground and the clearance envelope around it, projected into the image.

The envelope is the space a vehicle may sweep: ``half_width_m`` either side of the track centre line
(default 1.7 m, about the UIC 505-1 kinematic gauge of standard-gauge main lines) from the rail-head
plane up to ``height_m``, along the ego path as far as it was found. Its *footprint* (the ground band)
is what obstacles are tested against: with a flat-ground camera the lowest visible pixel of a region
is where it stands.
"""

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from .camera import GroundCamera

NEAR_EXTENSION_M = 2.0   # the footprint starts this much nearer than the first row, so it fills the image bottom
# ... and ends this much (1 m + 8 % of the path) beyond the last row read, where what ended the path stands
FAR_EXTENSION = (1.0, 0.08)


@dataclass(frozen=True)
class GroundPath:
    """The track centre line on the ground (ground frame, metres), nearest point first."""

    points: np.ndarray    # N x 2 (X ahead, Y left)
    arc_m: np.ndarray     # N distances along the track from the camera's foot point
    normals: np.ndarray   # N x 2 unit vectors to the left of the direction of travel

    @property
    def length_m(self) -> float:
        return float(self.arc_m[-1])


@dataclass(frozen=True)
class Envelope:
    """The clearance envelope in image pixels: footprint polygon and the four edges along the path."""

    footprint: np.ndarray     # M x 2 polygon on the ground (left edge out, right edge back)
    left_ground: np.ndarray   # N x 2 polylines, NaN-free
    right_ground: np.ndarray
    left_top: np.ndarray
    right_top: np.ndarray
    arc_m: np.ndarray         # N distances along the track of the edges' points
    half_width_m: float
    height_m: float


def _smoothed(values: np.ndarray, k: int = 5) -> np.ndarray:
    if len(values) < k:
        return values
    pad = k // 2
    padded = np.concatenate([np.repeat(values[:1], pad, 0), values, np.repeat(values[-1:], pad, 0)])
    kernel = np.ones(k) / k
    return np.column_stack([np.convolve(padded[:, j], kernel, mode="valid") for j in range(values.shape[1])])


def ground_path(camera: GroundCamera, centre_uv: np.ndarray) -> Optional[GroundPath]:
    """The image centre line on the ground; None when fewer than two of its points lie on the ground."""
    pts = camera.to_ground(centre_uv)
    ok = np.isfinite(pts).all(axis=1) & (pts[:, 0] > 0)
    pts = pts[ok]
    if len(pts) < 2:
        return None
    step = np.hypot(*np.diff(pts, axis=0).T)
    arc = float(np.hypot(*pts[0])) + np.concatenate([[0.0], np.cumsum(step)])
    tangent = _smoothed(np.gradient(pts, axis=0))
    norm = np.maximum(np.hypot(*tangent.T), 1e-9)[:, None]
    tangent = tangent / norm
    normals = np.column_stack([-tangent[:, 1], tangent[:, 0]])
    return GroundPath(pts, arc, normals)


def along_track(path: GroundPath, xy: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """For N ground points: distance along the track to their nearest centre-line point, and their
    signed lateral offset from it (+ left). Points beyond either end are measured from that end."""
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    a, b = path.points[:-1], path.points[1:]
    seg = b - a
    seg_len2 = np.maximum((seg ** 2).sum(axis=1), 1e-12)
    t = ((xy[:, None, :] - a[None]) * seg[None]).sum(axis=2) / seg_len2[None]  # N x S
    first, last = np.zeros(len(seg), bool), np.zeros(len(seg), bool)
    first[0], last[-1] = True, True
    t = np.clip(t, np.where(first, -np.inf, 0.0), np.where(last, np.inf, 1.0))
    nearest = a[None] + t[..., None] * seg[None]
    dist2 = ((xy[:, None, :] - nearest) ** 2).sum(axis=2)
    j = np.argmin(dist2, axis=1)
    rows = np.arange(len(xy))
    seg_len = np.sqrt(seg_len2)
    s = path.arc_m[j] + t[rows, j] * seg_len[j]
    offset = xy - nearest[rows, j]
    lateral = seg[j, 0] * offset[:, 1] - seg[j, 1] * offset[:, 0]
    return s, np.sign(lateral) * np.sqrt(dist2[rows, j])


def make_envelope(camera: GroundCamera, path: GroundPath, half_width_m: float, height_m: float) -> Envelope:
    """The envelope along ``path``, projected with ``camera``."""
    pts, normals, arc = path.points, path.normals, path.arc_m
    ahead = np.array([normals[-1, 1], -normals[-1, 0]])
    extension = FAR_EXTENSION[0] + FAR_EXTENSION[1] * path.length_m
    pts, normals = np.vstack([pts, pts[-1] + ahead * extension]), np.vstack([normals, normals[-1:]])
    arc = np.append(arc, arc[-1] + extension)
    first = (pts[1] - pts[0]) / max(np.hypot(*(pts[1] - pts[0])), 1e-9)
    back = pts[0] - first * NEAR_EXTENSION_M
    if back[0] > 0.3:
        pts, normals = np.vstack([back, pts]), np.vstack([normals[:1], normals])
        arc = np.insert(arc, 0, arc[0] - NEAR_EXTENSION_M)
    left, right = pts + normals * half_width_m, pts - normals * half_width_m
    edges = [camera.project_ground(xy, z) for xy, z in ((left, 0.0), (right, 0.0), (left, height_m), (right, height_m))]
    keep = np.logical_and.reduce([np.isfinite(e).all(axis=1) for e in edges])
    lg, rg, lt, rt = (e[keep] for e in edges)
    return Envelope(np.vstack([lg, rg[::-1]]), lg, rg, lt, rt, arc[keep], half_width_m, height_m)
