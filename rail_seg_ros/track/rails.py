"""The ego track in a label map: its two rails followed from the bottom of the image upward.

The image is read in rows (every row far away, every few rows near the camera, where rails move
little). In each row the stretches of rail pixels (``rail-raised``, ``rail-embedded``) are the
candidates; the camera model gives, per row, the image column of the vehicle's axis and how many
pixels the gauge spans there.

* **Start**: the lowest row (within the first ``INIT_RANGE_M`` metres) holding a pair of rail
  stretches that straddles the vehicle's column, is about one gauge apart (0.7 to 1.4 times the
  expected pixels) and is centred within 0.6 gauges of that column. That is the track the vehicle
  stands on, not a neighbouring one (whose rails are a track spacing, >= 3 m, to the side).
* **Following**: each rail is predicted from a straight-line fit of its last few positions and
  matched to the nearest stretch within a window of about a fifth of the gauge; the two matches
  must stay a gauge apart (their measured ratio to the camera's gauge is tracked, which also
  absorbs a slightly wrong pitch). A rail that is not seen is placed one gauge from the other.
  Where neither is seen, the track-class region (``rail-track``/``tram-track`` with the rails)
  around the predicted centre stands in, and without that the prediction coasts on (past a person
  or a car on the track) until the rails are found again - both of them, a gauge apart - or the
  ground distance has grown ``max_gap_ratio`` times since the last sighting. Across a gap the track is
  continued on the ground (the centre line where both rails were seen, as a line or a parabola Y(X)),
  not in the image, where a fit of the last rows drifts off over a long occlusion. The track ends at the
  last row where it was seen.
* **Switches**: where a rail's window holds several stretches, or one wide stretch where two rails
  meet, the position nearest the prediction is taken: the branch that continues the path's recent
  direction with the least change of direction. The rule does not know the switch's setting.
* **No rails** (embedded tram track under dirt, snow, a network that misses thin rails): the same
  search runs on the track-class region alone, its centre line offset by half a gauge each way, and
  the result says so (``source == "track-classes"``).
"""

from collections import deque
from dataclasses import dataclass
from typing import Deque, Iterator, List, Optional, Tuple

import cv2
import numpy as np

from .camera import GroundCamera
from .config import RAIL_CLASSES, TRACK_CLASSES, TrackConfig, class_lut

INIT_RANGE_M = 30.0      # the ego pair must be found this close to the camera
WINDOW = 0.2             # search window for a rail, in gauges
WINDOW_MAX = 0.45        # ... grown while coasting, never past this (a neighbour's rail is >= 1 gauge away)
RATIO_LO, RATIO_HI = 0.75, 1.33   # a matched pair's width, as a fraction of the tracked gauge ratio
HISTORY = 12             # rows in the fit that predicts the next row
QUADRATIC_SPAN = 24      # ... a parabola once they span this many image rows, a line before
COAST_ROWS = 3           # rows read without a match after which only both rails pick the track up again
GROUND_FIT_ROWS = 6      # rows with both rails seen, for continuing the track on the ground across a gap
GROUND_CURVE_SPAN_M = 8.0   # ... as a parabola when they span this much ground, a straight line before

RAIL, ONE_RAIL, BODY, COAST = 0, 1, 2, 3   # what a row of the path rests on

_RAIL_LUT = class_lut(RAIL_CLASSES)
_BODY_LUT = class_lut(RAIL_CLASSES + TRACK_CLASSES)


@dataclass(frozen=True)
class RowGrid:
    """The rows the search reads (bottom to top) and what the camera says about each."""

    rows: np.ndarray       # int image rows, decreasing
    axis_u: np.ndarray     # column of the vehicle's axis on the ground at that row
    gauge_px: np.ndarray   # pixels between the rails of a track at that row
    distance_m: np.ndarray  # ground distance of the row along the vehicle's axis


@dataclass
class RailPath:
    """The ego track as found: one entry per row read, bottom to top."""

    v: np.ndarray
    left_u: np.ndarray
    right_u: np.ndarray
    kind: np.ndarray        # RAIL, ONE_RAIL, BODY or COAST per row
    source: str             # "rails" or "track-classes"

    @property
    def rail_rows(self) -> np.ndarray:
        return self.kind == RAIL


def row_grid(camera: GroundCamera, cfg: TrackConfig) -> Optional[RowGrid]:
    """Rows from the bottom of the image up to ``max_range_m`` (or where the gauge gets too small)."""
    near = camera.nearest_visible_distance()
    d = np.geomspace(max(0.3, 0.5 * near), max(cfg.max_range_m, near * 1.01), 600)
    axis = camera.axis_rows(d)
    half = cfg.gauge_m / 2
    gauge = np.hypot(*(camera.project_ground(np.column_stack([d, np.full(len(d), half)]))
                       - camera.project_ground(np.column_stack([d, np.full(len(d), -half)]))).T)
    ok = np.isfinite(axis).all(axis=1) & np.isfinite(gauge) & (gauge >= cfg.min_gauge_px)
    ok &= np.concatenate([[True], np.diff(axis[:, 1]) < 0])  # rows rise with distance below the horizon
    if ok.sum() < 2:
        return None
    v_axis, u_axis, g_axis, d_axis = axis[ok, 1][::-1], axis[ok, 0][::-1], gauge[ok][::-1], d[ok][::-1]
    bottom, top = camera.height - 1, max(0.0, float(v_axis[0]))
    rows: List[int] = []
    v = float(bottom)
    while v >= top:
        rows.append(int(v))
        v -= min(12, max(1, int(np.interp(v, v_axis, g_axis) / 20.0)))
    r = np.asarray(rows, dtype=np.int64)
    if len(r) < 2:
        return None
    return RowGrid(r, np.interp(r, v_axis, u_axis), np.interp(r, v_axis, g_axis), np.interp(r, v_axis, d_axis))


class _RowRuns:
    """Per row read, the [start, end) columns of its runs of a class set; all rows found in one pass."""

    def __init__(self, labels: np.ndarray, rows: np.ndarray, lut: np.ndarray) -> None:
        sub = cv2.LUT(np.ascontiguousarray(labels[rows]), lut)
        n, w = sub.shape
        padded = np.zeros((n, w + 2), np.uint8)
        padded[:, 1:-1] = sub
        change = np.flatnonzero(padded[:, 1:] != padded[:, :-1])   # in each row: start, end, start, end, ...
        rows_of = change[0::2] // (w + 1)
        self.starts = (change[0::2] % (w + 1)).tolist()
        self.ends = (change[1::2] % (w + 1)).tolist()
        self.bounds = np.searchsorted(rows_of, np.arange(n + 1)).tolist()

    def __getitem__(self, i: int) -> Tuple[List[int], List[int]]:
        a, b = self.bounds[i], self.bounds[i + 1]
        return self.starts[a:b], self.ends[a:b]


def _nearest_run(runs: Tuple[List[int], List[int]], at: float, window: float) -> int:
    """Index of the run nearest column ``at`` (within ``window`` px of it), or -1."""
    best, best_gap = -1, window
    for i, (s, e) in enumerate(zip(*runs)):
        gap = s - at if at < s else (at - (e - 1) if at > e - 1 else 0.0)
        if gap <= best_gap:
            best, best_gap = i, gap
    return best


def _position(s: int, e: int, predicted: float, half_width: float) -> float:
    """Where in run [s, e) the rail's centre is: its middle, or the point nearest the prediction when the
    run is wider than one rail (two rails touching at a switch, a rail and a flangeway)."""
    centre = (s + e - 1) / 2.0
    if (e - s) / 2.0 <= half_width + 1.0:
        return centre
    return min(max(predicted, s + half_width - 0.5), e - 0.5 - half_width)


class _Follower:
    """State of the search while it climbs the image."""

    def __init__(self, grid: RowGrid, camera: GroundCamera, start: int, left: float, right: float,
                 slopes: Tuple[float, float], half_width: float, cfg: TrackConfig) -> None:
        self.grid, self.cfg, self.width, self.camera = grid, cfg, camera.width, camera
        self._ground_fit: Optional[Tuple[np.ndarray, float]] = None   # the track on the ground, for a gap
        self.ratio = (right - left) / grid.gauge_px[start]
        self.half_width = half_width / grid.gauge_px[start]   # a rail's half width, in gauges
        self.history: Deque[Tuple[float, float, float]] = deque([(float(grid.rows[start]), left, right)],
                                                                maxlen=HISTORY)
        self.slopes = slopes
        self.last_seen = start
        self.out: List[Tuple[float, float, float, int]] = [(float(grid.rows[start]), left, right, RAIL)]

    def predict(self, v: float) -> Tuple[float, float]:
        """Both rails' columns at row ``v`` from a least-squares parabola (a line while the rows seen span
        little) through the last rows seen: a curve is followed as a curve, a straight as a straight."""
        h = self.history
        if len(h) < 3 or h[0][0] - h[-1][0] < 4:
            v0, l0, r0 = h[-1]
            return l0 + self.slopes[0] * (v - v0), r0 + self.slopes[1] * (v - v0)
        n, vm = len(h), sum(p[0] for p in h) / len(h)
        s2 = s3 = s4 = 0.0
        sums = [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]   # per rail: sum u, sum x u, sum x^2 u
        for pv, pl, pr in h:
            x = pv - vm
            x2 = x * x
            s2 += x2
            s3 += x2 * x
            s4 += x2 * x2
            for k, u in ((0, pl), (1, pr)):
                sums[k][0] += u
                sums[k][1] += x * u
                sums[k][2] += x2 * u
        x = v - vm
        if h[0][0] - h[-1][0] >= QUADRATIC_SPAN:
            normal = np.array([[n, 0.0, s2], [0.0, s2, s3], [s2, s3, s4]])   # u = a + b x + c x^2, sum x = 0
            coef = np.linalg.lstsq(normal, np.array(sums).T, rcond=None)[0]
            u = coef[0] + coef[1] * x + coef[2] * x * x
            return float(u[0]), float(u[1])
        return sums[0][0] / n + sums[0][1] / s2 * x, sums[1][0] / n + sums[1][1] / s2 * x

    def _fit_ground(self) -> Optional[Tuple[np.ndarray, float]]:
        """The centre line seen with both rails, on the ground: Y(X) as a line, or a parabola where the rows
        span enough ground to show the curve; and half the gauge as measured (None with too few rows)."""
        rows = np.array([(v, (left + right) / 2) for v, left, right, kind in self.out if kind == RAIL])
        if len(rows) < GROUND_FIT_ROWS:
            return None
        ground = self.camera.to_ground(rows[:, ::-1])
        ground = ground[np.isfinite(ground).all(axis=1) & (ground[:, 0] > 0)]
        if len(ground) < GROUND_FIT_ROWS:
            return None
        span = float(np.ptp(ground[:, 0]))
        degree = 2 if span >= GROUND_CURVE_SPAN_M else 1
        return np.polyfit(ground[:, 0], ground[:, 1], degree), self.cfg.gauge_m / 2 * self.ratio

    def predict_on_ground(self, v: float, centre_u: float) -> Optional[Tuple[float, float]]:
        """Both rails' columns at row ``v`` with the track continued on the ground from the rows where both
        rails were seen (over a long gap an image-space fit drifts off; the ground keeps the track's shape)."""
        if self._ground_fit is None:
            self._ground_fit = self._fit_ground() or (np.zeros(0), 0.0)
        coef, half = self._ground_fit
        if not len(coef):
            return None
        u = centre_u
        for _ in range(2):   # the ground point of the row at the track's column, then the track there
            x = self.camera.to_ground(np.array([[u, v]]))[0, 0]
            if not np.isfinite(x) or x <= 0:
                return None
            y, slope = np.polyval(coef, x), np.polyval(np.polyder(coef), x)
            u = float(self.camera.project_ground(np.array([[x, y]]))[0, 0])
        normal = np.array([-slope, 1.0]) / np.hypot(slope, 1.0)   # to the left of the direction of travel
        edges = self.camera.project_ground(np.array([[x, y]]) + np.array([normal * half, -normal * half]))
        if not np.isfinite(edges).all():
            return None
        return float(edges[0, 0]), float(edges[1, 0])

    def window(self, i: int, gauge: float) -> float:
        coast_rows = self.grid.rows[self.last_seen] - self.grid.rows[i]
        return min(WINDOW * gauge + 0.05 * coast_rows, WINDOW_MAX * gauge) + 1.0

    def step(self, i: int, rails: Tuple[List[int], List[int]], body: Tuple[List[int], List[int]]) -> bool:
        """Read row ``i``; False when the track ends here."""
        grid, v = self.grid, float(self.grid.rows[i])
        gauge = grid.gauge_px[i] * self.ratio
        pl, pr = self.predict(v)
        if i - self.last_seen > 1:   # in a gap: continue the track on the ground, not its image
            pl, pr = self.predict_on_ground(v, (pl + pr) / 2) or (pl, pr)
        coasting = i - self.last_seen > COAST_ROWS
        found = self._match_rails(rails, pl, pr, gauge, self.window(i, gauge), coasting)
        kind = found[2] if found else -1
        if found is None:
            found = self._match_body(body, pl, pr, gauge)
            kind = BODY if found else -1
        if found is None:
            if grid.distance_m[i] > self.cfg.max_gap_ratio * grid.distance_m[self.last_seen]:
                return False
            self.out.append((v, pl, pr, COAST))
            return pr > 0 and pl < self.width
        left, right = found[0], found[1]
        if kind == RAIL:
            self.ratio = 0.9 * self.ratio + 0.1 * (right - left) / grid.gauge_px[i]
        self.history.append((v, left, right))
        self.last_seen = i
        self._ground_fit = None
        self.out.append((v, left, right, kind))
        return True

    def _match_rails(self, runs, pl: float, pr: float, gauge: float, window: float,
                     coasting: bool) -> Optional[Tuple[float, float, int]]:
        if not runs[0]:
            return None
        hw = self.half_width * gauge
        il, ir = _nearest_run(runs, pl, window), _nearest_run(runs, pr, window)
        if il >= 0 and il == ir:   # one stretch under both predictions: rails merged far away
            return None
        left = _position(runs[0][il], runs[1][il], pl, hw) if il >= 0 else None
        right = _position(runs[0][ir], runs[1][ir], pr, hw) if ir >= 0 else None
        if left is not None and right is not None:
            if RATIO_LO * gauge <= right - left <= RATIO_HI * gauge:
                return left, right, RAIL
            if coasting:
                return None
            if abs(left - pl) > abs(right - pr):
                left = None
            else:
                right = None
        if coasting or (left is None and right is None):
            return None   # after a gap only both rails, a gauge apart, pick the track up again
        width = pr - pl
        return (left, left + width, ONE_RAIL) if left is not None else (right - width, right, ONE_RAIL)

    def _match_body(self, runs, pl: float, pr: float, gauge: float) -> Optional[Tuple[float, float]]:
        centre = (pl + pr) / 2.0
        i = _nearest_run(runs, centre, 0.0)
        if i < 0:
            return None
        s, e = runs[0][i], runs[1][i]
        if not 0.7 * gauge <= e - s <= 3.5 * gauge:
            return None
        c = (s + e - 1) / 2.0 if e - s <= 2.2 * gauge else min(max(centre, s + 0.8 * gauge), e - 0.8 * gauge)
        width = pr - pl
        return c - width / 2, c + width / 2

    def path(self, source: str) -> RailPath:
        last = max(k for k, row in enumerate(self.out) if row[3] != COAST)
        arr = np.asarray(self.out[: last + 1], dtype=np.float64)
        return RailPath(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3].astype(np.int64), source)


def _start_candidates(grid: RowGrid, runs: _RowRuns, pairs: bool) -> Iterator[Tuple[int, float, float, float]]:
    """(row index, left, right, rail half width) where the ego track could start, lowest rows first."""
    for i in range(len(grid.rows)):
        if grid.distance_m[i] > INIT_RANGE_M:
            break
        starts, ends = runs[i]
        u0, g = grid.axis_u[i], grid.gauge_px[i]
        best = None
        if pairs:
            centres = [(s + e - 1) / 2.0 for s, e in zip(starts, ends)]
            for a, ca in enumerate(centres):
                if ca >= u0:
                    break
                for b in range(a + 1, len(centres)):
                    cb = centres[b]
                    ratio, offset = (cb - ca) / g, abs((ca + cb) / 2 - u0) / g
                    if cb > u0 and 0.7 <= ratio <= 1.4 and offset <= 0.6:
                        score = abs(ratio - 1.0) + offset
                        if best is None or score < best[0]:
                            hw = 0.25 * ((ends[a] - starts[a]) + (ends[b] - starts[b]))
                            best = (score, ca, cb, hw)
        else:
            for s, e in zip(starts, ends):
                c = (s + e - 1) / 2.0
                if s <= u0 < e and 0.8 * g <= e - s <= 3.5 * g and abs(c - u0) <= 0.6 * g:
                    best = (0.0, c - g / 2, c + g / 2, 1.0)
        if best is not None:
            yield i, best[1], best[2], best[3]


def _initial_slopes(camera: GroundCamera, v: float, left: float, right: float) -> Tuple[float, float]:
    """du/dv of two rails running straight along the vehicle's axis from (left, v) and (right, v)."""
    ground = camera.to_ground(np.array([[left, v], [right, v]]))
    ahead = camera.project_ground(ground + np.array([5.0, 0.0]))
    now = np.array([[left, v], [right, v]])
    dv = ahead[:, 1] - now[:, 1]
    slopes = np.where(np.abs(dv) > 1e-6, (ahead[:, 0] - now[:, 0]) / np.where(dv == 0, 1, dv), 0.0)
    return float(slopes[0]), float(slopes[1])


def _follow(grid: RowGrid, camera: GroundCamera, rails: _RowRuns, body: _RowRuns, cfg: TrackConfig,
            pairs: bool) -> Optional[RailPath]:
    tries = 0
    for start, left, right, hw in _start_candidates(grid, rails if pairs else body, pairs):
        follower = _Follower(grid, camera, start, left, right, _initial_slopes(camera, grid.rows[start], left, right),
                             hw, cfg)
        for i in range(start + 1, len(grid.rows)):
            if not follower.step(i, rails[i], body[i]):
                break
        path = follower.path("rails" if pairs else "track-classes")
        seen = int((path.kind != COAST).sum())
        if seen >= 4:
            if pairs and (path.kind == BODY).sum() > (path.kind <= ONE_RAIL).sum():
                path.source = "track-classes"
            return path
        tries += 1
        if tries >= 8:
            break
    return None


def find_rails(labels: np.ndarray, camera: GroundCamera, grid: RowGrid, cfg: TrackConfig) -> Optional[RailPath]:
    """The ego track's rails in an H x W uint8 RailSem19 label map, or None when there is none."""
    rails = _RowRuns(labels, grid.rows, _RAIL_LUT)
    body = _RowRuns(labels, grid.rows, _BODY_LUT)
    return _follow(grid, camera, rails, body, cfg, pairs=True) or _follow(grid, camera, rails, body, cfg, pairs=False)
