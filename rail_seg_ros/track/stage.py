"""The track-ahead stage: a RailSem19 label map and the camera in, the ego track, envelope and obstacles out.

One call per frame, ``TrackAhead(config).run(labels, camera) -> TrackResult``; the node, the CLI and the
bench all use it. Nothing here imports ROS.
"""

import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..errors import RailSegError
from .camera import GroundCamera
from .config import TrackConfig
from .envelope import Envelope, GroundPath, ground_path, make_envelope
from .obstacles import Obstacle, find_obstacles
from .pitch import estimate_pitch
from .rails import RailPath, RowGrid, find_rails, row_grid


@dataclass(frozen=True)
class EgoTrack:
    """The track the vehicle runs on, in pixels of the label map (N x 2 arrays of (u, v), nearest first)."""

    left_rail: np.ndarray
    right_rail: np.ndarray
    centerline: np.ndarray
    polygon: np.ndarray       # the ego-path region: left rail out, right rail back
    source: str               # "rails", or "track-classes" where the rails themselves were not seen
    ground: GroundPath        # the centre line on the ground (ground frame of the camera, metres)
    envelope: Envelope

    @property
    def length_m(self) -> float:
        return self.ground.length_m


@dataclass
class TrackResult:
    """What lies ahead. ``clear`` is True only when an ego track was found and nothing stands in its envelope;
    ``clear_distance_m`` is how far along it the envelope is seen and free (0 without a track)."""

    ego_track: Optional[EgoTrack]
    obstacles: List[Obstacle]
    clear: bool
    clear_distance_m: float
    pitch_deg: float                       # the pitch the distances use
    pitch_estimate_deg: Optional[float]    # the pitch the rails' gauge implies, where they were seen well enough
    timings_ms: Dict[str, float] = field(default_factory=dict)

    @property
    def first_obstacle(self) -> Optional[Obstacle]:
        return self.obstacles[0] if self.obstacles else None

    @property
    def status(self) -> str:
        """One line for the vehicle: ``clear for 212 m``, ``obstacle: human at 43.1 m``, ``no ego track``."""
        if self.ego_track is None:
            return "no ego track"
        if self.obstacles:
            o = self.obstacles[0]
            return f"obstacle: {o.class_name} at {o.distance_m:.1f} m"
        return f"clear for {self.clear_distance_m:.0f} m"

    def to_dict(self, image: Optional[str] = None, ndigits: int = 1) -> Dict[str, Any]:
        """The JSON object ``rail-seg track-ahead --json`` prints for one input."""

        def pts(a: np.ndarray) -> List[List[float]]:
            return np.round(a, ndigits).tolist()

        ego = None
        if self.ego_track is not None:
            t = self.ego_track
            ego = {"left_rail": pts(t.left_rail), "right_rail": pts(t.right_rail), "centerline": pts(t.centerline),
                   "polygon": pts(t.polygon), "source": t.source, "length_m": round(t.length_m, 2)}
        obstacles = [{"class": o.class_name, "distance_m": round(o.distance_m, 2), "pixels": o.pixels,
                      "bbox": list(o.bbox), "lateral_m": round(o.lateral_m, 2),
                      "contact": [round(c, ndigits) for c in o.contact]} for o in self.obstacles]
        out: Dict[str, Any] = {} if image is None else {"image": image}
        out.update({"ego_track": ego, "obstacles": obstacles, "clear": self.clear,
                    "clear_distance_m": round(self.clear_distance_m, 2), "status": self.status,
                    "pitch_deg": round(self.pitch_deg, 3),
                    "pitch_estimate_deg": None if self.pitch_estimate_deg is None else round(self.pitch_estimate_deg, 3)})
        return out


def _ego_track(camera: GroundCamera, path: RailPath, cfg: TrackConfig) -> Optional[EgoTrack]:
    left = np.column_stack([path.left_u, path.v])
    right = np.column_stack([path.right_u, path.v])
    centre = (left + right) / 2
    ground = ground_path(camera, centre)
    if ground is None:
        return None
    envelope = make_envelope(camera, ground, cfg.envelope_half_width_m, cfg.envelope_height_m)
    return EgoTrack(left, right, centre, np.vstack([left, right[::-1]]), path.source, ground, envelope)


class TrackAhead:
    """Finds the ego track, its clearance envelope and the obstacles on it, frame by frame."""

    def __init__(self, config: Optional[TrackConfig] = None) -> None:
        self.config = config or TrackConfig()
        self._grids: Dict[Tuple[Any, ...], Optional[RowGrid]] = {}

    def _grid(self, camera: GroundCamera) -> Optional[RowGrid]:
        key = (camera.intrinsics, camera.height_m, camera.pitch_deg, camera.roll_deg)
        if key not in self._grids:
            if len(self._grids) > 8:
                self._grids.clear()
            self._grids[key] = row_grid(camera, self.config)
        return self._grids[key]

    def run(self, labels: np.ndarray, camera: GroundCamera) -> TrackResult:
        """``labels``: H x W uint8 RailSem19 ids; ``camera`` is scaled to its size when calibrated at another."""
        if labels.ndim != 2 or labels.dtype != np.uint8:
            raise RailSegError(f"label map of shape {labels.shape} and type {labels.dtype}: expected H x W uint8")
        cfg = self.config
        camera = camera.for_size(labels.shape[1], labels.shape[0])
        t0 = time.perf_counter()
        grid = self._grid(camera)
        path = find_rails(labels, camera, grid, cfg) if grid is not None else None
        t1 = time.perf_counter()
        estimate = estimate_pitch(camera, path, cfg.gauge_m) if path is not None else None
        if cfg.refine_pitch and estimate is not None:
            camera = camera.with_pitch(estimate)
        ego = _ego_track(camera, path, cfg) if path is not None else None
        t2 = time.perf_counter()
        obstacles: List[Obstacle] = []
        if ego is not None:
            obstacles = find_obstacles(labels, camera, ego.ground, ego.envelope, cfg.obstacle_ids,
                                       cfg.min_obstacle_pixels, cfg.gauge_m)
        t3 = time.perf_counter()
        if ego is None:
            clear, clear_distance = False, 0.0
        elif obstacles:
            clear, clear_distance = False, min(obstacles[0].distance_m, ego.length_m)
        else:
            clear, clear_distance = True, ego.length_m
        timings = {"rails": (t1 - t0) * 1e3, "envelope": (t2 - t1) * 1e3, "obstacles": (t3 - t2) * 1e3}
        return TrackResult(ego, obstacles, clear, max(clear_distance, 0.0), camera.pitch_deg, estimate, timings)
