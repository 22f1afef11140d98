"""Obstacles: connected regions of the obstacle classes that stand inside the envelope's footprint.

A region counts when one of its lower boundary pixels (a pixel of the class whose neighbour below is
not) lies on the envelope footprint: with a flat-ground camera that pixel is where the region meets
the ground, so a person beside the envelope (feet outside) is not reported while one stepping onto it
is, however much of either the image shows over the envelope. Its distance is the along-track
distance of its nearest such ground point. Regions are found per class (8-connected), so a person in
front of a car stays a person.

Rail vehicles (``on-rails``) count only where they stand on the ego track itself: a contact within half the
gauge plus ``ON_TRACK_MARGIN_M`` of the centre line, and none of the region's lower edge much nearer than
that contact (``ALONGSIDE_RATIO``). A train on a neighbouring track reaches to the envelope's edge by design
(track spacing keeps it just outside the kinematic gauge), a pixel there spans 0.1-0.3 m 50-150 m ahead,
and the far end of its body, against the far ego track, reads as a contact on the footprint, while its
near end stands on its own track much nearer.
"""

from dataclasses import dataclass
from typing import Any, FrozenSet, List, Optional, Tuple

import cv2
import numpy as np

from ..labels import RAILSEM19
from .camera import GroundCamera
from .config import class_lut
from .envelope import Envelope, GroundPath, along_track

SHIFT = 4          # sub-pixel bits for cv2.fillPoly
NEAREST = 8        # contact points per region measured along the track (the nearest by ground range)
MAX_HEIGHT_M = 10.0  # nothing that stands on the track is taller above its contact point (trains: about 4.5 m)
ON_RAILS = RAILSEM19.names.index("on-rails")
# a rail vehicle on the ego track has contacts this close to the centre line (its wheels are on the rails);
# one on a neighbouring track none nearer than about 1.6 m
ON_TRACK_MARGIN_M = 0.5
# ... and a region whose lower edge comes this many times nearer than its contact on the footprint (plus
# ALONGSIDE_SLACK_M) is a train alongside whose far end overlaps the ego track in the image
ALONGSIDE_RATIO = 1.5
ALONGSIDE_SLACK_M = 5.0
# touching objects of one class: split where the region's lower edge steps this much farther (see _column_parts)
STEP_RATIO = 1.25
STEP_M = 2.0
JUMP_RATIO = 1.1   # ... from one column to the next (and JUMP_ROWS rows) the edge may pass to another object
JUMP_ROWS = 2
RISE_ROWS = 4      # a head over the shoulders: the top edge rises this many rows from one column to the next
MIN_PART_COLUMNS = 3


@dataclass(frozen=True)
class Obstacle:
    """One region on the envelope footprint. ``bbox`` is (u0, v0, u1, v1) in pixels, u1/v1 exclusive."""

    class_id: int
    pixels: int
    bbox: Tuple[int, int, int, int]
    distance_m: float          # along the track, from the camera's foot point to the region's ground contact
    lateral_m: float           # that contact point's offset from the track centre line (+ left)
    contact: Tuple[float, float]  # the contact pixel (u, v)

    @property
    def class_name(self) -> str:
        return RAILSEM19.names[self.class_id]


def footprint_mask(envelope: Envelope, shape: Tuple[int, int]) -> Tuple[np.ndarray, Tuple[int, int, int, int]]:
    """The footprint rasterised over its bounding box: (mask, (u0, v0, u1, v1)) clipped to the image."""
    h, w = shape
    poly = envelope.footprint
    u0, v0 = np.floor(np.clip(poly.min(axis=0), 0, [w, h])).astype(int)
    u1, v1 = np.ceil(np.clip(poly.max(axis=0) + 1, 0, [w, h])).astype(int)
    mask = np.zeros((max(v1 - v0, 0), max(u1 - u0, 0)), np.uint8)
    if mask.size:
        pts = np.rint((poly - [u0, v0]) * (1 << SHIFT)).clip(-1e7, 1e7).astype(np.int32)
        cv2.fillPoly(mask, [pts], 1, cv2.LINE_8, SHIFT)
    return mask, (int(u0), int(v0), int(u1), int(v1))


def _contacts(labels: np.ndarray, lut: np.ndarray, mask: np.ndarray, box: Tuple[int, int, int, int]) -> np.ndarray:
    """K x 2 (v, u) of obstacle pixels on the footprint whose pixel below has another class."""
    u0, v0, u1, v1 = box
    crop = np.ascontiguousarray(labels[v0:v1, u0:u1])
    on = cv2.findNonZero(cv2.bitwise_and(cv2.LUT(crop, lut), mask))
    if on is None:
        return np.zeros((0, 2), np.int64)
    on = on.reshape(-1, 2).astype(np.int64)
    us, vs = on[:, 0] + u0, on[:, 1] + v0
    below = np.minimum(vs + 1, labels.shape[0] - 1)
    edge = (vs + 1 >= labels.shape[0]) | (labels[below, us] != labels[vs, us])  # the image's edge bounds a region
    return np.column_stack([vs[edge], us[edge]])


def _standing_heights(camera: GroundCamera, components: np.ndarray, cid: int, contacts: np.ndarray,
                      ground: np.ndarray) -> np.ndarray:
    """For K contact pixels (u, v) of region ``cid`` on the ground at ``ground`` (K x 2): how tall the region
    stands above each, in metres (its top pixel in that column, at the contact's distance)."""
    us, vs = contacts[:, 0].astype(np.int64), contacts[:, 1].astype(np.int64)
    column = components[:, us] == cid                   # H x K
    top = np.argmax(column, axis=0).astype(np.float64)
    rays = camera.rays(np.column_stack([us, top]).astype(np.float64))   # pixels as the contacts give them
    reach = np.hypot(ground[:, 0], ground[:, 1])
    along = np.maximum(np.hypot(rays[:, 0], rays[:, 1]), 1e-9)
    heights = camera.height_m + rays[:, 2] * reach / along
    heights[top > vs] = 0.0                             # cannot happen (the contact is in the region)
    return heights


def _nearest_ground_m(labels: np.ndarray, camera: GroundCamera, components: np.ndarray, cid: int,
                      box: Tuple[int, int, int, int]) -> float:
    """Ground range of the nearest lower-edge pixel of region ``cid`` (bounding box ``box``), anywhere."""
    x, y, w, h = box
    region = components[y:y + h, x:x + w] == cid
    below = np.zeros_like(region)
    below[:-1] = region[1:]
    vs, us = np.nonzero(region & ~below)
    ground = camera.to_ground(np.column_stack([us + x, vs + y]).astype(np.float64))
    ok = np.isfinite(ground).all(axis=1)
    return float(np.hypot(*ground[ok].T).min()) if ok.any() else float("inf")


def _rail_vehicle_on_track(labels: np.ndarray, camera: GroundCamera, path: GroundPath, components: np.ndarray,
                           cid: int, box: Tuple[int, int, int, int], ground: np.ndarray,
                           gauge_m: float) -> np.ndarray:
    """Which contacts (ground points K x 2) of rail vehicle ``cid`` stand on the ego track (see the module)."""
    on_track = np.abs(along_track(path, ground)[1]) <= gauge_m / 2 + ON_TRACK_MARGIN_M
    if on_track.any():
        nearest_in = float(np.hypot(*ground[on_track].T).min())
        if nearest_in > ALONGSIDE_RATIO * _nearest_ground_m(labels, camera, components, cid, box) + ALONGSIDE_SLACK_M:
            on_track[:] = False
    return on_track


def _apart(a: float, b: float) -> bool:
    """Two ground ranges (m) too far apart for one object's lower edge (``STEP_RATIO`` and ``STEP_M``)."""
    near, far = min(a, b), max(a, b)
    return bool(far > STEP_RATIO * near and far - near > STEP_M)


def _edge_stretches(reach: np.ndarray, bottom: np.ndarray) -> List[List[Any]]:
    """[lo, hi, nearest m] of the columns of one region whose lowest pixels (ground ``reach``, image row
    ``bottom``) belong to one object. The edge is cut where it jumps (``JUMP_RATIO`` and ``STEP_M`` between
    two columns, ``JUMP_ROWS`` rows: not the one-row staircase of a far slanted edge), and a stretch stays
    with the one before it unless its nearest point and that one's are ``_apart``: under a car's body the
    edge steps up from the wheels by up to about 20 %, and a car queued behind it shows beside that step by
    less than ``STEP_RATIO`` but stands ``STEP_RATIO`` beyond the wheels."""
    near, far = np.minimum(reach[:-1], reach[1:]), np.maximum(reach[:-1], reach[1:])
    with np.errstate(invalid="ignore"):   # inf - inf: two columns above the horizon are no jump
        strong = (far > STEP_RATIO * near) & (far - near > STEP_M)
        jump = (far > JUMP_RATIO * near) & (far - near > STEP_M) & (np.abs(np.diff(bottom)) >= JUMP_ROWS)
    cuts = np.concatenate([[0], np.flatnonzero(strong | jump) + 1, [len(reach)]])
    stretches: List[List[Any]] = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        nearest = float(reach[a:b].min())
        if stretches and not _apart(stretches[-1][2], nearest):
            stretches[-1][1], stretches[-1][2] = int(b), min(stretches[-1][2], nearest)
        else:
            stretches.append([int(a), int(b), nearest])
    return stretches


def _column_parts(camera: GroundCamera, region: np.ndarray, x: int, y: int) -> List[Tuple[int, int, int, int]]:
    """Column ranges [lo, hi) of the box of ``region`` (its mask, at image offset x, y) that are objects of
    their own, each with the column range of its bounding box (``_box_span``): touching objects of one
    class are one connected region, but where the region's lowest pixels step from one object to a farther
    one (``_edge_stretches``), a farther object shows beside a nearer one. A farther stretch between two
    nearer ones (the gap between a person's legs, under a car's body), stretches narrower than
    ``MIN_PART_COLUMNS`` and farther ones whose top does not show above their neighbour's (an arm beside
    a body: ``_join_hanging``) stay with their neighbours."""
    present = region.any(axis=0)
    cols = np.flatnonzero(present)
    bottom = region.shape[0] - 1 - np.argmax(region[::-1, cols], axis=0)
    ground = camera.to_ground(np.column_stack([cols + x + 0.5, bottom + y + 0.5]).astype(np.float64))
    reach = np.where(np.isfinite(ground).all(axis=1), np.hypot(ground[:, 0], ground[:, 1]), np.inf)
    parts = [(a, b) for a, b, _ in _edge_stretches(reach, bottom)]
    typical = [float(np.median(reach[a:b])) for a, b in parts]
    grounded = np.concatenate([[0], np.cumsum(np.isfinite(reach))])   # columns above the horizon stand nowhere

    def narrow(a: int, b: int) -> bool:
        return int(grounded[b] - grounded[a]) < MIN_PART_COLUMNS

    merged: List[List[int]] = []
    for i, (a, b) in enumerate(parts):
        enclosed = 0 < i < len(parts) - 1 and typical[i] > max(typical[i - 1], typical[i + 1])
        joins_left = bool(merged) and (narrow(a, b) or enclosed or merged[-1][2])
        if joins_left:
            merged[-1][1] = b
            merged[-1][2] = enclosed       # an enclosed stretch also takes the one after it
        else:
            merged.append([a, b, enclosed])
    if len(merged) > 1 and narrow(*merged[-1][:2]):
        merged[-2][1] = merged.pop()[1]
    if len(merged) > 1 and narrow(*merged[0][:2]):   # at either end alike (a truck's body beyond its wheels)
        first = merged.pop(0)
        merged[0][0] = first[0]
    top = np.argmax(region[:, cols], axis=0)
    spans = _join_hanging(camera, [(a, b) for a, b, _ in merged], reach, top, cols + x + 0.5, y)
    nearest = [float(reach[a:b].min()) for a, b in spans]
    boxes = [_box_span(top, spans, nearest, i) for i in range(len(spans))]
    return [(int(cols[a]) + x, int(cols[b - 1]) + x + 1, int(cols[c]) + x, int(cols[d - 1]) + x + 1)
            for (a, b), (c, d) in zip(spans, boxes)]


def _join_hanging(camera: GroundCamera, spans: List[Tuple[int, int]], reach: np.ndarray, top: np.ndarray,
                  us: np.ndarray, y: int) -> List[Tuple[int, int]]:
    """``spans`` with each farther part that hangs beside a nearer neighbour joined to it: an arm beside a
    body. ``top``: the region's top row per column (``us``: their image columns, ``y``: the row offset).
    Followed from the farther part's edge over its neighbour, the top edge tells: where the neighbour's
    own top steps down below it (by ``JUMP_ROWS``), the farther part's roof shows above the nearer thing,
    a second object; where, before that, the top rises above it in a step (``RISE_ROWS`` from one column
    to the next: the shoulders, then the head) to a point below the horizon, the farther part is lower
    than the nearer thing, and of two things lower than the camera the farther one's top shows higher: it
    is the nearer thing's own. A blob's sloping top is no step; above the horizon (a truck taller than the
    camera) a farther one's top shows lower, so there nothing is joined. Parts are judged as found."""
    nearest = [float(reach[a:b].min()) for a, b in spans]

    def hangs(i: int, j: int) -> bool:
        if nearest[j] >= nearest[i]:    # only a farther part hangs beside a nearer one
            return False
        lo, hi = spans[j]
        ref = int(top[spans[i][1] - 1 if j > i else spans[i][0]])
        cols = np.arange(lo, hi) if j > i else np.arange(hi - 1, lo - 1, -1)
        walk = top[cols].astype(np.int64)
        lower = np.flatnonzero(walk - ref >= JUMP_ROWS)
        end = int(lower[0]) if len(lower) else len(walk)
        rise = np.flatnonzero(-np.diff(np.concatenate([[ref], walk[:end]])) >= RISE_ROWS)
        if not len(rise):
            return False
        k = cols[rise[0]]
        return bool(np.isfinite(camera.to_ground(np.array([[us[k], top[k] + y + 0.5]]))).all())

    joins_next = [hangs(i, i + 1) or hangs(i + 1, i) for i in range(len(spans) - 1)]
    joined = [list(spans[0])]
    for span, join in zip(spans[1:], joins_next):
        if join:
            joined[-1][1] = span[1]
        else:
            joined.append(list(span))
    return [(a, b) for a, b in joined]


def _box_span(top: np.ndarray, spans: List[Tuple[int, int]], nearest: List[float], i: int) -> Tuple[int, int]:
    """The columns of part ``i``'s box: its own, and those of a nearer neighbour over which its top edge
    (``top``: the region's top row per column) runs on level, within ``JUMP_ROWS`` rows, before that
    neighbour's own top shows: the roof of a car queued behind another shows above the one in front. Where
    no step shows, the tops cannot be told apart and the box stays the part's own."""
    lo, hi = spans[i]
    for side in (-1, 1):
        j = i + side
        if not 0 <= j < len(spans) or nearest[j] >= nearest[i]:
            continue
        start, stop = (lo - 1, spans[j][0] - 1) if side < 0 else (hi, spans[j][1])
        ref, k = int(top[lo if side < 0 else hi - 1]), start   # a fixed row: a blob's sloping top is no roof
        while k != stop and abs(int(top[k]) - ref) < JUMP_ROWS:
            k += side
        if k != stop:   # the neighbour's own top showed: the box reaches to where it did
            lo, hi = (k + 1, hi) if side < 0 else (lo, k)
    return lo, hi


def _obstacle(labels: np.ndarray, camera: GroundCamera, path: GroundPath, components: np.ndarray, cid: int,
              cls: int, part: Tuple[int, int, int, int], box_cols: Tuple[int, int],
              region_box: Tuple[int, int, int, int], mine: np.ndarray, gauge_m: float) -> Optional[Obstacle]:
    """The obstacle that part ``part`` (x, y, w, h) of region ``cid`` (box ``region_box``) makes with its
    contacts ``mine`` (u, v); its bounding box spans columns ``box_cols`` [lo, hi)."""
    x, y, w, h = part
    area = int(np.count_nonzero(components[y:y + h, x:x + w] == cid))
    sub = components[y:y + h, box_cols[0]:box_cols[1]] == cid
    rows = np.flatnonzero(sub.any(axis=1))
    bbox = (box_cols[0], y + int(rows[0]), box_cols[1], y + int(rows[-1]) + 1)
    ground = camera.to_ground(mine)
    ok = np.isfinite(ground).all(axis=1)
    if not ok.any():
        return None
    mine, ground = mine[ok], ground[ok]
    # a "contact" under which the region is far taller than anything standing there is the lower
    # edge of something nearer that hides the footprint (a train beside the track, in a curve)
    standing = _standing_heights(camera, components, cid, mine, ground) <= MAX_HEIGHT_M
    if not standing.any():
        return None
    mine, ground = mine[standing], ground[standing]
    if cls == ON_RAILS:
        on_track = _rail_vehicle_on_track(labels, camera, path, components, cid, region_box, ground, gauge_m)
        if not on_track.any():
            return None
        mine, ground = mine[on_track], ground[on_track]
    order = np.argsort(np.hypot(*ground.T))[:NEAREST]
    s, lateral = along_track(path, ground[order])
    k = int(np.argmin(s))
    return Obstacle(int(cls), area, bbox, float(s[k]), float(lateral[k]),
                    (float(mine[order[k], 0]), float(mine[order[k], 1])))


def find_obstacles(labels: np.ndarray, camera: GroundCamera, path: GroundPath, envelope: Envelope,
                   classes: FrozenSet[int], min_pixels: int, gauge_m: float = 1.435) -> List[Obstacle]:
    """Obstacles in an H x W RailSem19 label map, nearest first (``gauge_m``: where rail vehicles stand)."""
    mask, box = footprint_mask(envelope, labels.shape)
    if not mask.size or not classes:
        return []
    contacts = _contacts(labels, class_lut(classes), mask, box)
    if not len(contacts):
        return []
    contact_cls = labels[contacts[:, 0], contacts[:, 1]]
    found: List[Obstacle] = []
    for cls in np.unique(contact_cls).tolist():
        count, components, stats, _ = cv2.connectedComponentsWithStats((labels == cls).view(np.uint8), connectivity=8)
        pts = contacts[contact_cls == cls]
        ids = components[pts[:, 0], pts[:, 1]]
        for cid in np.unique(ids).tolist():
            x, y, w, h, area = (int(a) for a in stats[cid])
            if area < min_pixels:
                continue
            mine = pts[ids == cid][:, ::-1].astype(np.float64)  # (u, v)
            parts = _column_parts(camera, components[y:y + h, x:x + w] == cid, x, y)
            for lo, hi, box_lo, box_hi in parts:
                inside = (mine[:, 0] >= lo) & (mine[:, 0] < hi)
                if not inside.any():
                    continue
                obstacle = _obstacle(labels, camera, path, components, cid, int(cls), (lo, y, hi - lo, h),
                                     (box_lo, box_hi), (x, y, w, h), mine[inside], gauge_m)
                if obstacle is not None and obstacle.pixels >= min_pixels:
                    found.append(obstacle)
    found.sort(key=lambda o: o.distance_m)
    return found
