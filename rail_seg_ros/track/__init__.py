"""Track ahead: the ego track, its clearance envelope, the obstacles on it and how far away they are.

ROS-free. ``camera``: the flat-ground camera model and CameraInfo YAML; ``rails``: the ego rails
found bottom-up in a label map; ``envelope``: the path on the ground and the clearance envelope;
``obstacles``: regions standing in it; ``pitch``: the pitch the gauge implies; ``stage``: the one
call, ``TrackAhead(config).run(labels, camera) -> TrackResult``; ``draw``: the overlay; ``score``:
figures against ground truth. Everything public is importable from ``rail_seg_ros.track``.
"""

from .camera import GroundCamera, Intrinsics, load_camera_info
from .config import DEFAULT_OBSTACLES, ENVELOPE_HALF_WIDTH_M, ENVELOPE_HEIGHT_M, STANDARD_GAUGE_M, TrackConfig
from .draw import draw_track
from .envelope import Envelope, GroundPath
from .obstacles import Obstacle
from .rails import RailPath
from .score import ego_path_iou, match_obstacles, rail_position_error, score_frame, summarise
from .stage import EgoTrack, TrackAhead, TrackResult

__all__ = [
    "DEFAULT_OBSTACLES",
    "ENVELOPE_HALF_WIDTH_M",
    "ENVELOPE_HEIGHT_M",
    "STANDARD_GAUGE_M",
    "EgoTrack",
    "Envelope",
    "GroundCamera",
    "GroundPath",
    "Intrinsics",
    "Obstacle",
    "RailPath",
    "TrackAhead",
    "TrackConfig",
    "TrackResult",
    "draw_track",
    "ego_path_iou",
    "load_camera_info",
    "match_obstacles",
    "rail_position_error",
    "score_frame",
    "summarise",
]
