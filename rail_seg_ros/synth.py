"""Procedural rail scenes with exact RailSem19 labels.

No real rail data set can ship with the package, so these scenes are what its default model is
trained on and what the one-command demo replays. A pinhole camera looks along the ego track over a
flat ground plane; everything in the scene is a polygon drawn with OpenCV into the image and, with the
same vertices, into the label map, so the label of a pixel is the class of the last thing drawn over
it. Ground layers are drawn first, upright things after them from far to near (painter's algorithm).
Light, haze, blur and noise change the image only.

Geometry: ``d`` is distance along the line (metres from the start of the drive), ``lat`` the offset
across it (+ to the right of the ego track centre line), ``y`` the height above the rails. The camera
rides at distance ``s`` and sees a point ``z = d - s`` ahead; curves shift everything sideways by the
line's lateral drift relative to the camera's heading.
"""

import functools
import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from tqdm import tqdm

from .errors import RailSegError
from .fileio import atomic_path
from .labels import RAILSEM19

Range = Tuple[float, float]
RGB = Tuple[float, float, float]
Lateral = Union[float, Callable[[np.ndarray], np.ndarray]]

_ID = {name: i for i, name in enumerate(RAILSEM19.names)}
ROAD = _ID["road"]
SIDEWALK = _ID["sidewalk"]
CONSTRUCTION = _ID["construction"]
TRAM_TRACK = _ID["tram-track"]
FENCE = _ID["fence"]
POLE = _ID["pole"]
TRAFFIC_LIGHT = _ID["traffic-light"]
TRAFFIC_SIGN = _ID["traffic-sign"]
VEGETATION = _ID["vegetation"]
TERRAIN = _ID["terrain"]
SKY = _ID["sky"]
HUMAN = _ID["human"]
RAIL_TRACK = _ID["rail-track"]
CAR = _ID["car"]
TRUCK = _ID["truck"]
TRACKBED = _ID["trackbed"]
ON_RAILS = _ID["on-rails"]
RAIL_RAISED = _ID["rail-raised"]
RAIL_EMBEDDED = _ID["rail-embedded"]

STYLES = ("mainline", "mainline+street", "street tramway")
IMAGE_DIR = Path("jpgs") / "rs19_val"
LABEL_DIR = Path("uint8") / "rs19_val"
MIN_SIZE = 32


@dataclass
class SceneConfig:
    """What the scenes contain: ranges ``(lo, hi)`` are drawn uniformly once per scene, ``p_*`` are
    probabilities per scene (or per side), densities are per 100 m of line.

    The defaults put every RailSem19 class into most frames, so a small network sees each class
    often and from many sides; widen the ranges for harder data.
    """

    # kind of line: ballasted main line / main line beside a street with a tramway / street tramway
    style_weights: Tuple[float, float, float] = (0.45, 0.25, 0.30)
    # camera
    camera_height: Range = (1.9, 2.8)          # metres above the rails
    focal: Range = (0.75, 1.0)                 # focal length / image width
    horizon: Range = (0.34, 0.48)              # horizon row / image height (camera pitch)
    roll_deg: Range = (-2.5, 2.5)              # horizon tilt
    yaw: Range = (-0.04, 0.04)                 # vanishing point shift / image width
    # line geometry
    gauge: float = 1.435
    curvature: Range = (-1 / 350, 1 / 350)     # 1/radius where the drive starts
    p_straight: float = 0.25
    curvature_wave: Range = (0.0, 1 / 700)     # how much the curvature changes along the line
    curvature_period: Range = (250.0, 700.0)
    track_spacing: Range = (4.0, 5.0)
    p_neighbour: float = 0.55                  # per side, main line
    p_switch: float = 0.4
    p_crossing: float = 0.55                   # level crossing (main line) / cross street (tramway)
    p_platform: float = 0.35
    p_catenary: float = 0.7
    p_train: float = 0.7                       # a train or tram on a neighbouring track
    p_train_ahead: float = 0.08
    p_bridge: float = 0.15
    p_fence: float = 0.55                      # per side
    p_buildings: float = 0.5                   # per side, main line
    p_forest: float = 0.45                     # per side, main line
    signals_per_100m: float = 1.2
    signs_per_100m: float = 2.5
    trees_per_100m: float = 6.0
    people_per_100m: float = 3.0
    cars_per_100m: float = 5.0
    truck_share: float = 0.3
    p_near: float = 0.75                       # each kind of small object also gets one within ~60 m
    # light and camera
    brightness: Range = (0.75, 1.2)
    contrast: Range = (0.75, 1.15)
    temperature: Range = (-0.1, 0.1)           # + warmer (more red, less blue)
    saturation: Range = (0.7, 1.2)
    gamma: Range = (0.85, 1.2)
    visibility: Range = (250.0, 2500.0)        # metres, for haze
    p_overcast: float = 0.35
    p_blur: float = 0.35
    blur_sigma: Range = (0.4, 1.2)             # pixels at 512 px width
    noise_sigma: Range = (1.0, 5.0)            # grey levels
    # drawing and sequences
    far: float = 300.0                         # metres drawn ahead of the camera
    min_line_px: float = 5.0                   # thinnest structure (rails, poles, wires), px at <= 512 px width
    min_object_px: float = 24.0                # objects smaller than this (px tall at 512 px width) are not
                                               # drawn: like annotators, labels skip what cannot be recognised
    speed: Range = (0.6, 1.8)                  # metres per frame in sequences
    shake_deg: float = 0.25                    # pitch/roll wobble between frames of a sequence

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == Range and (len(value) != 2 or value[0] > value[1]):
                raise RailSegError(f"SceneConfig.{f.name}: expected (low, high) with low <= high, got {value}")


# --------------------------------------------------------------------------------------------- colours

_PALETTE: Dict[str, Sequence[RGB]] = {
    "grass": ((104, 128, 62), (122, 140, 70), (138, 146, 86), (96, 118, 58), (150, 150, 96)),
    "dry": ((150, 140, 100), (164, 150, 108), (128, 114, 84)),
    "foliage": ((52, 82, 36), (64, 96, 40), (44, 70, 34), (76, 98, 46), (58, 78, 44)),
    "trunk": ((70, 56, 42), (90, 74, 58), (60, 52, 46)),
    "ballast": ((128, 122, 112), (116, 108, 100), (140, 132, 120), (106, 100, 96)),
    "sleeper": ((170, 168, 160), (150, 148, 142), (92, 72, 56), (78, 62, 50)),
    "rail_side": ((96, 70, 56), (84, 66, 58), (110, 82, 62)),
    "rail_head": ((200, 200, 204), (180, 182, 186), (214, 210, 206)),
    "asphalt": ((84, 84, 90), (96, 96, 100), (72, 74, 80), (104, 102, 104)),
    "sidewalk": ((176, 168, 158), (190, 182, 170), (160, 150, 140), (170, 128, 118)),
    "tram_paving": ((156, 150, 140), (138, 128, 118), (170, 164, 150), (124, 118, 112)),
    "wall": ((168, 96, 74), (196, 180, 150), (160, 160, 158), (214, 210, 200), (140, 120, 100),
             (188, 160, 120), (120, 124, 130)),
    "roof": ((80, 60, 56), (60, 62, 68), (120, 70, 56)),
    "glass": ((52, 62, 78), (70, 84, 100), (40, 48, 58), (90, 104, 116)),
    "concrete": ((150, 150, 146), (132, 130, 126), (170, 166, 158)),
    "fence": ((124, 96, 70), (72, 96, 78), (150, 150, 150), (96, 96, 96), (60, 66, 60)),
    "pole": ((130, 132, 136), (160, 160, 158), (92, 94, 98), (112, 102, 92), (178, 176, 170)),
    "vehicle": ((170, 30, 30), (30, 60, 140), (200, 200, 204), (40, 40, 44), (230, 230, 230),
                (120, 124, 130), (30, 110, 70), (200, 150, 40), (90, 30, 40)),
    "truck_box": ((230, 230, 226), (200, 200, 196), (60, 90, 150), (170, 40, 40), (50, 110, 70),
                  (210, 170, 40)),
    "train": ((200, 40, 40), (230, 230, 226), (40, 80, 160), (230, 190, 40), (40, 120, 90),
              (180, 184, 190), (120, 70, 50)),
    "clothes": ((240, 120, 30), (210, 230, 50), (40, 44, 70), (150, 30, 40), (60, 90, 140), (90, 90, 90),
                (30, 30, 30), (120, 80, 140), (200, 200, 200)),
    "skin": ((232, 190, 160), (196, 150, 116), (140, 100, 76), (100, 70, 56)),
    "trousers": ((40, 40, 50), (50, 70, 110), (70, 70, 70), (90, 80, 60)),
    "lamp": ((255, 40, 30), (60, 255, 120), (255, 200, 40), (250, 250, 240)),
}

# Texture strength per class: (per-pixel grain, small blotches, large blotches), multiplicative.
_TEXTURE: Dict[int, Tuple[float, float, float]] = {
    ROAD: (0.05, 0.04, 0.06), SIDEWALK: (0.04, 0.03, 0.05), CONSTRUCTION: (0.03, 0.03, 0.07),
    TRAM_TRACK: (0.05, 0.05, 0.05), FENCE: (0.04, 0.03, 0.04), POLE: (0.02, 0.02, 0.03),
    TRAFFIC_LIGHT: (0.02, 0.0, 0.0), TRAFFIC_SIGN: (0.02, 0.0, 0.02), VEGETATION: (0.10, 0.22, 0.12),
    TERRAIN: (0.07, 0.08, 0.14), SKY: (0.004, 0.0, 0.04), HUMAN: (0.03, 0.02, 0.0),
    RAIL_TRACK: (0.12, 0.06, 0.04), CAR: (0.02, 0.01, 0.03), TRUCK: (0.02, 0.02, 0.04),
    TRACKBED: (0.16, 0.09, 0.05), ON_RAILS: (0.02, 0.02, 0.03), RAIL_RAISED: (0.05, 0.02, 0.02),
    RAIL_EMBEDDED: (0.05, 0.02, 0.02),
}


def _u(rng: np.random.Generator, r: Range) -> float:
    return float(rng.uniform(r[0], r[1]))


def _pick(rng: np.random.Generator, items: Sequence[Any]) -> Any:
    return items[int(rng.integers(len(items)))]


def _colour(rng: np.random.Generator, name: str, jitter: float = 14.0) -> RGB:
    """A colour of family ``name``, jittered so no two objects are quite alike."""
    base = np.asarray(_pick(rng, _PALETTE[name]), dtype=float)
    rgb = np.clip(base + rng.uniform(-jitter, jitter, 3), 0, 255)
    return (float(rgb[0]), float(rgb[1]), float(rgb[2]))


def _shade(rgb: RGB, k: float) -> RGB:
    return (min(rgb[0] * k, 255.0), min(rgb[1] * k, 255.0), min(rgb[2] * k, 255.0))


def _rect(u0: float, u1: float, v0: float, v1: float) -> np.ndarray:
    return np.array([[u0, v0], [u1, v0], [u1, v1], [u0, v1]], dtype=float)


_CIRCLE = np.stack([np.cos(np.linspace(0, 2 * np.pi, 16, endpoint=False)),
                    np.sin(np.linspace(0, 2 * np.pi, 16, endpoint=False))], axis=1)


def _ellipse(cu: float, cv: float, ru: float, rv: float) -> np.ndarray:
    return _CIRCLE * (ru, rv) + (cu, cv)


def _blob(rng: np.random.Generator, n: int = 18, rough: float = 0.22) -> np.ndarray:
    """A closed irregular unit outline (tree crowns, bushes)."""
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    radius = 1 + rough * rng.standard_normal(n)
    radius = np.clip((radius + np.roll(radius, 1) + np.roll(radius, -1)) / 3, 0.55, 1.4)
    return np.stack([np.cos(angles) * radius, np.sin(angles) * radius], axis=1)


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


# ------------------------------------------------------------------------------------- the world

@dataclass
class _Track:
    """One track; a switch track leaves (or joins) the ego track at ``switch_at``."""

    offset: float                    # lateral offset once parallel to the ego track
    embedded: bool                   # rails set into a road (tramway) instead of on ballast
    d_start: float = -1e9
    d_end: float = 1e9
    switch_at: Optional[float] = None
    switch_len: float = 35.0
    diverging: bool = True

    def lateral(self, d: np.ndarray) -> np.ndarray:
        if self.switch_at is None:
            return np.full(np.shape(d), self.offset)
        if self.diverging:
            t = (d - self.switch_at) / self.switch_len
        else:
            t = (self.switch_at - d) / self.switch_len
        return self.offset * _smoothstep(t)

    @property
    def parallel(self) -> bool:
        return self.switch_at is None


@dataclass
class _Strip:
    """A ground band along the line (road, sidewalk, platform top) between two lateral offsets."""

    cls: int
    colour: RGB
    lat0: float
    lat1: float
    d0: float = -1e9
    d1: float = 1e9
    height: float = 0.0
    pattern: str = ""                # "lanes", "tiles", "platform"
    marks: Tuple[float, ...] = ()    # lateral positions of lane lines


@dataclass
class _Prop:
    """Something upright: drawn by ``_DRAWERS[kind]``, ordered by its distance to the camera."""

    kind: str
    lat: float                       # lateral anchor
    d: float                         # near end along the line
    lat_span: Tuple[float, float]    # lateral extent, for drawing order
    length: float = 0.0              # extent along the line (walls, trains)
    y0: float = 0.0                  # ground height under it
    data: Dict[str, Any] = field(default_factory=dict)


@dataclass
class _Look:
    """Per-scene light and camera effects, applied to the image only."""

    sky_top: np.ndarray
    sky_horizon: np.ndarray
    haze: np.ndarray
    visibility: float
    haze_max: float
    brightness: float
    contrast: float
    gains: np.ndarray
    saturation: float
    gamma: float
    blur_sigma: float
    noise_sigma: float
    texture: np.ndarray              # 3 x 256 strengths by class id
    shade_side: float
    shade_front: float


@dataclass
class _CameraSpec:
    height: float
    focal: float
    horizon: float
    roll: float                      # radians
    yaw: float
    shake_phase: Tuple[float, float]


@dataclass
class _World:
    """Everything along one drive, independent of image size and camera position."""

    style: str
    camera: _CameraSpec
    look: _Look
    curve: Tuple[float, float, float, float]          # k0, k1, omega, phase of curvature k(d)
    tracks: List[_Track]
    strips: List[_Strip]
    platforms: List[_Strip]
    crossings: List[Tuple[float, float, RGB]]
    props: List[_Prop]
    skyline: Tuple[np.ndarray, np.ndarray, int, RGB]  # angles, heights (as angles), class, colour
    track_look: Dict[str, Any]
    speed: float
    prop_range: np.ndarray = field(init=False, repr=False)   # (start, end) along the line of every prop

    def __post_init__(self) -> None:
        self.prop_range = np.array([(p.d, p.d + p.length) for p in self.props], dtype=float).reshape(-1, 2)

    def drift(self, d: np.ndarray) -> np.ndarray:
        """Lateral position of the line in a fixed frame (small-angle integral of the curvature)."""
        k0, k1, omega, phase = self.curve
        return k0 * d * d / 2 - k1 / omega ** 2 * np.sin(omega * d + phase)

    def heading(self, d: float) -> float:
        k0, k1, omega, phase = self.curve
        return k0 * d - k1 / omega * math.cos(omega * d + phase)

    def offset(self, s: float, z: np.ndarray) -> np.ndarray:
        """Sideways shift, seen from a camera at ``s`` heading along the line, of the line at ``z`` ahead."""
        return self.drift(s + z) - self.drift(np.asarray(s)) - self.heading(s) * z


# ---------------------------------------------------------------------------------------- camera

class _Camera:
    """Pinhole camera over flat ground, with the horizon row set by pitch and tilted by roll."""

    def __init__(self, height: int, width: int, spec: _CameraSpec, pitch: float = 0.0, roll: float = 0.0) -> None:
        """``pitch`` and ``roll`` (radians) wobble the camera about its mounting in ``spec``."""
        self.height, self.width = height, width
        self.f = spec.focal * width
        self.cx = width / 2 + spec.yaw * width
        self.horizon = spec.horizon * height - self.f * pitch
        self.cam_height = spec.height
        self.cos, self.sin = math.cos(spec.roll + roll), math.sin(spec.roll + roll)
        self.cu, self.cv = width / 2, height / 2

    def rotate(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        du, dv = u - self.cu, v - self.cv
        out = np.empty(np.shape(du) + (2,))
        out[..., 0] = self.cu + self.cos * du - self.sin * dv
        out[..., 1] = self.cv + self.sin * du + self.cos * dv
        return out

    def project(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Camera-frame points (x right, y up from the rails, z ahead) to pixel (u, v)."""
        u = self.cx + self.f * x / z
        v = self.horizon + self.f * (self.cam_height - y) / z
        return self.rotate(u, v)

    def unrotated_rows(self) -> np.ndarray:
        """Each pixel's row before the roll, for the horizon-relative sky and ground depth."""
        u = np.arange(self.width, dtype=np.float32)[None, :] - self.cu
        v = np.arange(self.height, dtype=np.float32)[:, None] - self.cv
        return (self.cv - self.sin * u + self.cos * v).astype(np.float32)


# -------------------------------------------------------------------------------------- drawing

_LIMIT = 1e7  # fixed-point vertex coordinates are clipped here so they never overflow int32


class _Frame:
    """One frame being drawn: the image, the label map and a depth map (for haze) kept in step."""

    SHIFT = 4

    def __init__(self, world: _World, cam: _Camera, s: float, cfg: SceneConfig) -> None:
        self.world, self.cam, self.s, self.cfg = world, cam, s, cfg
        h, w = cam.height, cam.width
        self.img = np.zeros((h, w, 3), np.uint8)
        self.lab = np.full((h, w), SKY, np.uint8)
        self.depth = np.zeros((h, w), np.float32)
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

    def anchor(self, prop: _Prop) -> Optional[Tuple[float, float]]:
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
        if z is not None:
            cv2.fillPoly(self.depth, pts, float(z), cv2.LINE_8, self.SHIFT)

    def paint(self, polys: Union[np.ndarray, Sequence[np.ndarray], None], colour: RGB) -> None:
        """Draw detail into the image only (windows, sleepers): it lies inside a labelled outline."""
        if polys is not None and len(polys):
            cv2.fillPoly(self.img, self._fixed(polys), (int(colour[0]), int(colour[1]), int(colour[2])),
                         cv2.LINE_8, self.SHIFT)

    def side(self, rgb: RGB) -> RGB:
        return _shade(rgb, self.world.look.shade_side)

    def front(self, rgb: RGB) -> RGB:
        return _shade(rgb, self.world.look.shade_front)


# ------------------------------------------------------------------------------ ground layers

def _draw_sky_and_ground(fr: _Frame) -> None:
    """Sky gradient above the horizon, terrain below it; ground depth for haze."""
    look, cam = fr.world.look, fr.cam
    rows = cam.unrotated_rows()
    small = cv2.resize(rows, (max(cam.width // 8, 2), max(cam.height // 8, 2)), interpolation=cv2.INTER_AREA)
    t = np.clip(small / max(cam.horizon, 1.0), 0.0, 1.0)[..., None] ** 1.6
    sky = (look.sky_top + (look.sky_horizon - look.sky_top) * t).astype(np.float32)
    fr.img[:] = cv2.resize(sky, (cam.width, cam.height), interpolation=cv2.INTER_LINEAR).astype(np.uint8)
    below = rows - cam.horizon
    fr.depth[:] = np.where(below > 0.5, cam.f * cam.cam_height / np.maximum(below, 0.5), 0.0)
    w, h = cam.width, cam.height
    ground = np.array([[-2 * w, cam.horizon], [3 * w, cam.horizon], [3 * w, 4 * h], [-2 * w, 4 * h]], float)
    fr.fill(cam.rotate(ground[:, 0], ground[:, 1]), TERRAIN, fr.world.track_look["terrain"])


def _draw_skyline(fr: _Frame) -> None:
    """Distant tree line or town along the horizon; it pans as the line curves."""
    angles, heights, cls, colour = fr.world.skyline
    cam = fr.cam
    u = cam.cx + cam.f * (angles - (fr.world.heading(fr.s) - fr.world.heading(0.0)))
    top = cam.horizon - cam.f * heights
    bottom = np.full(len(u), cam.horizon + 1.5)
    poly = np.concatenate([cam.rotate(u, top), cam.rotate(u[::-1], bottom)])
    fr.fill(poly, cls, colour, 700.0)


def _draw_strips(fr: _Frame, strips: Sequence[_Strip]) -> None:
    for strip in strips:
        poly = fr.band(strip.d0, strip.d1, strip.lat0, strip.lat1, strip.height)
        fr.fill(poly, strip.cls, strip.colour)
        if poly is None:
            continue
        if strip.pattern == "lanes":
            _draw_lane_marks(fr, strip)
        elif strip.pattern == "tiles":   # a light kerb stone along the road edge
            edge, other = sorted((strip.lat0, strip.lat1), key=abs)
            inward = 0.25 if other > edge else -0.25
            fr.paint(fr.band(strip.d0, strip.d1, edge, edge + inward, strip.height), _shade(strip.colour, 1.18))
        elif strip.pattern == "platform":
            _draw_platform_edge(fr, strip)


def _draw_lane_marks(fr: _Frame, strip: _Strip) -> None:
    d0 = max(strip.d0, fr.s)
    start = math.floor(d0 / 9.0) * 9.0
    da = np.arange(start, min(strip.d1, fr.s + fr.far * 0.5), 9.0)
    for lat in strip.marks:
        fr.paint(fr.ground_quads(np.float64(lat - 0.08), np.float64(lat + 0.08), da, da + 3.0), (215, 215, 210))


def _draw_platform_edge(fr: _Frame, strip: _Strip) -> None:
    """Platform edge face (construction) toward the track, and the white safety line on top."""
    inner = strip.lat0 if abs(strip.lat0) < abs(strip.lat1) else strip.lat1
    sign = 1.0 if inner > 0 else -1.0
    z = fr.zs(strip.d0, strip.d1)
    if len(z) >= 2:
        face = np.concatenate([fr.project(inner, strip.height, z), fr.project(inner, 0.0, z)[::-1]])
        fr.fill(face, CONSTRUCTION, fr.side(fr.world.track_look["platform_face"]))
        line = fr.band(strip.d0, strip.d1, inner + sign * 0.55, inner + sign * 0.7, strip.height)
        fr.paint(line, (235, 235, 228))
    z0 = strip.d0 - fr.s
    if fr.z_obj < z0 < fr.far:   # the platform's near end
        uv = _rect(min(strip.lat0, strip.lat1), max(strip.lat0, strip.lat1), 0.0, strip.height)
        x = float(fr.world.offset(fr.s, np.asarray(z0)))
        fr.fill(fr.billboard(x, 0.0, z0, uv), CONSTRUCTION, fr.front(fr.world.track_look["platform_face"]), z0)


def _draw_tracks(fr: _Frame) -> None:
    """Trackbed, track area, sleepers, crossings and rails, in that order, for all tracks."""
    world, tl = fr.world, fr.world.track_look
    ballast = [t for t in world.tracks if not t.embedded]
    embedded = [t for t in world.tracks if t.embedded]
    for t in ballast:
        fr.fill(fr.band(t.d_start, t.d_end, _plus(t, -tl["bed_half"]), _plus(t, tl["bed_half"])),
                TRACKBED, tl["ballast"])
    parallel = [t.offset for t in ballast if t.parallel]
    if len(parallel) > 1:   # ballast runs on between neighbouring tracks
        fr.fill(fr.band(-1e9, 1e9, min(parallel), max(parallel)), TRACKBED, tl["ballast"])
    for t in ballast:
        fr.fill(fr.band(t.d_start, t.d_end, _plus(t, -tl["sleeper_half"]), _plus(t, tl["sleeper_half"])),
                RAIL_TRACK, tl["track_far"])
        _draw_sleepers(fr, t)
    for d0, d1, colour in world.crossings:
        fr.fill(fr.band(d0, d1, -60.0, 60.0), ROAD, colour)
    for t in embedded:
        fr.fill(fr.band(t.d_start, t.d_end, _plus(t, -tl["tram_half"]), _plus(t, tl["tram_half"])),
                TRAM_TRACK, tl["tram_paving"])
        _draw_tram_joints(fr, t)
    for t in world.tracks:
        _draw_rails(fr, t)


def _plus(track: _Track, delta: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda d: track.lateral(d) + delta


def _draw_sleepers(fr: _Frame, track: _Track) -> None:
    """Sleepers near the camera over a ballast-coloured base; farther on the track area is their blend."""
    tl = fr.world.track_look
    pitch, half = 0.6, tl["sleeper_half"]
    # beyond this distance sleepers are closer than ~2 px on screen and the blended colour stands in
    z_max = min(math.sqrt(fr.cam.f * fr.cam.cam_height * pitch / fr.min_px), fr.far)
    d0, d1 = max(track.d_start, fr.s + fr.z_ground), min(track.d_end, fr.s + z_max)
    if d1 <= d0:
        return
    fr.paint(fr.band(d0, d1, _plus(track, -half), _plus(track, half)), tl["ballast_dark"])
    da = np.arange(math.ceil(d0 / pitch) * pitch, d1 - 0.25, pitch)
    lat = track.lateral(da + 0.13)
    fr.paint(fr.ground_quads(lat - half + 0.05, lat + half - 0.05, da, da + 0.26, 0.02), tl["sleeper"])


def _draw_tram_joints(fr: _Frame, track: _Track) -> None:
    """Joints between the paving slabs of a tram track, drawn only where they are several pixels apart."""
    tl = fr.world.track_look
    d1 = min(track.d_end, fr.s + 30.0)
    d0 = max(track.d_start, fr.s + fr.z_ground)
    if d1 <= d0:
        return
    da = np.arange(math.ceil(d0 / 1.5) * 1.5, d1, 1.5)
    lat = track.lateral(da)
    fr.paint(fr.ground_quads(lat - tl["tram_half"], lat + tl["tram_half"], da, da + 0.06),
             _shade(tl["tram_paving"], 0.75))


def _draw_rails(fr: _Frame, track: _Track) -> None:
    """Two rails: raised on ballast, embedded in a road or through a level crossing."""
    tl, g = fr.world.track_look, fr.world.track_look["gauge"]
    pieces = _split_by_crossings(track.d_start, track.d_end, fr.world.crossings)
    for d0, d1, in_crossing in pieces:
        embedded = track.embedded or in_crossing
        cls = RAIL_EMBEDDED if embedded else RAIL_RAISED
        body, head = (tl["groove"], tl["head_embedded"]) if embedded else (tl["rail_side"], tl["rail_head"])
        width = 0.12 if embedded else 0.16
        for side in (-1, 1):
            lat = _plus(track, side * g / 2)
            fr.fill(fr.line(d0, d1, lat, 0.0 if embedded else 0.1, width), cls, body)
            fr.paint(fr.line(d0, d1, _plus(track, side * (g / 2 - 0.02)), 0.02 if embedded else 0.17, 0.055,
                             fr.min_px * 0.4), head)


def _split_by_crossings(d0: float, d1: float,
                        crossings: Sequence[Tuple[float, float, RGB]]) -> List[Tuple[float, float, bool]]:
    pieces, start = [], d0
    for c0, c1, _ in sorted(crossings):
        if c1 <= start or c0 >= d1:
            continue
        if c0 > start:
            pieces.append((start, c0, False))
        pieces.append((max(c0, start), min(c1, d1), True))
        start = min(c1, d1)
    if start < d1:
        pieces.append((start, d1, False))
    return pieces


# ---------------------------------------------------------------------------- upright things

def _draw_pole(fr: _Frame, p: _Prop) -> None:
    """Lamp post or plain pole, with an optional arm reaching over the road."""
    at = fr.anchor(p)
    if at is None:
        return
    x, z = at
    dt = p.data
    w = fr.thick(dt["width"], z) / 2
    parts = [_rect(-w, w, 0.0, dt["height"])]
    arm = dt.get("arm", 0.0)
    if arm:
        t = fr.thick(0.1, z) / 2
        parts.append(_rect(min(0.0, arm), max(0.0, arm), dt["height"] - 2 * t, dt["height"]))
        parts.append(_rect(arm - 0.25, arm + 0.25, dt["height"] - fr.thick(0.15, z), dt["height"]))
    for uv in parts:
        fr.fill(fr.billboard(x, p.y0, z, uv), POLE, dt["colour"], z)


def _draw_mast(fr: _Frame, p: _Prop) -> None:
    """Catenary mast with its cantilever over the tracks (or a portal beam / span wire to another mast)."""
    at = fr.anchor(p)
    if at is None:
        return
    x, z = at
    dt = p.data
    w = fr.thick(dt["width"], z) / 2
    t = fr.thick(0.1, z) / 2
    colour = dt["colour"]
    fr.fill(fr.billboard(x, p.y0, z, _rect(-w, w, 0.0, dt["height"])), POLE, colour, z)
    reach = dt["reach"]          # lateral distance the arm spans, signed
    arm_y = dt["arm_y"]
    if dt.get("span_wire"):           # a sagging wire to the opposite mast (street tramway)
        u = np.linspace(0.0, reach, 12)
        sag = 0.6 * (1 - (2 * u / reach - 1) ** 2)
        v = arm_y - sag
        poly = np.concatenate([np.stack([u, v + t], 1), np.stack([u[::-1], v[::-1] - t], 1)])
        fr.fill(fr.billboard(x, p.y0, z, poly), POLE, (40, 40, 40), z)
        return
    tb = fr.thick(0.18 if dt.get("portal") else 0.1, z) / 2
    fr.fill(fr.billboard(x, p.y0, z, _rect(min(0.0, reach), max(0.0, reach), arm_y - tb, arm_y + tb)),
            POLE, colour, z)
    if not dt.get("portal"):
        brace = np.array([[0.0, arm_y - 1.4 - t], [reach * 0.7, arm_y - t], [reach * 0.7, arm_y + t],
                          [0.0, arm_y - 1.4 + t]])
        fr.fill(fr.billboard(x, p.y0, z, brace), POLE, colour, z)


def _draw_wire(fr: _Frame, p: _Prop) -> None:
    """Contact or messenger wire above a track, labelled pole like its masts."""
    fr.fill(fr.line(p.d, p.d + p.length, p.lat, p.data["y"], 0.02), POLE, p.data["colour"],
            max(p.d - fr.s, 1.0))


def _draw_signal(fr: _Frame, p: _Prop) -> None:
    """Signal or traffic light: a pole (pole) carrying a dark head with lamps (traffic-light)."""
    at = fr.anchor(p)
    if at is None:
        return
    x, z = at
    dt = p.data
    w = fr.thick(0.14, z) / 2
    fr.fill(fr.billboard(x, p.y0, z, _rect(-w, w, 0.0, dt["height"])), POLE, dt["pole"], z)
    hw, hh, n = dt["head_w"], dt["head_h"], dt["lamps"]
    cu = dt["shift"]
    top = dt["height"] + (hh if dt["on_top"] else 0.0)
    if dt["horizontal"]:   # level-crossing lights: two lamps side by side on a bar
        body = _rect(cu - hw * 1.4, cu + hw * 1.4, top - hh * 0.45, top)
        lamps = [_ellipse(cu + k * hw * 0.75, top - hh * 0.22, hw * 0.3, hw * 0.3) for k in (-1, 1)]
    else:
        body = np.concatenate([[[cu - hw / 2, top - hh], [cu + hw / 2, top - hh]],   # rounded top
                               _ellipse(cu, top - hw / 2, hw / 2, hw / 2)[:9]])
        step = (hh - hw * 0.6) / n
        lamps = [_ellipse(cu, top - hw * 0.55 - step * (k + 0.5) + step * 0.1, hw * 0.3, hw * 0.3)
                 for k in range(n)]
    fr.fill(fr.billboard(x, p.y0, z, body), TRAFFIC_LIGHT, dt["housing"], z)
    for k, lamp in enumerate(lamps):
        colour = dt["lit"] if k == dt["lit_index"] else (45, 45, 45)
        fr.paint(fr.billboard(x, p.y0, z, lamp), colour)
    if dt.get("cross"):
        _draw_cross(fr, x, p.y0, z, cu, top + 0.9)


def _draw_cross(fr: _Frame, x: float, y0: float, z: float, cu: float, cv: float) -> None:
    """St Andrew's cross (traffic-sign) of a level crossing."""
    for angle in (0.6, -0.6):
        c, s = math.cos(angle), math.sin(angle)
        bar = _rect(-0.65, 0.65, -0.09, 0.09) @ np.array([[c, s], [-s, c]]) + (cu, cv)
        inner = _rect(-0.6, 0.6, -0.045, 0.045) @ np.array([[c, s], [-s, c]]) + (cu, cv)
        fr.fill(fr.billboard(x, y0, z, bar), TRAFFIC_SIGN, (200, 30, 30), z)
        fr.paint(fr.billboard(x, y0, z, inner), (235, 235, 235))


def _draw_sign(fr: _Frame, p: _Prop) -> None:
    """A sign plate (traffic-sign) on a post (pole)."""
    at = fr.anchor(p)
    if at is None:
        return
    x, z = at
    dt = p.data
    w = fr.thick(0.08, z) / 2
    size, shape, cv = dt["size"], dt["shape"], dt["height"]
    fr.fill(fr.billboard(x, p.y0, z, _rect(-w, w, 0.0, cv - size * 0.3)), POLE, dt["pole"], z)
    r = size / 2
    if shape == "triangle":
        outer = np.array([[-r, cv - r * 0.8], [r, cv - r * 0.8], [0.0, cv + r]])
        inner = np.array([[-r * 0.62, cv - r * 0.55], [r * 0.62, cv - r * 0.55], [0.0, cv + r * 0.55]])
    elif shape == "circle":
        outer, inner = _ellipse(0.0, cv, r, r), _ellipse(0.0, cv, r * 0.72, r * 0.72)
    elif shape == "diamond":
        outer = np.array([[0.0, cv - r], [r, cv], [0.0, cv + r], [-r, cv]])
        inner = (outer - (0.0, cv)) * 0.7 + (0.0, cv)
    else:   # board: speed, whistle or kilometre sign
        outer = _rect(-r * 0.7, r * 0.7, cv - r, cv + r)
        inner = _rect(-r * 0.25, r * 0.25, cv - r * 0.6, cv + r * 0.6)
    fr.fill(fr.billboard(x, p.y0, z, outer), TRAFFIC_SIGN, dt["rim"], z)
    fr.paint(fr.billboard(x, p.y0, z, inner), dt["face"])


def _draw_tree(fr: _Frame, p: _Prop) -> None:
    at = fr.anchor(p)
    if at is None:
        return
    x, z = at
    dt = p.data
    h, r = dt["height"], dt["radius"]
    w = fr.thick(dt["trunk"], z) / 2
    fr.fill(fr.billboard(x, p.y0, z, _rect(-w, w, 0.0, h - r)), VEGETATION, dt["trunk_colour"], z)
    if dt["conifer"]:
        k = np.arange(9)
        u = np.where(k % 2 == 0, 1.0, 0.6) * r * (1 - k / 9.0)
        v = (h - 2.2 * r) + k / 8.0 * 2.2 * r
        crown = np.concatenate([np.stack([-u, v], 1), np.stack([u[::-1], v[::-1]], 1)])
    else:
        crown = dt["outline"] * (r, r * 0.9) + (0.0, h - r)
    fr.fill(fr.billboard(x, p.y0, z, crown), VEGETATION, dt["colour"], z)
    if not dt["conifer"]:   # sunlit middle of the crown, inside its outline
        fr.paint(fr.billboard(x, p.y0, z, dt["outline"] * (r * 0.55, r * 0.5) + (0.0, h - r)),
                 _shade(dt["colour"], 1.2))


def _draw_bush(fr: _Frame, p: _Prop) -> None:
    at = fr.anchor(p)
    if at is None:
        return
    x, z = at
    r = p.data["radius"]
    outline = p.data["outline"] * (r * 1.3, r) + (0.0, r * 0.6)
    outline[:, 1] = np.maximum(outline[:, 1], 0.0)
    fr.fill(fr.billboard(x, p.y0, z, outline), VEGETATION, p.data["colour"], z)


def _draw_human(fr: _Frame, p: _Prop) -> None:
    """A standing person: legs, torso, arms and head, all labelled human."""
    at = fr.anchor(p)
    if at is None:
        return
    x, z = at
    dt = p.data
    k = dt["height"] / 1.75
    spread = dt["stride"]
    leg = fr.thick(0.15 * k, z)
    arm = fr.thick(0.09 * k, z)
    parts = [
        (np.array([[-spread - leg, 0.0], [-spread, 0.0], [0.0, 0.88], [-leg, 0.88]]) * (1, k), dt["legs"]),
        (np.array([[spread, 0.0], [spread + leg, 0.0], [leg, 0.88], [0.0, 0.88]]) * (1, k), dt["legs"]),
        (np.array([[-0.2, 0.86], [0.2, 0.86], [0.22, 1.45], [-0.22, 1.45]]) * k, dt["top"]),
        (np.array([[-0.22 - arm, 0.9 * k], [-0.22, 0.9 * k], [-0.21, 1.42 * k], [-0.21 - arm, 1.42 * k]]),
         dt["top"]),
        (np.array([[0.22, 0.9 * k], [0.22 + arm, 0.9 * k], [0.21 + arm, 1.42 * k], [0.21, 1.42 * k]]),
         dt["top"]),
        (_ellipse(0.0, 1.6 * k, 0.11 * k, 0.13 * k), dt["skin"]),
    ]
    for uv, colour in parts:
        fr.fill(fr.billboard(x, p.y0, z, uv), HUMAN, colour, z)
    fr.paint(fr.billboard(x, p.y0, z, _ellipse(0.0, 1.665 * k, 0.085 * k, 0.055 * k)), dt["hair"])


def _draw_vehicle_side(fr: _Frame, p: _Prop) -> None:
    """A car or truck seen from the side, on a road crossing the line."""
    at = fr.anchor(p)
    if at is None:
        return
    x, z = at
    dt = p.data
    flip = dt["flip"]
    cls = dt["cls"]
    if cls == CAR:
        length = dt["vlength"]
        hl = length / 2
        body = np.array([[-hl, 0.3], [hl, 0.3], [hl + 0.05, 0.85], [hl * 0.5, 0.95], [hl * 0.25, 1.45],
                         [-hl * 0.55, 1.45], [-hl * 0.75, 0.95], [-hl - 0.05, 0.9]])
        window = np.array([[hl * 0.38, 1.0], [hl * 0.2, 1.38], [-hl * 0.5, 1.38], [-hl * 0.65, 1.0]])
        wheels = [(-hl * 0.62, 0.32), (hl * 0.62, 0.32)]
        shapes = [(body, dt["colour"])]
        details = [(window, (40, 48, 58))]
    else:
        length = dt["vlength"]
        box_end = length / 2 - 2.3
        body = _rect(-length / 2, box_end, 1.0, 3.8)
        cab = np.array([[box_end + 0.15, 0.9], [length / 2, 0.9], [length / 2, 2.3], [length / 2 - 0.5, 3.3],
                        [box_end + 0.15, 3.3]])
        chassis = _rect(-length / 2 + 0.3, length / 2 - 0.2, 0.55, 1.05)
        window = np.array([[length / 2 - 0.15, 2.3], [length / 2 - 0.6, 3.1], [box_end + 0.9, 3.1],
                           [box_end + 0.9, 2.3]])
        wheels = [(-length / 2 + 1.2, 0.5), (-length / 2 + 2.3, 0.5), (box_end + 1.1, 0.5)]
        shapes = [(chassis, (40, 40, 42)), (body, dt["box"]), (cab, dt["colour"])]
        details = [(window, (40, 48, 58))]
    radius = 0.32 if cls == CAR else 0.5
    shapes += [(_ellipse(u, v, radius, radius), (25, 25, 25)) for u, v in wheels]
    for uv, colour in shapes:
        fr.fill(fr.billboard(x, p.y0, z, uv * (flip, 1)), cls, fr.front(colour), z)
    for uv, colour in details:
        fr.paint(fr.billboard(x, p.y0, z, uv * (flip, 1)), colour)


def _draw_vehicle_end(fr: _Frame, p: _Prop) -> None:
    """A car or truck seen from behind (or the front, when oncoming), on a road along the line."""
    at = fr.anchor(p)
    if at is None:
        return
    x, z = at
    dt = p.data
    cls, colour, oncoming = dt["cls"], dt["colour"], dt["oncoming"]
    lights = (250, 250, 225) if oncoming else (210, 30, 30)
    if cls == CAR:
        hw = dt["width"] / 2
        shapes = [(_rect(-hw, hw, 0.3, 0.95), colour), (np.array([[-hw * 0.9, 0.95], [hw * 0.9, 0.95],
                                                                   [hw * 0.75, 1.45], [-hw * 0.75, 1.45]]), colour),
                  (_rect(-hw * 0.95, -hw * 0.55, 0.05, 0.35), (25, 25, 25)),
                  (_rect(hw * 0.55, hw * 0.95, 0.05, 0.35), (25, 25, 25))]
        details = [(np.array([[-hw * 0.78, 1.0], [hw * 0.78, 1.0], [hw * 0.66, 1.38], [-hw * 0.66, 1.38]]),
                    (40, 48, 58)),
                   (_rect(-hw * 0.95, -hw * 0.7, 0.7, 0.85), lights), (_rect(hw * 0.7, hw * 0.95, 0.7, 0.85), lights)]
    else:
        hw = 1.25
        shapes = [(_rect(-hw * 0.9, hw * 0.9, 0.1, 1.0), (35, 35, 38)), (_rect(-hw, hw, 0.9, 3.7), dt["box"])]
        details = [(_rect(-hw * 0.9, -hw * 0.7, 0.95, 1.15), lights), (_rect(hw * 0.7, hw * 0.9, 0.95, 1.15), lights)]
        if oncoming:
            details.append((_rect(-hw * 0.85, hw * 0.85, 2.2, 3.0), (40, 48, 58)))
    for uv, c in shapes:
        fr.fill(fr.billboard(x, p.y0, z, uv), cls, fr.front(c), z)
    for uv, c in details:
        fr.paint(fr.billboard(x, p.y0, z, uv), c)


def _wall_outline(fr: _Frame, p: _Prop) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """Sample distances and top heights of an upright face along the line; None when out of view."""
    dt = p.data
    bumpy = dt.get("bumps")
    z = fr.zs(max(p.d, fr.s + fr.z_obj), p.d + p.length, int(np.clip(p.length * 1.5, 7, 80)) if bumpy else 0)
    if len(z) < 2:
        return None
    d = z + fr.s
    top = np.full(len(z), dt["y1"], dtype=float)
    if bumpy:
        for amp, freq, phase in bumpy:
            top += amp * np.abs(np.sin(d * freq + phase))
    return z, top


def _draw_wall(fr: _Frame, p: _Prop) -> None:
    """A stretch of an upright face along the line: building, fence, hedge, forest edge or train side."""
    outline = _wall_outline(fr, p)
    if outline is None:
        return
    z, top = outline
    dt = p.data
    cls, pattern = dt["cls"], dt.get("pattern", "")
    if pattern == "railing":
        _draw_railing(fr, p, z)
        return
    poly = np.concatenate([fr.project(p.lat, top, z), fr.project(p.lat, np.full(len(z), dt["y0"]), z)[::-1]])
    fr.fill(poly, cls, fr.side(dt["colour"]), float(z.mean()))
    if pattern == "building":
        _draw_windows(fr, p)
    elif pattern == "train":
        _draw_train_side(fr, p, z)
    elif pattern == "planks":
        pitch = 0.25
        if fr.cam.f * pitch * abs(p.lat) / max(z[0], 1.0) ** 2 > 3.0:
            da = np.arange(math.ceil(p.d / pitch) * pitch, p.d + p.length, pitch)
            fr.paint(fr.side_quads(p.lat, np.float64(dt["y0"]), np.float64(dt["y1"]), da, da + 0.03),
                     _shade(fr.side(dt["colour"]), 0.7))


def _draw_railing(fr: _Frame, p: _Prop, z: np.ndarray) -> None:
    """Posts and two rails of an open fence; what is behind shows through."""
    dt = p.data
    colour = fr.side(dt["colour"])
    for y in (dt["y1"], dt["y0"] + (dt["y1"] - dt["y0"]) * 0.45):
        fr.fill(fr.line(p.d, p.d + p.length, p.lat, y, 0.05), FENCE, colour, float(z.mean()))
    zp = np.arange(math.ceil(p.d / 2.5) * 2.5, p.d + p.length, 2.5) - fr.s
    zp = zp[zp > fr.z_obj]
    if len(zp):
        x = fr.world.offset(fr.s, zp) + p.lat
        w = np.maximum(0.08, fr.min_px * zp / fr.cam.f) / 2
        u = np.stack([x - w, x + w, x + w, x - w], 1)
        v = np.stack([np.full(len(zp), dt["y0"]), np.full(len(zp), dt["y0"]),
                      np.full(len(zp), dt["y1"]), np.full(len(zp), dt["y1"])], 1)
        fr.fill(fr.cam.project(u, v, np.repeat(zp[:, None], 4, 1)), FENCE, colour, float(zp.mean()))


def _draw_windows(fr: _Frame, p: _Prop) -> None:
    dt = p.data
    pitch, width, base = dt["window_pitch"], dt["window_w"], dt["origin"]
    if fr.cam.f * abs(p.lat) * width < 1.2 * max(p.d - fr.s, fr.z_obj) ** 2:
        return   # windows narrower than a pixel
    k0 = math.ceil((p.d - base) / pitch)
    k1 = math.floor((p.d + p.length - base - width) / pitch)
    if k1 < k0:
        return
    da = base + np.arange(k0, k1 + 1) * pitch
    rows = np.arange(dt["y0"] + 1.0, dt["y1"] - 1.4, 3.0)
    if not len(rows):
        return
    dd, yy = np.meshgrid(da, rows)
    fr.paint(fr.side_quads(p.lat, yy.ravel(), yy.ravel() + 1.4, dd.ravel(), dd.ravel() + width),
             fr.side(dt["glass"]))


def _draw_train_side(fr: _Frame, p: _Prop, z: np.ndarray) -> None:
    """Windows (or a freight wagon's ribs), the gaps between cars and, labelled, the bogies below the body.

    Details are laid out along the whole train and clipped to this piece of it.
    """
    dt = p.data
    lo, hi = p.d, p.d + p.length

    def quads(ya: float, yb: float, da: np.ndarray, db: np.ndarray) -> List[np.ndarray]:
        da, db = np.clip(da, lo, hi), np.clip(db, lo, hi)
        keep = db - da > 1e-3
        return fr.side_quads(p.lat, np.float64(ya), np.float64(yb), da[keep], db[keep])

    def grid(pitch: float, width: float) -> np.ndarray:
        first = math.floor((lo - width - dt["origin"]) / pitch)
        return dt["origin"] + np.arange(first, math.ceil((hi - dt["origin"]) / pitch) + 1) * pitch

    ends = grid(dt["car_length"], 0.5)
    if dt["windows"]:
        da = grid(2.2, 1.6) + 0.2
        fr.paint(quads(2.0, 2.9, da, da + 1.4), (38, 44, 52))
    elif fr.cam.f * abs(p.lat) * 0.7 > 3.0 * max(lo - fr.s, fr.z_obj) ** 2:   # ribs, where they are apart
        da = grid(0.7, 0.12)
        fr.paint(quads(dt["y0"] + 0.1, dt["y1"] - 0.1, da, da + 0.12), _shade(fr.side(dt["colour"]), 0.75))
    fr.paint(quads(dt["y0"], dt["y1"], ends - 0.3, ends + 0.3), (30, 30, 30))
    if dt["stripe"] is not None:
        fr.paint(np.concatenate([fr.project(p.lat, 1.55, z), fr.project(p.lat, 1.35, z)[::-1]]),
                 fr.side(dt["stripe"]))
    bogies = np.concatenate([ends + 1.2, ends - 3.7])
    fr.fill(quads(0.15, dt["y0"] + 0.05, bogies, bogies + 2.5), ON_RAILS, (35, 35, 36), float(z.mean()))


def _draw_front(fr: _Frame, p: _Prop) -> None:
    """The end face of a building or a train that faces the camera."""
    at = fr.anchor(p)
    if at is None:
        return
    x, z = at
    dt = p.data
    u0, u1 = dt["u0"], dt["u1"]
    cls = dt["cls"]
    if cls == ON_RAILS:
        _draw_train_front(fr, p, x, z)
        return
    fr.fill(fr.billboard(x, p.y0, z, _rect(u0, u1, dt["y0"], dt["y1"])), cls, fr.front(dt["colour"]), z)
    if dt.get("pattern") == "building" and fr.cam.f * dt["window_w"] > 1.2 * z:
        cols = np.arange(u0 + 1.0, u1 - 1.0, dt["window_pitch"])
        rows = np.arange(dt["y0"] + 1.0, dt["y1"] - 1.4, 3.0)
        quads = [_rect(c, c + dt["window_w"], r, r + 1.4) for c in cols for r in rows]
        if quads:
            fr.paint(fr.billboard(x, p.y0, z, np.stack(quads)), fr.front(dt["glass"]))


def _draw_train_front(fr: _Frame, p: _Prop, x: float, z: float) -> None:
    dt = p.data
    u0, u1, y0, y1 = dt["u0"], dt["u1"], dt["y0"], dt["y1"]
    cu, hw = (u0 + u1) / 2, (u1 - u0) / 2
    body = np.array([[u0, y0], [u1, y0], [u1, y1 - 0.5], [cu + hw * 0.7, y1], [cu - hw * 0.7, y1], [u0, y1 - 0.5]])
    fr.fill(fr.billboard(x, p.y0, z, body), ON_RAILS, fr.front(dt["colour"]), z)
    fr.fill(fr.billboard(x, p.y0, z, _rect(cu - hw * 0.8, cu + hw * 0.8, 0.15, y0 + 0.05)), ON_RAILS,
            (35, 35, 36), z)
    glass = np.array([[u0 + 0.25, y1 - 1.5], [u1 - 0.25, y1 - 1.5], [u1 - 0.35, y1 - 0.5],
                      [u0 + 0.35, y1 - 0.5]])
    fr.paint(fr.billboard(x, p.y0, z, glass), (40, 48, 58))
    lights = (250, 245, 220) if dt["headlights"] else (200, 30, 30)
    for c in (u0 + 0.45, u1 - 0.45):
        fr.paint(fr.billboard(x, p.y0, z, _ellipse(c, y0 + 0.5, 0.16, 0.16)), lights)
    if dt["stripe"] is not None:
        fr.paint(fr.billboard(x, p.y0, z, _rect(u0, u1, 1.35, 1.55)), fr.front(dt["stripe"]))


def _draw_bridge(fr: _Frame, p: _Prop) -> None:
    """An overbridge: deck and piers (construction) with a railing (fence) on top."""
    at = fr.anchor(p)
    if at is None:
        return
    x, z = at
    dt = p.data
    deck0, deck1 = dt["deck"]
    colour = fr.front(dt["colour"])
    for pier in dt["piers"]:
        fr.fill(fr.billboard(x, 0.0, z, _rect(pier - 0.6, pier + 0.6, 0.0, deck0)), CONSTRUCTION,
                _shade(colour, 0.9), z)
    fr.fill(fr.billboard(x, 0.0, z, _rect(-80.0, 80.0, deck0, deck1)), CONSTRUCTION, colour, z)
    t = fr.thick(0.06, z) / 2
    fr.fill(fr.billboard(x, 0.0, z, _rect(-80.0, 80.0, deck1 + 1.0 - t, deck1 + 1.0 + t)), FENCE,
            dt["rail"], z)
    posts = np.arange(-80.0, 80.0, 2.0)
    w = fr.thick(0.06, z) / 2
    fr.fill(fr.billboard(x, 0.0, z, np.stack([_rect(u - w, u + w, deck1, deck1 + 1.0) for u in posts])),
            FENCE, dt["rail"], z)


_DRAWERS: Dict[str, Callable[[_Frame, _Prop], None]] = {
    "pole": _draw_pole, "mast": _draw_mast, "wire": _draw_wire, "signal": _draw_signal, "sign": _draw_sign,
    "tree": _draw_tree, "bush": _draw_bush, "human": _draw_human, "vehicle_side": _draw_vehicle_side,
    "vehicle_end": _draw_vehicle_end, "wall": _draw_wall, "front": _draw_front, "bridge": _draw_bridge,
}


_MERGE_Z = 40.0  # beyond this, consecutive pieces of one wall are drawn as one (fewer calls, same look)


def _visible_props(fr: _Frame) -> List[_Prop]:
    """Props in view; far pieces of the same wall merged into one."""
    out: List[_Prop] = []
    start, end = fr.world.prop_range[:, 0] - fr.s, fr.world.prop_range[:, 1] - fr.s
    for i in np.flatnonzero((end >= fr.z_obj) & (start <= fr.far)):
        p = fr.world.props[i]
        z0 = start[i]
        if not p.length and fr.cam.f * p.data.get("height", 2.0) < fr.min_object_px * z0:
            continue    # too small to recognise: neither drawn nor labelled
        last = out[-1] if out else None
        if (p.kind in ("wall", "wire") and z0 > _MERGE_Z and last is not None and last.data is p.data
                and last.d - fr.s > _MERGE_Z and abs(last.d + last.length - p.d) < 1e-6):
            out[-1] = _Prop(p.kind, p.lat, last.d, p.lat_span, last.length + p.length, p.y0, p.data)
        else:
            out.append(p)
    return out


def _draw_props(fr: _Frame) -> None:
    """Upright things from far to near, by the distance of their nearest point to the camera."""
    props = _visible_props(fr)
    order = []
    for i, p in enumerate(props):
        lo, hi = p.lat_span
        lat = 0.0 if lo <= 0.0 <= hi else min(abs(lo), abs(hi))
        order.append((-math.hypot(lat, max(p.d - fr.s, fr.z_obj)), i))
    order.sort()
    for _, i in order:
        p = props[i]
        _DRAWERS[p.kind](fr, p)


# ------------------------------------------------------------------------------- image effects

@functools.lru_cache(maxsize=2)
def _texture_bank(height: int, width: int) -> np.ndarray:
    """Noise fields twice the frame size (grain, small and large blotches), cropped at random per frame."""
    rng = np.random.default_rng(0x5EED)
    scale = width / 512
    fields = []
    for sigma in (0.0, 1.6 * scale, 9.0 * scale):
        noise = rng.standard_normal((2 * height, 2 * width)).astype(np.float32)
        if sigma:
            noise = cv2.GaussianBlur(noise, (0, 0), sigma)
        fields.append(np.clip(noise / max(float(noise.std()), 1e-6), -2.5, 2.5))
    bank = np.stack(fields)
    bank.setflags(write=False)
    return bank


def _colour_matrix(look: _Look) -> np.ndarray:
    """Saturation, contrast, brightness and colour temperature as one 3x4 affine colour map."""
    sat = look.saturation * np.eye(3) + (1.0 - look.saturation) / 3.0
    gain = np.diag(look.brightness * look.gains)
    matrix = gain @ (look.contrast * sat)
    offset = gain @ np.full(3, 128.0 * (1.0 - look.contrast))
    return np.hstack([matrix, offset[:, None]]).astype(np.float32)


def _finish_image(fr: _Frame, rng: np.random.Generator) -> np.ndarray:
    """Texture by class, haze by depth, then light, blur and sensor noise: all on the image only."""
    look, lab = fr.world.look, fr.lab
    h, w = lab.shape
    bank = _texture_bank(h, w)
    oy, ox = int(rng.integers(0, h)), int(rng.integers(0, w))
    tex = bank[:, oy:oy + h, ox:ox + w]
    mod = 1.0 + look.texture[0][lab] * tex[0] + look.texture[1][lab] * tex[1] + look.texture[2][lab] * tex[2]
    img = fr.img.astype(np.float32) * mod[..., None]
    haze = (look.haze_max * (1.0 - np.exp(-fr.depth / look.visibility)))[..., None]
    img += (look.haze - img) * haze
    img = cv2.transform(img, _colour_matrix(look))
    if look.blur_sigma > 0:
        img = cv2.GaussianBlur(img, (0, 0), look.blur_sigma * w / 512)
    if look.noise_sigma > 0:
        ny, nx = int(rng.integers(0, h)), int(rng.integers(0, w))
        grain = cv2.merge([bank[0, ny:ny + h, nx:nx + w], bank[0, h - ny:2 * h - ny, nx:nx + w],
                           bank[0, ny:ny + h, w - nx:2 * w - nx]])
        img = cv2.scaleAdd(grain, look.noise_sigma, img)
    out = np.clip(img, 0, 255).astype(np.uint8)
    lut = (255.0 * (np.arange(256) / 255.0) ** look.gamma).astype(np.uint8)
    return cv2.LUT(out, lut)


# ---------------------------------------------------------------------------------- the builder

class _Builder:
    """Lays out one drive: tracks, ground bands and upright things up to ``length`` metres.

    Choices made once per drive come from ``rng`` in a fixed order; things repeated along the line
    come from streams of their own (``along``), so a longer drive only adds to a shorter one: the
    first frames of every drive with the same seed are the same.
    """

    def __init__(self, rng: np.random.Generator, cfg: SceneConfig, length: float) -> None:
        self.rng, self.cfg, self.length = rng, cfg, length
        self.reach = length + 400.0          # crossings are laid out this far, so walls stop at the same places
        self.tracks: List[_Track] = []
        self.strips: List[_Strip] = []
        self.platforms: List[_Strip] = []
        self.crossings: List[Tuple[float, float, RGB]] = []
        self.props: List[_Prop] = []
        self.outer = {-1: 0.0, 1: 0.0}      # how far the railway (or street) reaches on each side
        self.spacing = _u(rng, cfg.track_spacing)
        self.tl = self._track_look()
        self.style = ""

    # -- helpers
    def _track_look(self) -> Dict[str, Any]:
        rng = self.rng
        ballast = _colour(rng, "ballast", 10)
        sleeper = _colour(rng, "sleeper", 8)
        blend = tuple(0.55 * b + 0.45 * s for b, s in zip(ballast, sleeper))
        return {
            "gauge": self.cfg.gauge, "sleeper_half": 1.3, "bed_half": 1.3 + float(rng.uniform(0.8, 1.4)),
            "tram_half": self.cfg.gauge / 2 + 0.4, "ballast": ballast, "ballast_dark": _shade(ballast, 0.85),
            "sleeper": sleeper, "track_far": blend, "rail_side": _colour(rng, "rail_side", 8),
            "rail_head": _colour(rng, "rail_head", 8), "groove": (34, 32, 32), "head_embedded": _colour(rng, "rail_head", 8),
            "tram_paving": _colour(rng, "tram_paving", 8),
            "terrain": _colour(rng, "grass" if rng.random() < 0.7 else "dry", 10),
            "platform_face": _colour(rng, "concrete", 8),
        }

    def stream(self) -> np.random.Generator:
        """A generator of its own for something repeated along the line (one draw from ``rng``)."""
        return np.random.default_rng(int(self.rng.integers(1 << 62)))

    def along(self, per_100m: float, near: Range, p_near: Optional[float] = None, lo: float = 2.0,
              end: Optional[float] = None) -> Iterator[Tuple[float, np.random.Generator]]:
        """Distances along the line, each with the generator to draw its details from: often one
        within ``near`` (so single scenes show it close up), then a Poisson scatter up to ``end``."""
        r = self.stream()
        if r.random() < (self.cfg.p_near if p_near is None else p_near):
            yield _u(r, near), r
        if per_100m <= 0:
            return
        d, end = lo, self.length if end is None else end
        while True:
            d += float(r.exponential(100.0 / per_100m))
            if d >= end:
                return
            yield d, r

    def free(self, d0: float, d1: float, platforms: bool = True) -> bool:
        """Whether no level crossing, cross street (or platform) lies in or near [d0, d1]."""
        return (all(d1 < c0 - 3 or d0 > c1 + 3 for c0, c1, _ in self.crossings)
                and (not platforms or all(d1 < p.d0 - 3 or d0 > p.d1 + 3 for p in self.platforms)))

    def base_at(self, lat: float, d: float) -> float:
        """Ground height under a point: the platform top where a platform is, else the rails' level."""
        for p in self.platforms:
            if p.d0 <= d <= p.d1 and min(p.lat0, p.lat1) <= lat <= max(p.lat0, p.lat1):
                return p.height
        return 0.0

    def runs(self, d0: float, d1: float) -> List[Tuple[float, float]]:
        """[d0, d1] with the crossings cut out (fences and walls stop at them)."""
        out, start = [], d0
        for c0, c1, _ in sorted(self.crossings):
            if c1 < start or c0 > d1:
                continue
            if c0 - 2 > start:
                out.append((start, c0 - 2))
            start = c1 + 2
        if start < d1:
            out.append((start, d1))
        return out

    def side(self, r: Optional[np.random.Generator] = None) -> int:
        return 1 if (r or self.rng).random() < 0.5 else -1

    def track_side_lat(self, side: int, r: np.random.Generator) -> float:
        """Just outside the railway on ``side`` (signals, signs, masts)."""
        extent = max([abs(t.offset) for t in self.tracks if t.offset * side > 0] + [0.0])
        return side * (extent + self.cfg.gauge / 2 + float(r.uniform(1.6, 2.4)))

    def add(self, kind: str, lat: float, d: float, span: Optional[Tuple[float, float]] = None,
            length: float = 0.0, base: Optional[float] = None, **data: Any) -> None:
        """An upright thing; it stands on the platform where one is (unless ``base`` says otherwise)."""
        base = self.base_at(lat, d) if base is None else base
        self.props.append(_Prop(kind, lat, d, span or (lat, lat), length, base, data))

    def add_wall(self, lat: float, d0: float, d1: float, seg: float = 4.0, **data: Any) -> None:
        """A face along the line, stopping at crossings (see ``add_pieces``)."""
        for a, b in self.runs(d0, d1):
            self.add_pieces("wall", lat, a, b, seg, data)

    def add_pieces(self, kind: str, lat: float, d0: float, d1: float, seg: float, data: Dict[str, Any]) -> None:
        """Something long along the line, cut into short pieces so the far-to-near order stays right."""
        edges = np.append(np.arange(d0, d1, seg), d1)
        for e0, e1 in zip(edges[:-1], edges[1:]):
            if e1 - e0 > 1e-3:
                self.props.append(_Prop(kind, lat, float(e0), (lat, lat), float(e1 - e0), 0.0, data))

    def add_wire(self, lat: float, y: float) -> None:
        self.add_pieces("wire", lat, -20.0, self.length + 20.0, 5.0, {"y": y, "colour": (48, 46, 44)})

    # -- layouts
    def build(self) -> None:
        weights = np.asarray(self.cfg.style_weights, dtype=float)
        self.style = STYLES[int(self.rng.choice(3, p=weights / weights.sum()))]
        if self.style == "street tramway":
            self.street_tramway()
        else:
            self.mainline(street=self.style == "mainline+street")

    def mainline(self, street: bool) -> None:
        rng, cfg = self.rng, self.cfg
        street_side = self.side() if street else 0
        self.tracks.append(_Track(0.0, False))
        for side in (-1, 1):
            if side != street_side and rng.random() < cfg.p_neighbour:
                for k in range(1, 3 if rng.random() < 0.25 else 2):
                    self.tracks.append(_Track(side * k * self.spacing, False))
        self.add_switches(embedded=False)
        for side in (-1, 1):
            self.outer[side] = self.track_side_lat(side, rng) * side + 0.3
        self.add_platforms(street_side)
        self.add_level_crossings()
        if rng.random() < cfg.p_catenary:
            self.add_catenary()
        self.add_signals()
        self.add_signs()
        self.add_trackside_people()
        self.add_trains([t for t in self.tracks if t.parallel and t.offset != 0.0], tram_style=False)
        if rng.random() < cfg.p_train_ahead:
            self.add_train_ahead(tram_style=False)
        self.add_bridges()
        if street_side:
            self.add_street(street_side)
        for side in (-1, 1):
            if side != street_side:
                self.add_countryside(side)

    def street_tramway(self) -> None:
        rng, cfg = self.rng, self.cfg
        self.tracks.append(_Track(0.0, True))
        other = self.side()
        if rng.random() < 0.8:
            self.tracks.append(_Track(other * float(rng.uniform(3.0, 3.4)), True))
        if rng.random() < cfg.p_switch * 0.5:
            ds = float(rng.uniform(10.0, 150.0))
            self.tracks.append(_Track(-other * 3.2, True, d_start=ds, switch_at=ds, switch_len=25.0))
        tram = max(abs(t.offset) for t in self.tracks) + cfg.gauge / 2 + 0.5
        left = tram * (1 if other < 0 else 0.35) + 3.2 * int(rng.integers(1, 3))
        right = tram * (1 if other > 0 else 0.35) + 3.2 * int(rng.integers(1, 3))
        asphalt = _colour(rng, "asphalt", 8)
        marks = (-left + 3.2, right - 3.2) if left > 4 and right > 4 else ()
        self.strips.append(_Strip(ROAD, asphalt, -left, right, pattern="lanes", marks=marks))
        for dc, r in self.along(0.3, near=(15.0, 80.0), p_near=cfg.p_crossing, lo=40.0, end=self.reach):
            if self.free(dc - 20, dc + 30):
                self.crossings.append((dc, dc + float(r.uniform(8.0, 13.0)), asphalt))
        pave = _colour(rng, "sidewalk", 8)
        for side, inner in ((-1, left), (1, right)):
            width = float(rng.uniform(2.5, 5.0))
            self.strips.append(_Strip(SIDEWALK, pave, side * inner, side * (inner + width), height=0.12,
                                      pattern="tiles"))
            self.outer[side] = inner + width
            self.add_street_side(side, inner, width)
        self.add_street_catenary(-left + 0.4, right - 0.4)
        self.add_signs()
        self.add_trains([t for t in self.tracks if t.parallel and t.offset != 0.0], tram_style=True)
        if rng.random() < cfg.p_train_ahead:
            self.add_train_ahead(tram_style=True)

    # -- railway
    def add_switches(self, embedded: bool) -> None:
        """One switch near the start (a crossover or a track leaving/joining), more crossovers further on."""
        rng, cfg = self.rng, self.cfg
        if rng.random() < cfg.p_switch:
            side = self.side()
            offset = side * self.spacing
            ds, length = float(rng.uniform(6.0, 120.0)), float(rng.uniform(30.0, 45.0))
            diverging = rng.random() < 0.65
            if any(abs(t.offset - offset) < 0.1 for t in self.tracks):
                d0, d1 = (ds, ds + length) if diverging else (ds - length, ds)
            else:
                d0, d1 = (ds, 1e9) if diverging else (-1e9, ds)
            self.tracks.append(_Track(offset, embedded, d0, d1, ds, length, diverging))
        neighbours = [t.offset for t in self.tracks if t.parallel and abs(t.offset) == self.spacing]
        for ds, r in self.along(0.1, near=(0.0, 0.0), p_near=0.0, lo=150.0):
            if neighbours:
                length, diverging = float(r.uniform(30.0, 45.0)), r.random() < 0.5
                d0, d1 = (ds, ds + length) if diverging else (ds - length, ds)
                self.tracks.append(_Track(_pick(r, neighbours), embedded, d0, d1, ds, length, diverging))

    def add_level_crossings(self) -> None:
        cfg = self.cfg
        for dc, r in self.along(0.1, near=(12.0, 90.0), p_near=cfg.p_crossing, lo=60.0, end=self.reach):
            if not self.free(dc - 30, dc + 40):
                continue
            width = float(r.uniform(6.0, 9.0))
            self.crossings.append((dc, dc + width, _colour(r, "asphalt", 8)))
            for side in (-1, 1):
                d = dc - 1.2 if side > 0 else dc + width + 1.2
                self.add("signal", side * (self.outer[side] + 0.4), d, height=2.6, head_w=0.34, head_h=0.6, lamps=2,
                         lit_index=int(r.integers(2)), lit=(255, 50, 30), housing=(28, 28, 30), pole=(220, 220, 220),
                         shift=0.0, on_top=True, horizontal=True, cross=True)
                edge = self.outer[side] + 2.5
                for _ in range(int(r.integers(0, 4))):
                    edge += self.add_vehicle_side(r, side, edge, dc + width * (0.72 if side > 0 else 0.28))
            if r.random() < 0.5:
                side = self.side(r)
                self.add_human(r, side * (self.outer[side] + float(r.uniform(1.0, 4.0))),
                               dc + float(r.uniform(1.0, width - 1.0)))

    def add_vehicle_side(self, r: np.random.Generator, side: int, edge: float, d: float) -> float:
        """A car or truck waiting at a level crossing, side on; returns the room it takes."""
        truck = r.random() < self.cfg.truck_share
        length = float(r.uniform(8.0, 14.0)) if truck else float(r.uniform(3.9, 4.8))
        centre = side * (edge + length / 2)
        self.add("vehicle_side", centre, d, (centre - length / 2, centre + length / 2), cls=TRUCK if truck else CAR,
                 vlength=length, flip=-side, colour=_colour(r, "vehicle"), box=_colour(r, "truck_box"))
        return length + float(r.uniform(1.0, 4.0))

    def add_platforms(self, street_side: int) -> None:
        """Station platforms beside the outermost track of a side, with people, lamps and a building."""
        sides = [s for s in (-1, 1) if s != street_side]
        for d0, r in self.along(0.08, near=(-60.0, 50.0), p_near=self.cfg.p_platform, lo=100.0):
            d1 = d0 + float(r.uniform(90.0, 260.0))
            side = _pick(r, sides)
            if self.free(d0 - 20, d1):
                self.add_platform(r, side, d0, d1)

    def add_platform(self, r: np.random.Generator, side: int, d0: float, d1: float) -> None:
        extent = max([abs(t.offset) for t in self.tracks if t.offset * side > 0] + [0.0])
        edge = extent + float(r.uniform(1.6, 1.8))
        width, height = float(r.uniform(4.0, 9.0)), float(r.uniform(0.55, 0.96))
        lo, hi = sorted((side * edge, side * (edge + width)))
        self.platforms.append(_Strip(SIDEWALK, _colour(r, "sidewalk", 10), lo, hi, d0, d1, height, "platform"))
        back = edge + width
        lo = max(d0, 4.0)
        hi = max(d1, lo + 1.0)
        for _ in range(int(r.integers(2, 9))):   # most of them toward the near end
            d = float(r.uniform(lo, min(hi, lo + 60.0) if r.random() < 0.6 else hi))
            self.add_human(r, side * (edge + float(r.uniform(1.0, width - 0.5))), d, base=height)
        pole = _colour(r, "pole")
        for d in np.arange(d0 + float(r.uniform(3.0, 12.0)), d1, float(r.uniform(12.0, 25.0))):
            self.add("pole", side * (edge + width * 0.65), float(d), base=height, height=float(r.uniform(3.5, 5.0)),
                     width=0.14, colour=pole, arm=-side * 0.8)
        if r.random() < 0.65:
            self.add_building(r, side, back + 0.3, d0 + float(r.uniform(0.0, 30.0)), float(r.uniform(15.0, 60.0)),
                              float(r.uniform(4.0, 10.0)), base=height)
        else:
            self.add_wall(side * back, d0, d1, cls=FENCE, colour=_colour(r, "fence"), y0=height,
                          y1=height + float(r.uniform(1.2, 2.0)), pattern=_pick(r, ("railing", "planks")))
        self.outer[side] = max(self.outer[side], back + 0.5)

    def add_catenary(self) -> None:
        """Masts with cantilevers (or portals over all tracks) and two wires above every track."""
        rng = self.rng
        parallel = [t.offset for t in self.tracks if t.parallel]
        lo, hi = min(parallel), max(parallel)
        pitch = float(rng.uniform(45.0, 65.0))
        portal = lo < 0 < hi and rng.random() < 0.5
        mast_side = self.side() if hi == lo == 0 else (1 if hi <= -lo else -1)
        colour = _colour(rng, "pole")
        lat_r = hi + self.cfg.gauge / 2 + float(rng.uniform(1.8, 2.3))
        lat_l = lo - self.cfg.gauge / 2 - float(rng.uniform(1.8, 2.3))
        arm_y = float(rng.uniform(6.3, 7.0))
        for d in np.arange(-float(rng.uniform(0.0, pitch)), self.length + pitch, pitch):
            d = float(d)
            if not self.free(d, d, platforms=False):
                continue
            if portal:
                self.add("mast", lat_l, d, (lat_l, lat_r), height=arm_y + 0.6, width=0.3, colour=colour,
                         reach=lat_r - lat_l, arm_y=arm_y + 0.3, portal=True)
                self.add("mast", lat_r, d, height=arm_y + 0.6, width=0.3, colour=colour, reach=0.0,
                         arm_y=arm_y, portal=True)
            else:
                lat = lat_r if mast_side > 0 else lat_l
                far = lo - 0.8 if mast_side > 0 else hi + 0.8
                self.add("mast", lat, d, (min(lat, far), max(lat, far)), height=arm_y + 0.8, width=0.25,
                         colour=colour, reach=far - lat, arm_y=arm_y)
        for offset in parallel:
            for y in (5.4, arm_y - 0.2):
                self.add_wire(offset, y)

    def add_signals(self) -> None:
        for d, r in self.along(self.cfg.signals_per_100m, near=(12.0, 50.0)):
            side = 1 if r.random() < 0.7 else -1
            dwarf = r.random() < 0.15
            lit_index = int(r.integers(0, 3))
            self.add("signal", self.track_side_lat(side, r), d, height=0.4 if dwarf else float(r.uniform(3.0, 5.5)),
                     head_w=0.5 if dwarf else float(r.uniform(0.5, 0.65)),
                     head_h=0.75 if dwarf else float(r.uniform(1.3, 1.9)), lamps=2 if dwarf else 3,
                     lit_index=lit_index, lit=_PALETTE["lamp"][lit_index],
                     housing=(24, 24, 26) if r.random() < 0.7 else (40, 44, 40), pole=_colour(r, "pole"),
                     shift=-side * 0.3, on_top=True, horizontal=False)

    def add_signs(self) -> None:
        for d, r in self.along(self.cfg.signs_per_100m, near=(8.0, 35.0)):
            side = 1 if r.random() < 0.6 else -1
            if self.style == "street tramway":
                lat = side * (self.outer[side] - 1.5)
            else:
                lat = self.track_side_lat(side, r)
            shape = _pick(r, ("board", "board", "triangle", "circle", "diamond"))
            rim, face = {
                "board": _pick(r, (((235, 235, 230), (30, 30, 30)), ((230, 200, 40), (30, 30, 30)),
                                   ((30, 70, 170), (235, 235, 235)))),
                "triangle": ((200, 30, 30), (238, 238, 232)),
                "circle": _pick(r, (((200, 30, 30), (238, 238, 232)), ((30, 70, 170), (40, 90, 190)))),
                "diamond": ((240, 240, 235), (230, 190, 30)),
            }[shape]
            self.add("sign", lat, d, height=float(r.uniform(1.6, 3.2)), size=float(r.uniform(0.6, 1.0)),
                     shape=shape, rim=rim, face=face, pole=_colour(r, "pole"))

    def add_human(self, r: np.random.Generator, lat: float, d: float, base: Optional[float] = None) -> None:
        top = _colour(r, "clothes", 10)
        self.add("human", lat, d, (lat - 0.3, lat + 0.3), base=base, height=float(r.uniform(1.55, 1.9)),
                 stride=float(r.uniform(0.0, 0.18)), top=top, legs=_colour(r, "trousers", 10),
                 skin=_colour(r, "skin", 8), hair=_pick(r, ((30, 24, 20), (90, 60, 30), (160, 150, 140), top)))

    def add_trackside_people(self) -> None:
        for d, r in self.along(self.cfg.people_per_100m * 0.5, near=(8.0, 45.0), p_near=0.45):
            side = self.side(r)
            self.add_human(r, side * (self.outer[side] + float(r.uniform(0.3, 3.0))), d)

    def add_trains(self, tracks: Sequence[_Track], tram_style: bool) -> None:
        """Trains (or trams) standing on ``tracks``: their sides along the line, their fronts when in view."""
        if not tracks:
            return
        taken: Dict[float, float] = {}
        for d0, r in self.along(0.12, near=(-40.0, 60.0), p_near=self.cfg.p_train, lo=60.0):
            track = _pick(r, tracks)
            length = float(r.uniform(25.0, 45.0)) if tram_style else float(r.uniform(40.0, 220.0))
            if d0 > taken.get(track.offset, -1e9) + 15:
                self.add_train(r, track, d0, length, tram_style)
                taken[track.offset] = d0 + length

    def add_train(self, r: np.random.Generator, track: _Track, d0: float, length: float, tram_style: bool) -> None:
        half = 1.3 if tram_style else 1.45
        face = track.offset - np.sign(track.offset) * half
        freight = not tram_style and r.random() < 0.3
        colour = _colour(r, "truck_box" if freight else "train", 10)
        stripe = _colour(r, "train", 10) if r.random() < 0.6 and not freight else None
        y1 = 3.6 if tram_style else float(r.uniform(3.8, 4.2))
        common = dict(cls=ON_RAILS, colour=colour, y0=0.45 if tram_style else 0.9, y1=y1, stripe=stripe)
        self.add_wall(face, d0, d0 + length, seg=5.0, pattern="train", car_length=float(r.uniform(14.0, 26.0)),
                      origin=d0, windows=not freight, **common)
        self.add("front", track.offset, d0, (track.offset - half, track.offset + half), u0=-half, u1=half,
                 headlights=r.random() < 0.6, **common)

    def add_train_ahead(self, tram_style: bool) -> None:
        rng = self.rng
        half = 1.3 if tram_style else 1.45
        self.add("front", 0.0, float(rng.uniform(40.0, 180.0)), (-half, half), cls=ON_RAILS,
                 colour=_colour(rng, "train", 10), u0=-half, u1=half, y0=0.45 if tram_style else 0.9, y1=3.9,
                 stripe=None, headlights=False)

    def add_bridges(self) -> None:
        for d, r in self.along(0.05, near=(40.0, 160.0), p_near=self.cfg.p_bridge, lo=200.0):
            if not self.free(d - 5, d + 5):
                continue
            deck0 = float(r.uniform(6.6, 7.6))
            self.add("bridge", 0.0, d, (-80.0, 80.0), colour=_colour(r, "concrete"),
                     deck=(deck0, deck0 + float(r.uniform(1.0, 2.0))),
                     piers=[-self.outer[-1] - 0.5, self.outer[1] + 0.5], rail=_colour(r, "fence"))

    # -- surroundings
    def add_countryside(self, side: int) -> None:
        """Fence, buildings, forest edge, trees and bushes beyond the railway on ``side``."""
        rng, cfg = self.rng, self.cfg
        lat = self.outer[side]
        if rng.random() < cfg.p_fence:
            lat += float(rng.uniform(0.5, 3.0))
            colour, pattern, height = _colour(rng, "fence"), _pick(rng, ("railing", "railing", "planks")), float(
                rng.uniform(1.1, 2.2))
            r = self.stream()
            d = float(r.uniform(-20.0, 40.0))
            while d < self.length:
                run = float(r.uniform(60.0, 400.0))
                self.add_wall(side * lat, d, d + run, cls=FENCE, colour=colour, y0=0.0, y1=height, pattern=pattern)
                d += run + float(r.uniform(20.0, 200.0))
        for d, r in self.along(cfg.trees_per_100m, near=(5.0, 40.0), p_near=0.5, lo=-10.0):
            self.add_tree(r, side * (lat + float(r.exponential(6.0)) + 2.0), d)
        for d, r in self.along(cfg.trees_per_100m * 0.6, near=(5.0, 30.0), p_near=0.4, lo=-10.0):
            radius = float(r.uniform(0.6, 1.8))
            b_lat = side * (lat + float(r.uniform(0.5, 6.0)))
            self.add("bush", b_lat, d, (b_lat - radius, b_lat + radius), radius=radius, outline=_blob(r),
                     colour=_colour(r, "foliage", 14))
        if rng.random() < cfg.p_buildings:
            lat += float(rng.uniform(3.0, 14.0))
            r = self.stream()
            d = float(r.uniform(-30.0, 40.0))
            while d < self.length:
                length = float(r.uniform(8.0, 30.0))
                self.add_building(r, side, lat + float(r.uniform(0.0, 4.0)), d, length, float(r.uniform(4.0, 14.0)))
                d += length + float(r.uniform(3.0, 40.0))
        if rng.random() < cfg.p_forest:
            lat += float(rng.uniform(3.0, 15.0))
            r = self.stream()
            d = float(r.uniform(-30.0, 80.0))
            while d < self.length:
                length = float(r.uniform(40.0, 200.0))
                bumps = [(float(r.uniform(1.0, 3.0)), float(r.uniform(0.2, 0.6)), float(r.uniform(0.0, 6.0)))
                         for _ in range(2)]
                self.add_wall(side * lat, d, d + length, seg=6.0, cls=VEGETATION, colour=_colour(r, "foliage", 12),
                              y0=0.0, y1=float(r.uniform(6.0, 14.0)), bumps=bumps)
                d += length + float(r.uniform(10.0, 80.0))

    def add_tree(self, r: np.random.Generator, lat: float, d: float, base: Optional[float] = None) -> None:
        height = float(r.uniform(4.0, 14.0))
        radius = height * float(r.uniform(0.2, 0.35))
        self.add("tree", lat, d, (lat - radius, lat + radius), base=base, height=height, radius=radius,
                 trunk=float(r.uniform(0.2, 0.4)), conifer=r.random() < 0.3, outline=_blob(r),
                 colour=_colour(r, "foliage", 14), trunk_colour=_colour(r, "trunk", 8))

    def add_building(self, r: np.random.Generator, side: int, lat: float, d0: float, length: float, height: float,
                     base: float = 0.0) -> None:
        """A building beside the line: its long face toward the track and its near end."""
        depth = float(r.uniform(8.0, 15.0))
        data = dict(cls=CONSTRUCTION, colour=_colour(r, "wall"), y0=base, y1=base + height, pattern="building",
                    glass=_colour(r, "glass", 8), window_pitch=float(r.uniform(2.6, 4.0)),
                    window_w=float(r.uniform(1.0, 1.6)), origin=d0 + 0.8)
        self.add_wall(side * lat, d0, d0 + length, **data)
        u0, u1 = (0.0, depth) if side > 0 else (-depth, 0.0)
        self.add("front", side * lat, d0, (min(side * lat, side * (lat + depth)), max(side * lat, side * (lat + depth))),
                 u0=u0, u1=u1, **data)

    # -- streets
    def add_street(self, side: int) -> None:
        """A street with a tramway beside the railway on ``side``: sidewalks, lanes, cars, buildings."""
        rng = self.rng
        lat = self.outer[side] + float(rng.uniform(1.5, 5.0))
        if rng.random() < 0.5:
            self.add_wall(side * (lat - 0.8), -20.0, self.length + 20.0, cls=FENCE, colour=_colour(rng, "fence"),
                          y0=0.0, y1=float(rng.uniform(1.1, 2.0)), pattern="railing")
        pave, asphalt = _colour(rng, "sidewalk", 8), _colour(rng, "asphalt", 8)
        road0 = lat + float(rng.uniform(2.0, 3.5))
        lanes = 3.2
        tram0 = road0 + lanes
        centres = [tram0 + 1.6 + 3.2 * k for k in range(1 if rng.random() < 0.4 else 2)]
        road1 = centres[-1] + 1.6 + lanes
        width = float(rng.uniform(2.5, 4.5))
        self.strips.append(_Strip(SIDEWALK, pave, *sorted((side * lat, side * road0)), height=0.12, pattern="tiles"))
        self.strips.append(_Strip(ROAD, asphalt, *sorted((side * road0, side * road1)), pattern="lanes",
                                  marks=(side * tram0, side * (road1 - lanes))))
        self.strips.append(_Strip(SIDEWALK, pave, *sorted((side * road1, side * (road1 + width))), height=0.12,
                                  pattern="tiles"))
        street_tracks = [_Track(side * c, True) for c in centres]
        self.tracks.extend(street_tracks)
        self.add_lane_traffic(side * (road0 + lanes / 2), oncoming=side < 0)
        self.add_lane_traffic(side * (road1 - lanes / 2), oncoming=side > 0)
        for d, r in self.along(self.cfg.people_per_100m, near=(10.0, 50.0)):
            self.add_human(r, side * (road1 + float(r.uniform(0.5, width - 0.3))), d, base=0.12)
        self.add_trains(street_tracks, tram_style=True)
        self.add_traffic_lights(side * (road0 - 0.5), side * (road1 + 0.5))
        self.add_street_buildings(side, road1 + width)
        self.outer[side] = road1 + width

    def add_street_side(self, side: int, road_edge: float, width: float) -> None:
        """Everything along one side of a tramway street: traffic, people, lamps, trees, buildings."""
        rng = self.rng
        self.add_lane_traffic(side * (road_edge - 1.6), oncoming=side < 0)
        for d, r in self.along(self.cfg.people_per_100m * 1.5, near=(8.0, 45.0)):
            self.add_human(r, side * (road_edge + float(r.uniform(0.4, width - 0.3))), d, base=0.12)
        if rng.random() < 0.5:
            r = self.stream()
            for d in np.arange(float(r.uniform(0.0, 15.0)), self.length, float(r.uniform(10.0, 18.0))):
                if self.free(float(d), float(d)):
                    self.add_tree(r, side * (road_edge + width * 0.5), float(d), base=0.12)
        self.add_traffic_lights(side * (road_edge + 0.4), None)
        self.add_street_buildings(side, road_edge + width)

    def add_lane_traffic(self, lat: float, oncoming: bool) -> None:
        for d, r in self.along(self.cfg.cars_per_100m * 0.5, near=(8.0, 50.0), p_near=0.5):
            truck = r.random() < self.cfg.truck_share
            width = 2.5 if truck else float(r.uniform(1.7, 1.9))
            colour, box = _colour(r, "vehicle"), _colour(r, "truck_box")
            if self.free(d, d):
                self.add("vehicle_end", lat, d, (lat - width / 2, lat + width / 2), cls=TRUCK if truck else CAR,
                         colour=colour, box=box, width=width, oncoming=oncoming)

    def add_traffic_lights(self, lat: float, other: Optional[float]) -> None:
        """Traffic lights before every cross street, and often one near the start."""
        r = self.stream()
        spots = [c0 - 1.5 for c0, _, _ in self.crossings if c0 < self.length]
        if r.random() < self.cfg.p_near or not spots:
            spots.insert(0, float(r.uniform(12.0, 60.0)))
        for d in spots:
            for where in (lat, other):
                if where is None:
                    continue
                side = 1 if where > 0 else -1
                lit_index = int(r.integers(3))
                self.add("signal", where, d, height=float(r.uniform(2.4, 3.4)), head_w=0.4, head_h=1.1, lamps=3,
                         lit_index=lit_index, lit=_PALETTE["lamp"][int(r.integers(3))],
                         housing=(28, 28, 30) if r.random() < 0.6 else (60, 62, 40), pole=_colour(r, "pole"),
                         shift=-side * 0.3, on_top=True, horizontal=False)

    def add_street_buildings(self, side: int, lat: float) -> None:
        r = self.stream()
        d = float(r.uniform(-40.0, 0.0))
        while d < self.length:
            length = float(r.uniform(10.0, 35.0))
            for a, b in self.runs(d, d + length):
                self.add_building(r, side, lat + float(r.uniform(0.0, 1.0)), a, b - a, float(r.uniform(8.0, 22.0)))
            d += length + (float(r.uniform(2.0, 20.0)) if r.random() < 0.25 else 0.0)

    def add_street_catenary(self, lat_l: float, lat_r: float) -> None:
        rng = self.rng
        colour = _colour(rng, "pole")
        pitch = float(rng.uniform(28.0, 40.0))
        arm_y = float(rng.uniform(6.2, 6.8))
        for d in np.arange(float(rng.uniform(-pitch, 0.0)), self.length + pitch, pitch):
            self.add("mast", lat_l, float(d), (lat_l, lat_r), height=arm_y + 1.2, width=0.26, colour=colour,
                     reach=lat_r - lat_l, arm_y=arm_y, span_wire=True)
            self.add("mast", lat_r, float(d), height=arm_y + 1.2, width=0.26, colour=colour, reach=0.0,
                     arm_y=arm_y, span_wire=False)
        for t in self.tracks:
            if t.parallel:
                self.add_wire(t.offset, 5.8)

    # -- horizon
    def skyline(self) -> Tuple[np.ndarray, np.ndarray, int, RGB]:
        """Distant town blocks (street scenes, often) or a tree line, as heights over the horizon."""
        rng = self.rng
        angles = np.linspace(-2.5, 2.5, 120)
        if self.style == "street tramway" or (self.style == "mainline+street" and rng.random() < 0.5):
            blocks = np.repeat(rng.uniform(6.0, 40.0, 30), 4) / 700.0
            return angles, blocks, CONSTRUCTION, _shade(_colour(rng, "concrete"), 0.9)
        walk = np.cumsum(rng.normal(0.0, 1.0, len(angles)))
        walk = np.convolve(walk - walk.mean(), np.ones(5) / 5, mode="same")
        heights = np.clip(14.0 + 3.0 * walk + 4.0 * np.abs(rng.normal(0.0, 1.0, len(angles))), 3.0, 40.0) / 700.0
        return angles, heights, VEGETATION, _colour(rng, "foliage", 10)


def _make_look(rng: np.random.Generator, cfg: SceneConfig) -> _Look:
    overcast = rng.random() < cfg.p_overcast
    if overcast:
        grey = float(rng.uniform(150, 200))
        top = np.array([grey, grey + 4, grey + 10])
        horizon = np.minimum(top + rng.uniform(15, 35), 245)
    else:
        top = np.array([rng.uniform(50, 110), rng.uniform(110, 160), rng.uniform(190, 240)])
        horizon = np.array([rng.uniform(175, 215), rng.uniform(195, 225), rng.uniform(220, 248)])
    temp = _u(rng, cfg.temperature)
    texture = np.zeros((3, 256), np.float32)
    for cls, strengths in _TEXTURE.items():
        texture[:, cls] = np.asarray(strengths) * rng.uniform(0.7, 1.3)
    texture[2, SKY] *= 2.5 if overcast else 1.0
    return _Look(
        sky_top=top.astype(np.float32), sky_horizon=horizon.astype(np.float32),
        haze=horizon.astype(np.float32), visibility=_u(rng, cfg.visibility), haze_max=float(rng.uniform(0.35, 0.6)),
        brightness=_u(rng, cfg.brightness), contrast=_u(rng, cfg.contrast),
        gains=np.array([1 + temp, 1.0, 1 - temp], np.float32), saturation=_u(rng, cfg.saturation),
        gamma=_u(rng, cfg.gamma), blur_sigma=_u(rng, cfg.blur_sigma) if rng.random() < cfg.p_blur else 0.0,
        noise_sigma=_u(rng, cfg.noise_sigma), texture=texture,
        shade_side=float(rng.uniform(0.65, 1.0)), shade_front=float(rng.uniform(0.8, 1.1)),
    )


def _make_curve(rng: np.random.Generator, cfg: SceneConfig) -> Tuple[float, float, float, float]:
    k0 = 0.0 if rng.random() < cfg.p_straight else _u(rng, cfg.curvature)
    k1 = _u(rng, cfg.curvature_wave)
    omega = 2 * math.pi / _u(rng, cfg.curvature_period)
    return k0, k1, omega, float(rng.uniform(0, 2 * math.pi))


def _build_world(rng: np.random.Generator, cfg: SceneConfig, frames: int) -> _World:
    speed = _u(rng, cfg.speed)
    camera = _CameraSpec(_u(rng, cfg.camera_height), _u(rng, cfg.focal), _u(rng, cfg.horizon),
                         math.radians(_u(rng, cfg.roll_deg)), _u(rng, cfg.yaw),
                         (float(rng.uniform(0, 6.3)), float(rng.uniform(0, 6.3))))
    look = _make_look(rng, cfg)
    curve = _make_curve(rng, cfg)
    builder = _Builder(rng, cfg, length=speed * frames + cfg.far)
    builder.build()
    return _World(builder.style, camera, look, curve, builder.tracks, builder.strips, builder.platforms,
                  builder.crossings, builder.props, builder.skyline(), builder.tl, speed)


# ------------------------------------------------------------------------------------ public API

def _check_size(height: int, width: int) -> None:
    if int(height) < MIN_SIZE or int(width) < MIN_SIZE:
        raise RailSegError(f"frame size {height}x{width} is too small; both sides must be at least {MIN_SIZE} px")


def _shake(world: _World, cfg: SceneConfig, index: int) -> Tuple[float, float]:
    """Pitch and roll wobble (radians) of frame ``index`` of a drive; zero on the first frame, so a scene
    and the first frame of its drive are the same picture."""
    amp = math.radians(cfg.shake_deg)
    ph = world.camera.shake_phase
    pitch = 0.5 * amp * (math.sin(0.9 * index + ph[0]) - math.sin(ph[0]))
    roll = amp * (math.sin(0.7 * index + ph[1]) - math.sin(ph[1]))
    return pitch, roll


def _render(world: _World, cfg: SceneConfig, height: int, width: int, index: int,
            rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    fr = _Frame(world, _Camera(height, width, world.camera, *_shake(world, cfg, index)), index * world.speed, cfg)
    _draw_sky_and_ground(fr)
    _draw_skyline(fr)
    _draw_strips(fr, world.strips)
    _draw_tracks(fr)
    _draw_strips(fr, world.platforms)
    _draw_props(fr)
    return _finish_image(fr, rng), fr.lab


def render_sequence(n: int, height: int, width: int, seed: int,
                    config: Optional[SceneConfig] = None) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """``n`` consecutive frames of one drive: the camera moves along the track, the scene comes closer.

    Yields (HxWx3 uint8 RGB image, HxW uint8 RailSem19 ids). The same arguments give the same frames.
    """
    _check_size(height, width)
    if n < 0:
        raise RailSegError(f"number of frames must not be negative, got {n}")
    if seed < 0:
        raise RailSegError(f"seed must not be negative, got {seed}")
    cfg = config or SceneConfig()
    world = _build_world(np.random.default_rng([seed, 0]), cfg, n)
    for i in range(n):
        yield _render(world, cfg, height, width, i, np.random.default_rng([seed, 1, i]))


def render_scene(height: int, width: int, seed: int,
                 config: Optional[SceneConfig] = None) -> Tuple[np.ndarray, np.ndarray]:
    """One scene: (HxWx3 uint8 RGB image, HxW uint8 RailSem19 ids), the same for the same seed.

    Every pixel gets one of the 19 classes; the label is the class of what was drawn last there.
    """
    return next(render_sequence(1, height, width, seed, config))


def frame_seed(seed: int, index: int) -> int:
    """The ``render_scene`` seed of frame ``index`` of a dataset written with ``seed`` (not sequence)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint32)[0])


def iter_frames(n: int, height: int, width: int, seed: int, sequence: bool = False,
                config: Optional[SceneConfig] = None) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """``n`` frames: one drive (``sequence``) or independent scenes with seeds ``frame_seed(seed, i)``."""
    if sequence:
        yield from render_sequence(n, height, width, seed, config)
        return
    _check_size(height, width)
    if seed < 0:
        raise RailSegError(f"seed must not be negative, got {seed}")
    for i in range(n):
        yield render_scene(height, width, frame_seed(seed, i), config)


def _replaceable(path: Path) -> bool:
    """Only an empty folder or one this function wrote before may be replaced."""
    if not path.exists():
        return True
    if not path.is_dir():
        return False
    return {p.name for p in path.iterdir()} <= {"jpgs", "uint8", "synth.json"}


def write_dataset(out_dir: Union[str, Path], n: int, height: int, width: int, seed: int, sequence: bool = False,
                  progress: bool = True, config: Optional[SceneConfig] = None) -> Path:
    """Write ``n`` frames in the RailSem19 layout and return the folder.

    ``out_dir/jpgs/rs19_val/synNNNNN.jpg`` (quality 95) and ``out_dir/uint8/rs19_val/synNNNNN.png``
    (uint8 ids), plus ``synth.json`` saying how they were made. The folder appears complete or not at
    all; an existing folder is replaced only if it is empty or an earlier synthetic dataset.
    """
    out = Path(out_dir)
    if n < 1:
        raise RailSegError(f"number of frames must be at least 1, got {n}")
    if not _replaceable(out):
        raise RailSegError(f"{out}: exists and is not an earlier synthetic dataset; choose another folder")
    frames = iter_frames(n, height, width, seed, sequence, config)
    with atomic_path(out) as tmp:
        (tmp / IMAGE_DIR).mkdir(parents=True)
        (tmp / LABEL_DIR).mkdir(parents=True)
        for i, (image, labels) in enumerate(tqdm(frames, total=n, disable=not progress, unit="frame",
                                                 desc=f"synth {out.name}")):
            stem = f"syn{i:05d}"
            _imwrite(tmp / IMAGE_DIR / f"{stem}.jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                     [cv2.IMWRITE_JPEG_QUALITY, 95])
            _imwrite(tmp / LABEL_DIR / f"{stem}.png", labels, [])
        meta = {"generator": "rail_seg_ros.synth", "frames": n, "height": height, "width": width, "seed": seed,
                "sequence": sequence, "labels": "railsem19",
                "frame_seeds": "one drive" if sequence else "frame i = render_scene(height, width, frame_seed(seed, i))",
                "config": asdict(config or SceneConfig())}
        (tmp / "synth.json").write_text(json.dumps(meta, indent=1) + "\n")
    return out


def _imwrite(path: Path, image: np.ndarray, params: List[int]) -> None:
    if not cv2.imwrite(str(path), image, params):
        raise RailSegError(f"could not write {path}")
