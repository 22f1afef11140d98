"""Label maps drawn with the camera model: ground, tracks (straight, curved, switching), upright boxes."""

import math
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Tuple

import cv2
import numpy as np
import pytest

from rail_seg_ros.track import GroundCamera, Intrinsics
from rail_seg_ros.track.config import CLASS_ID

GAUGE = 1.435
RAIL_HALF_WIDTH = 0.04   # rail heads as labelled, metres either side of the rail's centre line
SHIFT = 4
Lateral = Callable[[np.ndarray], np.ndarray]


def camera(width: int = 960, height: int = 540, focal: float = 0.8, height_m: float = 2.4, pitch: float = 4.0,
           roll: float = 0.0) -> GroundCamera:
    f = focal * width
    return GroundCamera(Intrinsics(width, height, f, f, width / 2, height / 2), height_m, pitch, roll)


def curve(radius: Optional[float], offset: float = 0.0) -> Lateral:
    """Lateral position (m, + left) of a track centre line along distance X: straight or an arc."""
    if radius is None:
        return lambda x: np.full(np.shape(x), offset, dtype=float)
    return lambda x: offset + radius - np.sign(radius) * np.sqrt(np.maximum(radius ** 2 - np.asarray(x) ** 2, 0.0))


def switch(start: float, length: float, offset: float, base: Lateral) -> Lateral:
    """A branch leaving ``base`` at ``start`` and reaching ``offset`` (m) after ``length``."""
    def lateral(x):
        t = np.clip((np.asarray(x) - start) / length, 0.0, 1.0)
        return base(x) + offset * t * t * (3 - 2 * t)
    return lateral


@dataclass
class Scene:
    """A flat world seen by ``cam``: drawn far to near into a RailSem19 label map."""

    cam: GroundCamera
    tracks: List[Tuple[Lateral, float, float, bool]] = field(default_factory=list)  # lateral, x0, x1, rails drawn
    boxes: List[Tuple[str, float, float, float, float]] = field(default_factory=list)  # class, X, Y, width, height

    def track(self, lateral: Lateral, x0: float = 0.5, x1: float = 400.0, rails: bool = True) -> "Scene":
        self.tracks.append((lateral, x0, x1, rails))
        return self

    def box(self, cls: str, x: float, y: float, width: float = 0.5, height: float = 1.75) -> "Scene":
        self.boxes.append((cls, x, y, width, height))
        return self

    def _band(self, lab: np.ndarray, lateral: Lateral, x0: float, x1: float, lo: float, hi: float, cls: int,
              min_px: float = 0.0) -> None:
        x = np.geomspace(x0, x1, 400)
        y = lateral(x)
        dy = np.gradient(y, x)
        nx, ny = -dy / np.hypot(1, dy), 1 / np.hypot(1, dy)
        a = self.cam.project_ground(np.column_stack([x + nx * lo, y + ny * lo]))
        b = self.cam.project_ground(np.column_stack([x + nx * hi, y + ny * hi]))
        ok = np.isfinite(a).all(1) & np.isfinite(b).all(1)
        a, b = a[ok], b[ok]
        if min_px:   # never thinner than min_px pixels (like the synthetic scenes' rails)
            mid, gap = (a + b) / 2, b - a
            scale = np.maximum(1.0, min_px / np.maximum(np.hypot(*gap.T), 1e-9))[:, None]
            a, b = mid - gap * scale / 2, mid + gap * scale / 2
        # quads between consecutive samples: robust where the band turns nearly horizontal far away
        quads = np.stack([a[:-1], a[1:], b[1:], b[:-1]], axis=1)
        cv2.fillPoly(lab, list(np.rint(quads * (1 << SHIFT)).astype(np.int32)), cls, cv2.LINE_8, SHIFT)

    def labels(self) -> np.ndarray:
        cam = self.cam
        h, w = cam.height, cam.width
        vs, us = np.mgrid[0:h, 0:w]
        ground = cam.to_ground(np.column_stack([us.ravel() + 0.5, vs.ravel() + 0.5]))
        lab = np.where(np.isfinite(ground[:, 0]), CLASS_ID["terrain"], CLASS_ID["sky"]).astype(np.uint8).reshape(h, w)
        for lateral, x0, x1, _ in self.tracks:
            self._band(lab, lateral, x0, x1, -1.3, 1.3, CLASS_ID["rail-track"])
        for lateral, x0, x1, rails in self.tracks:
            if rails:
                for side in (-1, 1):
                    c = side * GAUGE / 2
                    self._band(lab, lateral, x0, x1, c - RAIL_HALF_WIDTH, c + RAIL_HALF_WIDTH,
                               CLASS_ID["rail-raised"], min_px=2.0)
        for cls, x, y, width, height in sorted(self.boxes, key=lambda b: -b[1]):
            corners = np.array([[x, y - width / 2, 0], [x, y + width / 2, 0], [x, y + width / 2, height],
                                [x, y - width / 2, height]])
            uv = cam.project(corners)
            cv2.fillPoly(lab, [np.rint(uv * (1 << SHIFT)).astype(np.int32)], CLASS_ID[cls], cv2.LINE_8, SHIFT)
        return lab

    def rails(self, index: int = 0, x1: float = 150.0) -> Tuple[np.ndarray, np.ndarray]:
        """Image polylines of track ``index``'s left and right rails (centre lines), from 1 m ahead to ``x1``."""
        lateral, x0, _, _ = self.tracks[index]
        x = np.geomspace(max(x0, 1.0), x1, 300)
        y = lateral(x)
        dy = np.gradient(y, x)
        nx, ny = -dy / np.hypot(1, dy), 1 / np.hypot(1, dy)
        out = []
        for side in (1, -1):   # left (+Y) first
            c = side * GAUGE / 2
            uv = self.cam.project_ground(np.column_stack([x + nx * c, y + ny * c]))
            out.append(uv[np.isfinite(uv).all(1)])   # rows below the image are clipped when rasterised
        return out[0], out[1]


@pytest.fixture()
def cam() -> GroundCamera:
    return camera()


def angle(deg: float) -> float:
    return math.radians(deg)
