"""Ground truth for the track-ahead stage, from what a synthetic scene knows: the ego track's geometry,
where each person, vehicle and train stands, and the exact camera.

``track_truth(scene)`` returns a JSON object of the shape ``rail-seg track-ahead --json`` prints
(``rail_seg_ros.track.TrackResult.to_dict``), plus what only the truth knows::

    {"ego_track": {"left_rail": [[u, v], ...], "right_rail": [...], "centerline": [...], "polygon": [...],
                   "source": "rails", "length_m": m} or null,
     "envelope": [[u, v], ...],
     "obstacles": [{"class": name, "distance_m": m, "pixels": n, "bbox": [u0, v0, u1, v1], "in_envelope": bool,
                    "lateral_m": m}, ...],
     "clear": bool, "clear_distance_m": m,
     "camera": {"width", "height", "k", "d", "distortion_model", "height_m", "pitch_deg", "roll_deg"}}

* **Rails**: the centre lines of the ego track's labelled rail bodies, projected with the renderer's own
  camera, from the bottom of the image to the farthest point where the label map shows either of them
  (a train ahead ends the track; a person on it does not). ``polygon`` is the ego-path region, left rail
  out and right rail back, as the stage gives it.
* **Envelope**: the ground band ``half_width_m`` either side of the centre line, as far as the rails.
* **Obstacles**: every person, car, truck and train with visible pixels; ``pixels`` and ``bbox`` (u1, v1
  exclusive) count that object's own pixels in the label map, ``distance_m`` is the along-track distance
  from the camera's foot point to its nearest ground point, measured on the true centre line like the
  stage measures it, and ``in_envelope`` says whether it stands in the envelope within the visible track.
* **Clear**: no obstacle of at least ``MIN_OBSTACLE_PIXELS`` pixels in the envelope.
* **Camera**: the renderer's camera as a :class:`rail_seg_ros.track.GroundCamera` (level: the scenes'
  camera pitch is a shifted principal point; its roll turns the image about the image centre, which is a
  roll about the optical axis with the principal point moved). ``camera_info_yaml`` writes it for
  ``rail-seg track-ahead --camera-info``.
"""

import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, Iterator, List, Optional, Tuple

import cv2
import numpy as np
import yaml

from ..errors import RailSegError
from ..labels import RAILSEM19
from ..track import GroundCamera, Intrinsics
from ..track.config import ENVELOPE_HALF_WIDTH_M, TrackConfig
from ..track.envelope import FAR_EXTENSION, GroundPath, along_track
from .config import RAIL_EMBEDDED, RAIL_RAISED, SceneConfig
from .draw_ground import EMBEDDED_RAIL_Y, RAISED_RAIL_Y, split_by_crossings
from .render import Scene, iter_scenes

TRUTH_SUFFIX = ".track.json"
CAMERA_SUFFIX = ".camera_info.yaml"
MIN_OBSTACLE_PIXELS = TrackConfig().min_obstacle_pixels   # smaller obstacles do not make the track unclear
SAMPLES = 3000          # distances sampled along the ego track (under a pixel apart near the camera)
NEAREST_M = 1.0         # ... from here (below the image bottom for every camera the scenes use)
SIMPLIFY_PX = 0.2       # polylines keep the points that bend them by more than this
PATH_STEP_M = 0.25      # the true centre line on the ground, for distances along it
NDIGITS = 2


def ground_camera(scene: Scene) -> GroundCamera:
    """The renderer's camera of ``scene`` as a flat-ground camera model (exact, no distortion)."""
    cam = scene.camera
    centre = cam.rotate(np.array(cam.cx), np.array(cam.horizon))   # where the unrolled principal point lands
    intrinsics = Intrinsics(cam.width, cam.height, cam.f, cam.f, float(centre[0]), float(centre[1]))
    # the scenes' roll turns the image clockwise for a positive angle: the right side of the horizon drops,
    # i.e. the camera's right side rises, which is a negative roll of GroundCamera
    return GroundCamera(intrinsics, cam.cam_height, 0.0, -math.degrees(math.atan2(cam.sin, cam.cos)))


def camera_dict(camera: GroundCamera) -> Dict[str, Any]:
    """The camera as JSON: CameraInfo's fields (``Intrinsics.from_msg`` reads them) and the mounting."""
    i = camera.intrinsics
    return {"width": i.width, "height": i.height, "k": [float(v) for v in i.matrix.ravel()], "d": [],
            "distortion_model": "plumb_bob", "height_m": camera.height_m, "pitch_deg": camera.pitch_deg,
            "roll_deg": camera.roll_deg}


def camera_from_dict(data: Dict[str, Any]) -> GroundCamera:
    """The :class:`GroundCamera` of a truth's ``camera`` object."""
    return GroundCamera(Intrinsics.from_msg(SimpleNamespace(**data)), data["height_m"], data["pitch_deg"],
                        data["roll_deg"])


def camera_info_yaml(camera: GroundCamera, name: str = "synth") -> str:
    """A CameraInfo YAML (camera_calibration's format) of the camera; the mounting is in its comment."""
    i = camera.intrinsics
    k = [float(v) for v in i.matrix.ravel()]
    data = {
        "image_width": i.width, "image_height": i.height, "camera_name": name,
        "camera_matrix": {"rows": 3, "cols": 3, "data": k},
        "distortion_model": "plumb_bob", "distortion_coefficients": {"rows": 1, "cols": 5, "data": [0.0] * 5},
        "rectification_matrix": {"rows": 3, "cols": 3, "data": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]},
        "projection_matrix": {"rows": 3, "cols": 4, "data": k[:3] + [0.0] + k[3:6] + [0.0] + k[6:] + [0.0]},
    }
    mounting = (f"# the exact camera of a synthetic scene; its mounting for rail-seg track-ahead:\n"
                f"#   --camera-height {camera.height_m:.6g} --camera-pitch {camera.pitch_deg:.6g} "
                f"--camera-roll {camera.roll_deg:.6g}\n")
    return mounting + yaml.safe_dump(data, default_flow_style=None, sort_keys=False)


# --------------------------------------------------------------------------------- geometry

def _project(scene: Scene, lat: float, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Pixels of points ``lat`` off the ego track's centre line, ``y`` up, ``z`` ahead of the camera."""
    return scene.camera.project(scene.world.offset(scene.s, z) + lat, y, z)


def _rail_heights(scene: Scene, z: np.ndarray) -> np.ndarray:
    """Height of the ego rails' labelled centre line at ``z`` ahead: set into the road through crossings."""
    ego = scene.world.tracks[0]
    y = np.full(len(z), EMBEDDED_RAIL_Y if ego.embedded else RAISED_RAIL_Y)
    for d0, d1, in_crossing in split_by_crossings(ego.d_start, ego.d_end, scene.world.crossings):
        if in_crossing:
            y[(z + scene.s >= d0) & (z + scene.s < d1)] = EMBEDDED_RAIL_Y
    return y


def _seen(labels: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Which pixels (N x 2) lie in the image on a rail of the label map."""
    h, w = labels.shape
    u, v = np.rint(uv[:, 0]).astype(np.int64), np.rint(uv[:, 1]).astype(np.int64)
    inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    out = np.zeros(len(uv), bool)
    out[inside] = np.isin(labels[v[inside], u[inside]], (RAIL_RAISED, RAIL_EMBEDDED))
    return out


def _from_bottom(line: np.ndarray, height: int) -> np.ndarray:
    """A polyline (nearest point first) from where it enters the image's bottom edge on."""
    inside = np.flatnonzero(line[:, 1] <= height)
    if not len(inside):
        return line[:0]
    first = int(inside[0])
    if first == 0:
        return line
    a, b = line[first - 1], line[first]
    t = (a[1] - height) / (a[1] - b[1])
    return np.vstack([a + t * (b - a), line[first:]])


def _simplify(line: np.ndarray) -> np.ndarray:
    if len(line) < 3:
        return line
    kept = cv2.approxPolyDP(line.astype(np.float32).reshape(-1, 1, 2), SIMPLIFY_PX, False).reshape(-1, 2)
    return np.vstack([line[:1], kept[1:-1].astype(np.float64), line[-1:]])


def centre_path(scene: Scene) -> GroundPath:
    """The ego track's centre line on the ground, in the camera's ground frame (X ahead, Y left), from the
    camera's foot point to beyond the farthest thing drawn."""
    t = np.arange(0.0, scene.config.far + 50.0, PATH_STEP_M)
    points = np.column_stack([t, -scene.world.offset(scene.s, t)])
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(points, axis=0).T))])
    tangent = np.gradient(points, axis=0)
    tangent /= np.hypot(*tangent.T)[:, None]
    return GroundPath(points, arc, np.column_stack([-tangent[:, 1], tangent[:, 0]]))


def _visible_end(scene: Scene, z: np.ndarray, rails: Tuple[np.ndarray, np.ndarray]) -> Optional[int]:
    """Index into ``z`` of the farthest sample where the label map shows either ego rail, or None."""
    seen = np.flatnonzero(_seen(scene.labels, rails[0]) | _seen(scene.labels, rails[1]))
    return int(seen[-1]) if len(seen) else None


def _ego_track(scene: Scene, path: GroundPath, half_width_m: float) -> Tuple[Optional[Dict[str, Any]], List, float]:
    """(the ego track's JSON or None, the envelope polygon, the visible length along the track in metres)."""
    z = np.geomspace(NEAREST_M, scene.config.far, SAMPLES)
    gauge = scene.world.track_look["gauge"]
    y = _rail_heights(scene, z)
    left, right = _project(scene, -gauge / 2, y, z), _project(scene, gauge / 2, y, z)
    end = _visible_end(scene, z, (left, right))
    if end is None:
        return None, [], 0.0
    h = scene.camera.height
    keep = slice(0, end + 1)
    left_line, right_line = _from_bottom(left[keep], h), _from_bottom(right[keep], h)
    centre_line = _from_bottom(((left + right) / 2)[keep], h)
    zero = np.zeros(end + 1)
    env_left = _from_bottom(_project(scene, -half_width_m, zero, z[keep]), h)
    env_right = _from_bottom(_project(scene, half_width_m, zero, z[keep]), h)
    length = float(np.interp(z[end], path.points[:, 0], path.arc_m))

    def pts(a: np.ndarray) -> List[List[float]]:
        return np.round(a, NDIGITS).tolist()

    left_s, right_s = _simplify(left_line), _simplify(right_line)
    ego = {"left_rail": pts(left_s), "right_rail": pts(right_s), "centerline": pts(_simplify(centre_line)),
           "polygon": pts(np.vstack([left_s, right_s[::-1]])), "source": "rails", "length_m": round(length, 3)}
    envelope = pts(np.vstack([_simplify(env_left), _simplify(env_right)[::-1]]))
    return ego, envelope, length


# -------------------------------------------------------------------------------- obstacles

def _object_pixels(scene: Scene) -> Dict[int, Tuple[int, List[int]]]:
    """Object id -> (its pixels in the label map, [u0, v0, u1, v1]), for every object with pixels."""
    if scene.instances is None:
        raise RailSegError("the scene was rendered without its instance map (use make_scene or iter_scenes)")
    object_of = np.array([0] + [int(p.data.get("object_id", 0)) for p in scene.props], dtype=np.int64)
    objects = object_of[scene.instances]
    class_of = np.zeros(len(scene.world.objects) + 1, np.int64)
    for oid, cls in scene.world.objects.items():
        class_of[oid] = cls
    vs, us = np.nonzero((objects > 0) & (scene.labels == class_of[objects]))
    ids = objects[vs, us]
    out: Dict[int, Tuple[int, List[int]]] = {}
    order = np.argsort(ids, kind="stable")
    ids, vs, us = ids[order], vs[order], us[order]
    bounds = np.flatnonzero(np.diff(ids)) + 1
    for a, b in zip(np.concatenate([[0], bounds]), np.concatenate([bounds, [len(ids)]])):
        if b > a:
            out[int(ids[a])] = (int(b - a), [int(us[a:b].min()), int(vs[a:b].min()), int(us[a:b].max()) + 1,
                                             int(vs[a:b].max()) + 1])
    return out


def _footprints(scene: Scene) -> Dict[int, Tuple[float, float, float]]:
    """Object id -> (nearest distance along the line, lateral extent lo, hi) over all its props."""
    out: Dict[int, Tuple[float, float, float]] = {}
    for p in scene.world.props:
        oid = p.data.get("object_id")
        if oid is None:
            continue
        d, lo, hi = out.get(oid, (math.inf, math.inf, -math.inf))
        out[oid] = (min(d, p.d), min(lo, p.lat_span[0], p.lat), max(hi, p.lat_span[1], p.lat))
    return out


def _obstacles(scene: Scene, path: GroundPath, half_width_m: float, length_m: float) -> List[Dict[str, Any]]:
    """Every object with visible pixels, nearest first along the track."""
    pixels = _object_pixels(scene)
    footprints = _footprints(scene)
    reach = length_m + FAR_EXTENSION[0] + FAR_EXTENSION[1] * length_m   # as far as the stage's envelope looks
    found = []
    for oid, (count, bbox) in pixels.items():
        d, lo, hi = footprints[oid]
        z = max(d - scene.s, 0.0)
        lat = min(max(0.0, lo), hi)                  # its footprint's point nearest the centre line
        xy = np.array([[z, -float(scene.world.offset(scene.s, np.asarray(z))) - lat]])
        s, lateral = along_track(path, xy)
        in_envelope = lo <= half_width_m and hi >= -half_width_m and length_m > 0 and float(s[0]) <= reach
        found.append({"class": RAILSEM19.names[scene.world.objects[oid]], "distance_m": round(float(s[0]), 3),
                      "pixels": count, "bbox": bbox, "in_envelope": bool(in_envelope),
                      "lateral_m": round(float(lateral[0]), 3)})
    found.sort(key=lambda o: o["distance_m"])
    return found


def track_truth(scene: Scene, half_width_m: float = ENVELOPE_HALF_WIDTH_M) -> Dict[str, Any]:
    """The ground truth of ``scene`` (from :func:`make_scene` or :func:`iter_scenes`) as a JSON object."""
    path = centre_path(scene)
    ego, envelope, length = _ego_track(scene, path, half_width_m)
    obstacles = _obstacles(scene, path, half_width_m, length)
    blocking = [o for o in obstacles if o["in_envelope"] and o["pixels"] >= MIN_OBSTACLE_PIXELS]
    clear = ego is not None and not blocking
    clear_distance = min(blocking[0]["distance_m"], length) if blocking else length
    return {"ego_track": ego, "envelope": envelope, "obstacles": obstacles, "clear": clear,
            "clear_distance_m": round(max(clear_distance, 0.0), 3), "camera": camera_dict(ground_camera(scene))}


def iter_frames_with_truth(n: int, height: int, width: int, seed: int, sequence: bool = False,
                           config: Optional[SceneConfig] = None) -> Iterator[Tuple[np.ndarray, np.ndarray, Dict]]:
    """(image, labels, track truth) of the frames ``iter_frames`` gives for the same arguments."""
    for scene in iter_scenes(n, height, width, seed, sequence, config):
        yield scene.image, scene.labels, track_truth(scene)


def truth_path(label_path: Path) -> Path:
    """Where the truth of a dataset frame lies: beside its label map, ``<stem>.track.json``."""
    return label_path.with_name(label_path.stem + TRUTH_SUFFIX)


def load_track_truth(label_path: Path) -> Optional[Dict[str, Any]]:
    """The truth written beside a label map by ``rail-seg synth``, or None where there is none."""
    path = truth_path(Path(label_path))
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RailSegError(f"track truth {path}: cannot be read ({exc})") from None
