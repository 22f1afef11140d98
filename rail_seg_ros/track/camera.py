"""A rigidly mounted camera over flat ground: image pixels <-> points on the rail-head plane, in metres.

Frames (REP-103, right-handed, metres):

* **ground**: origin on the rail-head plane straight below the camera, X forward along the vehicle,
  Y to the left, Z up. The camera's centre is at (0, 0, ``height_m``).
* **camera optical**: x right, y down, z along the optical axis (the ROS ``*_optical_frame``).

The mounting is pitch then roll about the vehicle's axes: ``pitch_deg`` > 0 tilts the optical axis
down toward the track, ``roll_deg`` > 0 lowers the camera's right side (the horizon then rises to the
right of the image). With pitch and roll zero the optical axis is level and points along X.

Intrinsics are a ROS CameraInfo (K, D with ``plumb_bob`` or ``rational_polynomial``) read from a
message or from a YAML file in the camera_calibration format (``camera_matrix``/``distortion_coefficients``)
or in the message's own field names (``k``/``d``). When the label map has another size than the
calibration, K is scaled with :func:`rail_seg_ros.camera_info.scale_camera_info`, image_proc's convention.
"""

import math
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Optional, Sequence, Tuple

import cv2
import numpy as np
import yaml

from ..camera_info import scale_camera_info
from ..errors import RailSegError

DISTORTION_MODELS = ("plumb_bob", "rational_polynomial")


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of one image size, with OpenCV-ordered distortion (k1 k2 p1 p2 [k3 [k4 k5 k6]])."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    skew: float = 0.0
    distortion: Tuple[float, ...] = ()

    @property
    def matrix(self) -> np.ndarray:
        return np.array([[self.fx, self.skew, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def distorted(self) -> bool:
        return any(abs(c) > 0.0 for c in self.distortion)

    @classmethod
    def from_msg(cls, msg: Any) -> "Intrinsics":
        """From a sensor_msgs/CameraInfo (or anything with its fields: width, height, k, d, distortion_model)."""
        k = [float(v) for v in msg.k]
        if len(k) != 9 or k[0] <= 0 or k[4] <= 0:
            raise RailSegError(f"camera info: K {k} is not a 3x3 matrix with positive focal lengths")
        model = str(getattr(msg, "distortion_model", "") or "plumb_bob")
        d = tuple(float(v) for v in (getattr(msg, "d", None) or ()))
        if any(d) and model not in DISTORTION_MODELS:
            raise RailSegError(f"camera info: distortion model {model!r} is not supported "
                               f"({', '.join(DISTORTION_MODELS)}); rectify the images and give P as K")
        if int(msg.width) <= 0 or int(msg.height) <= 0:
            raise RailSegError(f"camera info: image size {msg.width}x{msg.height} is not positive")
        return cls(int(msg.width), int(msg.height), k[0], k[4], k[2], k[5], k[1], d)

    def for_size(self, width: int, height: int) -> "Intrinsics":
        """The same camera for an image resized to ``width`` x ``height`` (labels at another resolution)."""
        if (width, height) == (self.width, self.height):
            return self
        return Intrinsics.from_msg(scale_camera_info(self.as_msg(), width, height, width / self.width,
                                                     height / self.height))

    def as_msg(self) -> SimpleNamespace:
        """A CameraInfo-shaped object (the fields :func:`scale_camera_info` and ``from_msg`` read)."""
        k = [self.fx, self.skew, self.cx, 0.0, self.fy, self.cy, 0.0, 0.0, 1.0]
        p = [self.fx, self.skew, self.cx, 0.0, 0.0, self.fy, self.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
        roi = SimpleNamespace(x_offset=0, y_offset=0, width=0, height=0, do_rectify=False)
        return SimpleNamespace(width=self.width, height=self.height, k=k, p=p, d=list(self.distortion),
                               distortion_model="plumb_bob" if len(self.distortion) <= 5 else "rational_polynomial",
                               roi=roi)


def _matrix_field(data: dict, path: Path, *names: str) -> Optional[list]:
    for name in names:
        value = data.get(name)
        if isinstance(value, dict):
            value = value.get("data")
        if value is not None:
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, (int, float)) for v in value):
                raise RailSegError(f"camera info {path}: {name} is not a list of numbers")
            return [float(v) for v in value]
    return None


def load_camera_info(path: str) -> SimpleNamespace:
    """A CameraInfo YAML (camera_calibration's ``ost.yaml`` or a ``ros2 topic echo`` of the message)."""
    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text())
    except OSError as exc:
        raise RailSegError(f"camera info {file}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise RailSegError(f"camera info {file}: not a text (YAML) file") from None
    except yaml.YAMLError as exc:
        raise RailSegError(f"camera info {file}: not YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise RailSegError(f"camera info {file}: expected a mapping with camera_matrix (or k)")
    k = _matrix_field(data, file, "camera_matrix", "k", "K")
    if k is None:
        raise RailSegError(f"camera info {file}: no camera_matrix (or k) in it")
    d = _matrix_field(data, file, "distortion_coefficients", "d", "D") or []
    width, height = data.get("image_width", data.get("width")), data.get("image_height", data.get("height"))
    if not isinstance(width, int) or not isinstance(height, int):
        raise RailSegError(f"camera info {file}: image_width and image_height (or width, height) must be integers")
    model = data.get("distortion_model") or "plumb_bob"
    return SimpleNamespace(width=width, height=height, k=k, d=d, distortion_model=model)


def _rotation(pitch: float, roll: float) -> np.ndarray:
    """Optical-frame directions to ground-frame directions for a camera pitched, then rolled."""
    level = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])  # optical z -> X, x -> -Y, y -> -Z
    cp, sp, cr, sr = math.cos(pitch), math.sin(pitch), math.cos(roll), math.sin(roll)
    r_pitch = np.array([[cp, 0.0, sp], [0.0, 1.0, 0.0], [-sp, 0.0, cp]])   # about Y: X toward -Z
    r_roll = np.array([[1.0, 0.0, 0.0], [0.0, cr, -sr], [0.0, sr, cr]])    # about X: Y toward +Z
    return r_pitch @ r_roll @ level


class GroundCamera:
    """Projection between image pixels and the flat rail-head plane for one mounting."""

    def __init__(self, intrinsics: Intrinsics, height_m: float, pitch_deg: float = 0.0, roll_deg: float = 0.0):
        if not height_m > 0.0 or not math.isfinite(height_m):
            raise RailSegError(f"camera height {height_m} m: must be a positive number of metres above the rails")
        for name, value in (("pitch", pitch_deg), ("roll", roll_deg)):
            if not math.isfinite(value) or abs(value) >= 60.0:
                raise RailSegError(f"camera {name} {value} deg: must be between -60 and 60 degrees")
        self.intrinsics = intrinsics
        self.height_m = float(height_m)
        self.pitch_deg = float(pitch_deg)
        self.roll_deg = float(roll_deg)
        self._r = _rotation(math.radians(pitch_deg), math.radians(roll_deg))  # optical -> ground
        self._k = intrinsics.matrix
        self._k_inv = np.linalg.inv(self._k)
        self._dist = np.asarray(intrinsics.distortion, dtype=np.float64)

    @property
    def width(self) -> int:
        return self.intrinsics.width

    @property
    def height(self) -> int:
        return self.intrinsics.height

    def with_pitch(self, pitch_deg: float) -> "GroundCamera":
        return GroundCamera(self.intrinsics, self.height_m, pitch_deg, self.roll_deg)

    def for_size(self, width: int, height: int) -> "GroundCamera":
        if (width, height) == (self.width, self.height):
            return self
        return GroundCamera(self.intrinsics.for_size(width, height), self.height_m, self.pitch_deg, self.roll_deg)

    def describe(self) -> Tuple[float, float, float]:
        return self.height_m, self.pitch_deg, self.roll_deg

    # -- pixels -> rays -> ground ------------------------------------------------------------------
    def optical_rays(self, uv: np.ndarray) -> np.ndarray:
        """N x 2 pixels -> N x 3 viewing directions in the optical frame (z = 1), distortion removed."""
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        if self.intrinsics.distorted:
            norm = cv2.undistortPoints(uv.reshape(-1, 1, 2), self._k, self._dist).reshape(-1, 2)
            return np.column_stack([norm, np.ones(len(norm))])
        return np.column_stack([uv, np.ones(len(uv))]) @ self._k_inv.T

    def rays(self, uv: np.ndarray) -> np.ndarray:
        """N x 2 pixels -> N x 3 viewing directions in the ground frame (not normalised)."""
        return self.optical_rays(uv) @ self._r.T

    def ground_of_rays(self, optical: np.ndarray, pitch_deg: Optional[float] = None) -> np.ndarray:
        """Where optical-frame rays meet the ground (N x 2, NaN above the horizon), for this mounting or
        for another pitch (the pitch estimate tries many without recomputing the rays)."""
        r = self._r if pitch_deg is None else _rotation(math.radians(pitch_deg), math.radians(self.roll_deg))
        rays = optical @ r.T
        down = -rays[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(down > 1e-9, self.height_m / down, np.nan)
        return rays[:, :2] * t[:, None]

    def to_ground(self, uv: np.ndarray) -> np.ndarray:
        """N x 2 pixels -> N x 2 ground points (X ahead, Y left); NaN for pixels at or above the horizon."""
        return self.ground_of_rays(self.optical_rays(uv))

    # -- ground -> pixels --------------------------------------------------------------------------
    def project(self, points: np.ndarray) -> np.ndarray:
        """N x 3 ground-frame points (X, Y, Z) -> N x 2 pixels; NaN for points behind the camera."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        optical = self.to_optical(pts)
        z = optical[:, 2]
        ahead = z > 1e-6
        out = np.full((len(pts), 2), np.nan)
        if not ahead.any():
            return out
        if self.intrinsics.distorted:
            proj, _ = cv2.projectPoints(optical[ahead].reshape(-1, 1, 3), np.zeros(3), np.zeros(3), self._k, self._dist)
            out[ahead] = proj.reshape(-1, 2)
        else:
            xy = optical[ahead, :2] / z[ahead, None]
            out[ahead] = np.column_stack([xy, np.ones(len(xy))]) @ self._k[:2].T
        return out

    def to_optical(self, points: np.ndarray) -> np.ndarray:
        """N x 3 ground-frame points -> the same points in the camera's optical frame (metres)."""
        rel = np.asarray(points, dtype=np.float64).reshape(-1, 3) - np.array([0.0, 0.0, self.height_m])
        return rel @ self._r  # ground -> optical is the transpose

    @property
    def optical_to_ground(self) -> np.ndarray:
        """3 x 3 rotation taking optical-frame directions to ground-frame directions."""
        return self._r.copy()

    def project_ground(self, xy: np.ndarray, z: float = 0.0) -> np.ndarray:
        """N x 2 ground points at height ``z`` -> N x 2 pixels."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        return self.project(np.column_stack([xy, np.full(len(xy), z)]))

    # -- what the stage asks of the geometry ------------------------------------------------------
    def axis_rows(self, distances: Sequence[float]) -> np.ndarray:
        """Pixels of the vehicle's axis (Y = 0) on the ground at the given distances ahead."""
        d = np.asarray(distances, dtype=np.float64)
        return self.project_ground(np.column_stack([d, np.zeros(len(d))]))

    def nearest_visible_distance(self) -> float:
        """Distance ahead of the ground point seen at the bottom centre of the image (m)."""
        point = self.to_ground(np.array([[self.width / 2.0, self.height - 0.5]]))[0]
        if not np.isfinite(point[0]) or point[0] <= 0:
            raise RailSegError(f"camera pitch {self.pitch_deg} deg and roll {self.roll_deg} deg: the bottom of the "
                               "image does not see the ground ahead")
        return float(point[0])
