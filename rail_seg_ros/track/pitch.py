"""The camera pitch the rails' known gauge implies.

On flat ground, a pitch that is too small puts every ground point too far away, and the two rails
then come out wider apart than the gauge; too large, narrower. Given the rows where both rails were
seen, the pitch at which the median measured gauge (across the track, i.e. perpendicular to the
centre line on the ground) equals the known gauge is found by bisection. It depends on the camera
height being right: a height 5 % too large gives a pitch that keeps distances about right but is
itself off.
"""

from typing import Optional

import numpy as np

from .camera import GroundCamera
from .rails import RailPath

MIN_ROWS = 8          # rows with both rails seen
MIN_GAUGE_PX = 12.0   # rows where the rails are this far apart in the image (the near, precise ones)
SPAN_DEG = 10.0       # searched either side of the mounting's pitch
ITERATIONS = 16      # 20 degrees / 2**16: far finer than the labels allow


def _median_gauge(gl: np.ndarray, gr: np.ndarray) -> float:
    """Median distance between paired rail points across the track (perpendicular to the centre line)."""
    if not (np.isfinite(gl).all() and np.isfinite(gr).all() and (gl[:, 0] > 0).all() and (gr[:, 0] > 0).all()):
        return float("inf")   # some rows lie above this pitch's horizon: the pitch is too small
    centre = (gl + gr) / 2
    tangent = np.empty_like(centre)
    tangent[1:-1] = centre[2:] - centre[:-2]
    tangent[0], tangent[-1] = centre[1] - centre[0], centre[-1] - centre[-2]
    tangent /= np.maximum(np.hypot(tangent[:, 0], tangent[:, 1]), 1e-9)[:, None]
    across = gl - gr
    return float(np.median(np.abs(across[:, 0] * tangent[:, 1] - across[:, 1] * tangent[:, 0])))


def estimate_pitch(camera: GroundCamera, path: RailPath, gauge_m: float) -> Optional[float]:
    """Pitch in degrees at which the rails seen are ``gauge_m`` apart, or None when too few rows saw
    both rails or no pitch within ``SPAN_DEG`` of the mounting's fits."""
    rows = path.rail_rows & (path.right_u - path.left_u >= MIN_GAUGE_PX)
    if rows.sum() < MIN_ROWS:
        return None
    left = camera.optical_rays(np.column_stack([path.left_u[rows], path.v[rows]]))
    right = camera.optical_rays(np.column_stack([path.right_u[rows], path.v[rows]]))

    def excess(pitch: float) -> float:   # > 0: rails too far apart, the pitch must grow
        return _median_gauge(camera.ground_of_rays(left, pitch), camera.ground_of_rays(right, pitch)) - gauge_m

    lo, hi = camera.pitch_deg - SPAN_DEG, camera.pitch_deg + SPAN_DEG
    f_lo, f_hi = excess(lo), excess(hi)
    if (f_lo > 0) == (f_hi > 0):
        return None
    for _ in range(ITERATIONS):
        mid = (lo + hi) / 2
        f_mid = excess(mid)
        if (f_mid > 0) == (f_lo > 0):
            lo, f_lo = mid, f_mid
        else:
            hi = mid
    return (lo + hi) / 2
