"""Obstacles: connected regions of the obstacle classes that stand inside the envelope's footprint.

A region counts when one of its lower boundary pixels (a pixel of the class whose neighbour below is
not) lies on the envelope footprint: with a flat-ground camera that pixel is where the region meets
the ground, so a person beside the envelope (feet outside) is not reported while one stepping onto it
is, however much of either the image shows over the envelope. Its distance is the along-track
distance of its nearest such ground point. Regions are found per class (8-connected), so a person in
front of a car stays a person.
"""

from dataclasses import dataclass
from typing import FrozenSet, List, Tuple

import cv2
import numpy as np

from ..labels import RAILSEM19
from .camera import GroundCamera
from .config import class_lut
from .envelope import Envelope, GroundPath, along_track

SHIFT = 4          # sub-pixel bits for cv2.fillPoly
NEAREST = 8        # contact points per region measured along the track (the nearest by ground range)
MAX_HEIGHT_M = 10.0  # nothing that stands on the track is taller above its contact point (trains: about 4.5 m)


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


def find_obstacles(labels: np.ndarray, camera: GroundCamera, path: GroundPath, envelope: Envelope,
                   classes: FrozenSet[int], min_pixels: int) -> List[Obstacle]:
    """Obstacles in an H x W RailSem19 label map, nearest first."""
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
            ground = camera.to_ground(mine)
            ok = np.isfinite(ground).all(axis=1)
            if not ok.any():
                continue
            mine, ground = mine[ok], ground[ok]
            # a "contact" under which the region is far taller than anything standing there is the lower
            # edge of something nearer that hides the footprint (a train beside the track, in a curve)
            standing = _standing_heights(camera, components, cid, mine, ground) <= MAX_HEIGHT_M
            if not standing.any():
                continue
            mine, ground = mine[standing], ground[standing]
            order = np.argsort(np.hypot(*ground.T))[:NEAREST]
            s, lateral = along_track(path, ground[order])
            k = int(np.argmin(s))
            found.append(Obstacle(int(cls), area, (x, y, x + w, y + h), float(s[k]), float(lateral[k]),
                                  (float(mine[order[k], 0]), float(mine[order[k], 1]))))
    found.sort(key=lambda o: o.distance_m)
    return found
