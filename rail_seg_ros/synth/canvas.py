"""Drawing primitives: one frame's image, label map and depth map, and the polygons drawn into them."""

from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from .config import RGB, SKY, SceneConfig
from .palette import shade
from .world import Prop, SceneCamera, World

Lateral = Union[float, Callable[[np.ndarray], np.ndarray]]

_LIMIT = 1e7  # fixed-point vertex coordinates are clipped here so they never overflow int32


class Canvas:
    """One frame being drawn: the image, the label map and a depth map (for haze) kept in step.

    With ``instances`` (for ground truth), an int32 map also records which upright thing drew each
    pixel last: ``instance`` is set by the drawing loop (0 for the ground layers).
    """

    SHIFT = 4

    def __init__(self, world: World, cam: SceneCamera, s: float, cfg: SceneConfig, instances: bool = False) -> None:
        self.world, self.cam, self.s, self.cfg = world, cam, s, cfg
        h, w = cam.height, cam.width
        self.img = np.zeros((h, w, 3), np.uint8)
        self.lab = np.full((h, w), SKY, np.uint8)
        self.depth = np.zeros((h, w), np.float32)
        self.instances: Optional[np.ndarray] = np.zeros((h, w), np.int32) if instances else None
        self.instance = 0
        self.min_px = cfg.min_line_px * max(1.0, w / 512)   # never thinner than min_line_px
        self.min_object_px = cfg.min_object_px * w / 512
        self.z_ground = cam.f * cam.cam_height / (3.0 * max(h, w))
        self.z_obj = 1.2
        self.far = cfg.far
        self.grid = np.geomspace(self.z_ground, self.far, 72)

    # -- geometry
    def zs(self, d0: float, d1: float, n: int = 0) -> np.ndarray:
        """Distances ahead at which to sample a band from d0 to d1 (dense near the camera)."""
        z0, z1 = max(d0 - self.s, self.z_ground), min(d1 - self.s, self.far)
        if z1 <= z0:
            return np.zeros(0)
        if n:
            return np.linspace(z0, z1, n)
        inner = self.grid[(self.grid > z0) & (self.grid < z1)]
        return np.concatenate([[z0], inner, [z1]])

    def project(self, lat: Any, y: Any, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=float)
        return self.cam.project(self.world.offset(self.s, z) + lat, np.asarray(y, dtype=float), z)

    def band(self, d0: float, d1: float, lat0: Lateral, lat1: Lateral, y: float = 0.0) -> Optional[np.ndarray]:
        """Polygon of a ground band between two lateral offsets (numbers or functions of d)."""
        z = self.zs(d0, d1)
        if len(z) < 2:
            return None
        d = z + self.s
        a = lat0(d) if callable(lat0) else np.full(len(z), lat0)
        b = lat1(d) if callable(lat1) else np.full(len(z), lat1)
        return np.concatenate([self.project(a, y, z), self.project(b, y, z)[::-1]])

    def line(self, d0: float, d1: float, lat: Lateral, y: float, width: float,
             min_px: Optional[float] = None) -> Optional[np.ndarray]:
        """Polygon of a thin line along the track (rail, wire), never thinner than ``min_px``."""
        z = self.zs(max(d0, self.s + self.z_obj * 0.5), d1)
        if len(z) < 2:
            return None
        d = z + self.s
        centre = self.project(lat(d) if callable(lat) else np.full(len(z), lat), y, z)
        half = np.maximum(width / 2 * self.cam.f / z, (self.min_px if min_px is None else min_px) / 2)[:, None]
        tangent = np.gradient(centre, axis=0)
        normal = np.stack([-tangent[:, 1], tangent[:, 0]], 1)
        normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-9)
        return np.concatenate([centre + normal * half, (centre - normal * half)[::-1]])

    def side_quads(self, lat: float, ya: np.ndarray, yb: np.ndarray, da: np.ndarray,
                   db: np.ndarray) -> List[np.ndarray]:
        """Quads on an upright face along the line at ``lat`` (windows, doors), one per entry."""
        da, db, ya, yb = np.broadcast_arrays(da, db, ya, yb)
        keep = (da - self.s > self.z_obj) & (da - self.s < self.far)
        if not keep.any():
            return []
        d = np.stack([da[keep], da[keep], db[keep], db[keep]], 1)
        y = np.stack([ya[keep], yb[keep], yb[keep], ya[keep]], 1)
        return list(self.project(lat, y, d - self.s))

    def ground_quads(self, lat0: np.ndarray, lat1: np.ndarray, da: np.ndarray, db: np.ndarray,
                     y: float = 0.0) -> List[np.ndarray]:
        """Quads lying on the ground (sleepers, lane marks), one per entry."""
        lat0, lat1, da, db = np.broadcast_arrays(lat0, lat1, da, db)
        keep = (da - self.s > self.z_ground) & (db - self.s < self.far)
        if not keep.any():
            return []
        lat = np.stack([lat0[keep], lat1[keep], lat1[keep], lat0[keep]], 1)
        d = np.stack([da[keep], da[keep], db[keep], db[keep]], 1)
        return list(self.project(lat, y, d - self.s))

    def anchor(self, prop: Prop) -> Optional[Tuple[float, float]]:
        """(x, z) in the camera frame of an upright object's foot, or None when not in view."""
        z = prop.d - self.s
        if z < self.z_obj or z > self.far:
            return None
        return float(self.world.offset(self.s, np.asarray(z)) + prop.lat), z

    def thick(self, width: float, z: float) -> float:
        """A width in metres that is at least ``min_px`` pixels wide at distance ``z``."""
        return max(width, self.min_px * z / self.cam.f)

    def billboard(self, x: float, y0: float, z: float, uv: np.ndarray) -> np.ndarray:
        """An outline in metres (u right, v up) on the upright plane through (x, y0) at ``z``."""
        return self.cam.project(x + uv[..., 0], y0 + uv[..., 1], np.full(uv.shape[:-1], z))

    # -- rasterising
    def _fixed(self, polys: Union[np.ndarray, Sequence[np.ndarray]]) -> List[np.ndarray]:
        """Polygons as the fixed-point int32 vertex arrays fillPoly wants (one array or a stack converts at once)."""
        scale = float(1 << self.SHIFT)
        if isinstance(polys, np.ndarray):
            fixed = np.rint(np.minimum(np.maximum(polys * scale, -_LIMIT), _LIMIT)).astype(np.int32)
            return list(fixed) if fixed.ndim == 3 else [fixed]
        return [np.rint(np.minimum(np.maximum(p * scale, -_LIMIT), _LIMIT)).astype(np.int32) for p in polys]

    def fill(self, polys: Union[np.ndarray, Sequence[np.ndarray], None], cls: int, colour: RGB,
             z: Optional[float] = None) -> None:
        """Draw polygons of class ``cls`` into image and label map alike (and depth, for upright things)."""
        if polys is None or not len(polys):
            return
        pts = self._fixed(polys)
        cv2.fillPoly(self.img, pts, (int(colour[0]), int(colour[1]), int(colour[2])), cv2.LINE_8, self.SHIFT)
        cv2.fillPoly(self.lab, pts, int(cls), cv2.LINE_8, self.SHIFT)
        if self.instances is not None:
            cv2.fillPoly(self.instances, pts, self.instance, cv2.LINE_8, self.SHIFT)
        if z is not None:
            cv2.fillPoly(self.depth, pts, float(z), cv2.LINE_8, self.SHIFT)

    def paint(self, polys: Union[np.ndarray, Sequence[np.ndarray], None], colour: RGB) -> None:
        """Draw detail into the image only (windows, sleepers): it lies inside a labelled outline."""
        if polys is not None and len(polys):
            cv2.fillPoly(self.img, self._fixed(polys), (int(colour[0]), int(colour[1]), int(colour[2])),
                         cv2.LINE_8, self.SHIFT)

    def side(self, rgb: RGB) -> RGB:
        return shade(rgb, self.world.look.shade_side)

    def front(self, rgb: RGB) -> RGB:
        return shade(rgb, self.world.look.shade_front)
