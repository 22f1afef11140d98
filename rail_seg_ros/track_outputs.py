"""Track ahead in the node: the stage on every frame's labels, and its outputs in standard message types.

The node creates one :class:`TrackOutputs` at configure when track ahead runs (:func:`track_state`
decides from ``track.mode``, the card's label set and ``track.camera_height``). The worker calls
:meth:`TrackOutputs.process` after segmentation (the overlay gets the ego track, envelope and obstacles
drawn on it) and :meth:`TrackOutputs.publish` with the input's header after the image outputs:

* ``~/track/ego_path_image`` geometry_msgs/PolygonStamped: the ego-path region, pixels of the outputs;
* ``~/track/ego_path`` nav_msgs/Path: the centre line on the ground, metres, nearest first;
* ``~/track/markers`` visualization_msgs/MarkerArray: rails, centre line, envelope, obstacles;
* ``~/track/status`` diagnostic_msgs/DiagnosticArray: one status, message ``clear for 212 m`` /
  ``obstacle: human at 23.4 m`` / ``no ego track``.

Frames: the path and the markers are in the input's frame (the camera optical frame: x right, y down,
z ahead) unless ``track.ground_frame_id`` names the ground frame under the camera (X ahead, Y left, Z up,
origin on the rail-head plane below the camera's centre; see :mod:`rail_seg_ros.track.camera`). Intrinsics
come from the newest ``camera_info`` message, or ``track.camera_info_file`` until one arrives.
"""
# The Jetson target runs Python 3.8: typing.Dict/List/Optional/Tuple on purpose.

import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point, Point32, PolygonStamped, PoseStamped
from nav_msgs.msg import Path
from visualization_msgs.msg import Marker, MarkerArray

from .contract import (
    INPUT_CAMERA_INFO,
    PRIVATE,
    TRACK_DISABLED,
    TRACK_ENABLED,
    TRACK_MARKERS,
    TRACK_PATH,
    TRACK_POLYGON,
    TRACK_STATUS,
    TrackStatusKey,
    track_status_name,
)
from .errors import RailSegError
from .labels import RAILSEM19
from .track import GroundCamera, Intrinsics, TrackAhead, TrackConfig, TrackResult, draw_track, load_camera_info
from .track.draw import BLOCKED, CLEAR, ENVELOPE, POSTS_M, RAILS

Warn = Callable[[str, str], None]   # (key, text): the node's warn-once


def track_config(params: Dict[str, Any]) -> TrackConfig:
    """The stage's configuration from the node's ``track.*`` parameters (RailSegError naming a bad one)."""
    classes = tuple(c.strip() for c in str(params["track.obstacle_classes"]).split(",") if c.strip())
    try:
        return TrackConfig(gauge_m=params["track.gauge"], envelope_half_width_m=params["track.envelope_half_width"],
                           envelope_height_m=params["track.envelope_height"], obstacle_classes=classes,
                           any_obstacle=params["track.any_obstacle"],
                           min_obstacle_pixels=params["track.min_obstacle_pixels"],
                           refine_pitch=params["track.refine_pitch"])
    except RailSegError as exc:   # name the parameters, not the stage's fields
        raise RailSegError(f"track.* parameters: {exc}") from None


def track_state(params: Dict[str, Any], label_set: str) -> Optional[str]:
    """None when track ahead runs, else why not; RailSegError when ``track.mode: enabled`` cannot run."""
    mode = params["track.mode"]
    if mode == TRACK_DISABLED:
        return f"track.mode is {TRACK_DISABLED}"
    reason = None
    if label_set != RAILSEM19.name:
        reason = f"the card's label set is {label_set}, not {RAILSEM19.name}"
    elif not params["track.camera_height"] > 0:
        reason = "track.camera_height is not set"
    if reason is not None and mode == TRACK_ENABLED:
        raise RailSegError(f"track.mode is {TRACK_ENABLED} but {reason}")
    return reason


def _quaternion(rotation: np.ndarray) -> Tuple[float, float, float, float]:
    """(x, y, z, w) of a 3 x 3 rotation matrix."""
    m = rotation
    w = np.sqrt(max(0.0, 1.0 + m[0, 0] + m[1, 1] + m[2, 2])) / 2
    x = np.copysign(np.sqrt(max(0.0, 1.0 + m[0, 0] - m[1, 1] - m[2, 2])) / 2, m[2, 1] - m[1, 2])
    y = np.copysign(np.sqrt(max(0.0, 1.0 - m[0, 0] + m[1, 1] - m[2, 2])) / 2, m[0, 2] - m[2, 0])
    z = np.copysign(np.sqrt(max(0.0, 1.0 - m[0, 0] - m[1, 1] + m[2, 2])) / 2, m[1, 0] - m[0, 1])
    return float(x), float(y), float(z), float(w)


class _Frame:
    """Ground points (X ahead, Y left, Z up) as the path's and markers' frame holds them."""

    def __init__(self, camera: GroundCamera, ground: bool) -> None:
        self.camera, self.ground = camera, ground

    def points(self, xy: np.ndarray, z: float = 0.0) -> np.ndarray:
        """N x 2 ground points at height ``z`` -> N x 3 in this frame."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        return self.points3(np.column_stack([xy, np.full(len(xy), z)]))

    def points3(self, xyz: np.ndarray) -> np.ndarray:
        """N x 3 ground-frame points -> N x 3 in this frame."""
        return xyz if self.ground else self.camera.to_optical(xyz)

    def rotation(self, yaw: float) -> np.ndarray:
        c, s = np.cos(yaw), np.sin(yaw)
        heading = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        return heading if self.ground else self.camera.optical_to_ground.T @ heading


def _line(ns: str, index: int, kind: int, header: Any, points: np.ndarray, colour: Tuple[int, int, int],
          width: float) -> Marker:
    marker = Marker(ns=ns, id=index, type=kind, action=Marker.ADD)
    marker.header = header
    marker.pose.orientation.w = 1.0
    marker.scale.x = width
    marker.color.r, marker.color.g, marker.color.b = (c / 255.0 for c in colour)
    marker.color.a = 1.0
    marker.points = [Point(x=float(p[0]), y=float(p[1]), z=float(p[2])) for p in points]
    return marker


def _envelope_lines(result: TrackResult) -> List[np.ndarray]:
    """The envelope in the ground frame (N x 3 polylines): its four long edges, and cross-sections (ground,
    up, across the top, down) at the distances the overlay marks."""
    ego = result.ego_track
    env = ego.envelope
    pts, normals, arc = ego.ground.points, ego.ground.normals, ego.ground.arc_m
    left, right = pts + normals * env.half_width_m, pts - normals * env.half_width_m

    def at(xy: np.ndarray, z: float) -> np.ndarray:
        return np.column_stack([xy, np.full(len(xy), z)])

    lines = [at(left, 0.0), at(right, 0.0), at(left, env.height_m), at(right, env.height_m)]
    for d in POSTS_M:
        if arc[0] <= d <= arc[-1]:
            k = int(np.argmin(np.abs(arc - d)))
            lines.append(np.array([[*left[k], 0.0], [*left[k], env.height_m], [*right[k], env.height_m],
                                   [*right[k], 0.0]]))
    return lines


class TrackOutputs:
    """The track-ahead stage and its four publishers for one configured node."""

    def __init__(self, node: Any, params: Dict[str, Any], qos: Any, qualified_name: Callable[[], str],
                 warn: Warn) -> None:
        self.stage = TrackAhead(track_config(params))
        self.height_m = params["track.camera_height"]
        self.pitch_deg = params["track.camera_pitch"]
        self.roll_deg = params["track.camera_roll"]
        self.ground_frame_id = params["track.ground_frame_id"]
        self._qualified_name = qualified_name
        self._warn = warn
        self._lock = threading.Lock()
        self._intrinsics: Optional[Intrinsics] = None
        if params["track.camera_info_file"]:
            self._intrinsics = Intrinsics.from_msg(load_camera_info(params["track.camera_info_file"]))
        GroundCamera(self._intrinsics or Intrinsics(2, 2, 1.0, 1.0, 1.0, 1.0), self.height_m, self.pitch_deg,
                     self.roll_deg)   # a bad mounting fails configure, not every frame
        self._node = node
        self._publishers = {
            TRACK_POLYGON: node.create_publisher(PolygonStamped, PRIVATE + TRACK_POLYGON, qos),
            TRACK_PATH: node.create_publisher(Path, PRIVATE + TRACK_PATH, qos),
            TRACK_MARKERS: node.create_publisher(MarkerArray, PRIVATE + TRACK_MARKERS, qos),
            TRACK_STATUS: node.create_publisher(DiagnosticArray, PRIVATE + TRACK_STATUS, qos),
        }

    def destroy(self) -> None:
        for publisher in self._publishers.values():
            self._node.destroy_publisher(publisher)
        self._publishers = {}

    # -- the camera (executor thread) -------------------------------------------------------------
    def set_camera_info(self, msg: Any) -> None:
        """The newest camera_info's intrinsics; a bad one is warned about and the previous kept."""
        try:
            intrinsics = Intrinsics.from_msg(msg)
        except RailSegError as exc:
            self._warn("track_camera_info", f"track ahead: {INPUT_CAMERA_INFO} not used: {exc}")
            return
        with self._lock:
            self._intrinsics = intrinsics

    def camera(self, width: int, height: int) -> Optional[GroundCamera]:
        """The mounting with the newest intrinsics, at the labels' size; None before any intrinsics."""
        with self._lock:
            intrinsics = self._intrinsics
        if intrinsics is None:
            return None
        return GroundCamera(intrinsics, self.height_m, self.pitch_deg, self.roll_deg).for_size(width, height)

    # -- the worker --------------------------------------------------------------------------------
    def process(self, segmentation: Any) -> Optional[Tuple[TrackResult, GroundCamera]]:
        """Run the stage on ``segmentation.labels``; draw it on ``segmentation.overlay`` where there is one."""
        labels = segmentation.labels
        camera = self.camera(labels.shape[1], labels.shape[0])
        if camera is None:
            self._warn("track_camera", f"track ahead: no {INPUT_CAMERA_INFO} message yet and no "
                                       "track.camera_info_file; frames go without track outputs")
            return None
        result = self.stage.run(labels, camera)
        if result.pitch_deg != camera.pitch_deg:
            camera = camera.with_pitch(result.pitch_deg)   # the refined pitch the distances used
        if segmentation.overlay is not None:
            segmentation.overlay = draw_track(segmentation.overlay, result)
        return result, camera

    def publish(self, header: Any, result: TrackResult, camera: GroundCamera) -> None:
        """Every track output of one frame, each with ``header`` (the input's)."""
        frame_header = header
        if self.ground_frame_id:
            frame_header = type(header)(stamp=header.stamp, frame_id=self.ground_frame_id)
        frame = _Frame(camera, bool(self.ground_frame_id))
        self._publishers[TRACK_POLYGON].publish(self._polygon(header, result))
        self._publishers[TRACK_PATH].publish(self._path(frame_header, result, frame))
        self._publishers[TRACK_MARKERS].publish(self._markers(frame_header, result, frame))
        self._publishers[TRACK_STATUS].publish(self._status(header, result))

    # -- the messages ------------------------------------------------------------------------------
    @staticmethod
    def _polygon(header: Any, result: TrackResult) -> PolygonStamped:
        msg = PolygonStamped()
        msg.header = header
        if result.ego_track is not None:
            msg.polygon.points = [Point32(x=float(u), y=float(v), z=0.0) for u, v in result.ego_track.polygon]
        return msg

    @staticmethod
    def _path(header: Any, result: TrackResult, frame: _Frame) -> Path:
        msg = Path()
        msg.header = header
        if result.ego_track is None:
            return msg
        ground = result.ego_track.ground
        xyz = frame.points(ground.points)
        tangent = np.column_stack([ground.normals[:, 1], -ground.normals[:, 0]])   # the normal is to its left
        for point, (dx, dy) in zip(xyz, tangent):
            pose = PoseStamped()
            pose.header = header
            pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = (float(c) for c in point)
            q = _quaternion(frame.rotation(float(np.arctan2(dy, dx))))
            pose.pose.orientation.x, pose.pose.orientation.y, pose.pose.orientation.z, pose.pose.orientation.w = q
            msg.poses.append(pose)
        return msg

    @staticmethod
    def _markers(header: Any, result: TrackResult, frame: _Frame) -> MarkerArray:
        """DELETEALL first (the previous frame's markers go), then this frame's."""
        clear = Marker(action=Marker.DELETEALL)
        clear.header = header
        markers = [clear]
        ego = result.ego_track
        if ego is not None:
            colour = CLEAR if result.clear else BLOCKED
            for i, rail in enumerate((ego.left_rail, ego.right_rail)):
                ground = frame.camera.to_ground(rail)
                ground = ground[np.isfinite(ground).all(axis=1)]
                markers.append(_line("rails", i, Marker.LINE_STRIP, header, frame.points(ground), RAILS, 0.08))
            markers.append(_line("centerline", 0, Marker.LINE_STRIP, header, frame.points(ego.ground.points),
                                 colour, 0.12))
            for i, line in enumerate(_envelope_lines(result)):
                markers.append(_line("envelope", i, Marker.LINE_STRIP, header, frame.points3(line), ENVELOPE, 0.05))
        for i, obstacle in enumerate(result.obstacles):
            contact = frame.camera.to_ground(np.array([obstacle.contact]))
            if not np.isfinite(contact).all():
                continue
            base = frame.points(contact)[0]
            text = _line("obstacles", i, Marker.TEXT_VIEW_FACING, header, np.zeros((0, 3)), BLOCKED, 0.0)
            text.pose.position.x, text.pose.position.y, text.pose.position.z = (float(c) for c in base)
            text.scale.z = 0.8
            text.text = f"{obstacle.class_name} {obstacle.distance_m:.1f} m"
            markers.append(text)
        return MarkerArray(markers=markers)

    def _status(self, header: Any, result: TrackResult) -> DiagnosticArray:
        first = result.first_obstacle
        if result.ego_track is None:
            level = DiagnosticStatus.STALE
        else:
            level = DiagnosticStatus.OK if result.clear else DiagnosticStatus.WARN
        ego = result.ego_track
        values = [
            (TrackStatusKey.CLEAR, "true" if result.clear else "false"),
            (TrackStatusKey.CLEAR_DISTANCE, f"{result.clear_distance_m:.2f}"),
            (TrackStatusKey.OBSTACLES, str(len(result.obstacles))),
            (TrackStatusKey.OBSTACLE_CLASS, first.class_name if first else ""),
            (TrackStatusKey.OBSTACLE_DISTANCE, f"{first.distance_m:.2f}" if first else ""),
            (TrackStatusKey.SOURCE, ego.source if ego else ""),
            (TrackStatusKey.LENGTH, f"{ego.length_m:.2f}" if ego else "0.00"),
            (TrackStatusKey.PITCH, f"{result.pitch_deg:.3f}"),
            (TrackStatusKey.PITCH_ESTIMATE, "" if result.pitch_estimate_deg is None
             else f"{result.pitch_estimate_deg:.3f}"),
        ]
        status = DiagnosticStatus(level=level, name=track_status_name(self._qualified_name()),
                                  message=result.status)
        status.values = [KeyValue(key=k, value=v) for k, v in values]
        msg = DiagnosticArray()
        msg.header = header
        msg.status = [status]
        return msg
