"""One drive's world (tracks, ground bands, upright things, light) and the pinhole camera that sees it.

Geometry: ``d`` is distance along the line (metres from the start of the drive), ``lat`` the offset
across it (+ to the right of the ego track centre line), ``y`` the height above the rails. The camera
rides at distance ``s`` and sees a point ``z = d - s`` ahead; curves shift everything sideways by the
line's lateral drift relative to the camera's heading.
"""

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .config import RGB
from .palette import smoothstep


@dataclass
class Track:
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
        return self.offset * smoothstep(t)

    @property
    def parallel(self) -> bool:
        return self.switch_at is None


@dataclass
class Strip:
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
class Prop:
    """Something upright: drawn by ``_DRAWERS[kind]``, ordered by its distance to the camera."""

    kind: str
    lat: float                       # lateral anchor
    d: float                         # near end along the line
    lat_span: Tuple[float, float]    # lateral extent, for drawing order
    length: float = 0.0              # extent along the line (walls, trains)
    y0: float = 0.0                  # ground height under it
    data: Dict[str, Any] = field(default_factory=dict)


@dataclass
class Look:
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
class CameraSpec:
    height: float
    focal: float
    horizon: float
    roll: float                      # radians
    yaw: float
    shake_phase: Tuple[float, float]


@dataclass
class World:
    """Everything along one drive, independent of image size and camera position."""

    style: str
    camera: CameraSpec
    look: Look
    curve: Tuple[float, float, float, float]          # k0, k1, omega, phase of curvature k(d)
    tracks: List[Track]
    strips: List[Strip]
    platforms: List[Strip]
    crossings: List[Tuple[float, float, RGB]]
    props: List[Prop]
    skyline: Tuple[np.ndarray, np.ndarray, int, RGB]  # angles, heights (as angles), class, colour
    track_look: Dict[str, Any]
    speed: float
    objects: Dict[int, int] = field(default_factory=dict)    # object id (props' data["object_id"]) -> class id
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

class SceneCamera:
    """Pinhole camera over flat ground, with the horizon row set by pitch and tilted by roll."""

    def __init__(self, height: int, width: int, spec: CameraSpec, pitch: float = 0.0, roll: float = 0.0) -> None:
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
