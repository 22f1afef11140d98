"""Track ahead in segmentation_node, with real rclpy and DDS on loopback (domain 70 of its own).

Frames are read from a bag and sent to the node; its backend is replaced by one that returns label
maps drawn with the camera model (test/track/conftest.py), so the ego track, the obstacle and the
empty scene are known exactly. Every track output must carry the input frame's header.
"""

import os
import threading
from pathlib import Path
from typing import Any, Callable, Dict, List

import numpy as np
import pytest
import yaml

rclpy = pytest.importorskip("rclpy")

from conftest import KeepsMessages, ros_domain, spin_in_thread, wait_for, write_small_card  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from geometry_msgs.msg import PolygonStamped  # noqa: E402
from nav_msgs.msg import Path as PathMsg  # noqa: E402
from rclpy.context import Context  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from track.conftest import Scene, camera, curve  # noqa: E402
from visualization_msgs.msg import Marker, MarkerArray  # noqa: E402

from rail_seg_ros import bag, image_codec  # noqa: E402
from rail_seg_ros.contract import (  # noqa: E402
    DIAGNOSTICS_TOPIC,
    INPUT_CAMERA_INFO,
    INPUT_IMAGE,
    NODE_NAME,
    OUTPUT_OVERLAY,
    TRACK_DISABLED,
    TRACK_ENABLED,
    TRACK_MARKERS,
    TRACK_OUTPUTS,
    TRACK_PATH,
    TRACK_POLYGON,
    TRACK_STATUS,
    Diag,
    Stage,
    TrackStatusKey,
    join_name,
    stage_key,
    status_name,
    track_status_name,
)
from rail_seg_ros.errors import RailSegError  # noqa: E402
from rail_seg_ros.labels import RAILSEM19  # noqa: E402
from rail_seg_ros.node import SegmentationNode  # noqa: E402
from rail_seg_ros.track_outputs import track_state  # noqa: E402

DOMAIN_ID = ros_domain(70)
HEIGHT, WIDTH = 272, 480
CAM = camera(WIDTH, HEIGHT, height_m=2.4, pitch=4.0)
WAIT_S = 30.0


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = WAIT_S, describe=lambda: "") -> None:
    wait_for(predicate, what, timeout, describe)

MSG_TYPES = {TRACK_POLYGON: PolygonStamped, TRACK_PATH: PathMsg, TRACK_MARKERS: MarkerArray,
             TRACK_STATUS: DiagnosticArray}


def scenes() -> List[np.ndarray]:
    """Frame 0: a clear straight track; 1: a person on it 30 m ahead; 2: no track at all."""
    return [Scene(CAM).track(curve(None)).labels(),
            Scene(CAM).track(curve(None)).box("human", 30.0, 0.3).labels(),
            Scene(CAM).labels()]


@pytest.fixture(scope="module")
def context():
    os.environ.update({"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "ROS_LOCALHOST_ONLY": "1",
                       "ROS_DOMAIN_ID": str(DOMAIN_ID)})
    ctx = Context()
    rclpy.init(context=ctx, domain_id=DOMAIN_ID)
    yield ctx
    rclpy.try_shutdown(context=ctx)


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> Dict[str, Any]:
    """The card (RailSem19, the frames' size), the camera YAML and a bag whose frames encode their index."""
    folder = tmp_path_factory.mktemp("track_node")
    card = write_small_card(folder, size=(HEIGHT, WIDTH))
    i = CAM.intrinsics
    info = folder / "camera.yaml"
    info.write_text(yaml.safe_dump({"image_width": WIDTH, "image_height": HEIGHT, "distortion_model": "plumb_bob",
                                    "camera_matrix": {"rows": 3, "cols": 3, "data": i.matrix.ravel().tolist()},
                                    "distortion_coefficients": {"rows": 1, "cols": 5, "data": [0.0] * 5}}))
    labels = scenes()
    frames = []
    for index, lab in enumerate(labels):
        image = RAILSEM19.palette[lab].astype(np.uint8)
        image[0, 0] = (index, 0, 0)   # the fake backend reads which scene this is
        frames.append((image, None))
    path = bag.write_frames_bag(folder / "drive", frames, fps=10.0, progress=False)
    return {"card": card, "camera_info": info, "bag": path, "labels": labels}


class TrackHarness(KeepsMessages):
    """The node (its backend returning the drawn label maps) and a peer sending bag frames, keeping outputs."""

    def __init__(self, context: Context, namespace: str, params: Dict[str, Any], labels: List[np.ndarray]) -> None:
        overrides = [Parameter(k, value=v) for k, v in params.items()]
        self.node = SegmentationNode(namespace=namespace, context=context, parameter_overrides=overrides)
        if self.node._segmenter is not None:
            self.node._segmenter.backend.infer = lambda batch: {"labels": labels[int(batch[0, 0, 0, 0])][None]}
        self.namespace = namespace
        self.peer = rclpy.create_node("peer", namespace=namespace, context=context)
        self.lock = threading.Lock()
        self.got: Dict[str, List[Any]] = {name: [] for name in list(MSG_TYPES) + [OUTPUT_OVERLAY, "diagnostics"]}
        self.kept = self.got
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.image_pub = self.peer.create_publisher(Image, INPUT_IMAGE, reliable)
        self.info_pub = self.peer.create_publisher(CameraInfo, INPUT_CAMERA_INFO, reliable)
        base = join_name(namespace, NODE_NAME)
        self.subs = [self.peer.create_subscription(t, f"{base}/{n}", self._keeper(n), reliable)
                     for n, t in MSG_TYPES.items()]
        self.peer.create_subscription(Image, f"{base}/{OUTPUT_OVERLAY}", self._keeper(OUTPUT_OVERLAY), reliable)
        self.peer.create_subscription(DiagnosticArray, DIAGNOSTICS_TOPIC, self._keeper("diagnostics"), 10)
        self.executor, self.thread = spin_in_thread(context, self.node, self.peer)

    def send_bag(self, path: Path, wait_for: str = TRACK_STATUS) -> List[Any]:
        """Every frame of the bag as recorded (header included), one at a time, each ``wait_for`` output awaited."""
        wait_until(lambda: self.image_pub.get_subscription_count() > 0
                   and all(s.get_publisher_count() > 0 for s in self.subs), "the node and the peer to connect")
        headers = []
        for frame in bag.read_frames(path):
            msg = image_codec.fill_image_msg(Image(), frame.image, "rgb8")
            msg.header.frame_id = str(frame.msg.header.frame_id)
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(frame.stamp_ns, 1_000_000_000)
            self.image_pub.publish(msg)
            wait_until(lambda sent=msg: self.output(wait_for, sent.header) is not None, f"~/{wait_for}")
            headers.append(msg.header)
        return headers

    def output(self, name: str, header: Any) -> Any:
        with self.lock:
            return next((m for m in self.got[name] if same_stamp(header_of(m), header)), None)

    def diagnostics(self) -> Dict[str, str]:
        with self.lock:
            arrays = list(self.got["diagnostics"])
        mine = [s for a in arrays for s in a.status if s.name == status_name(join_name(self.namespace, NODE_NAME))]
        return {kv.key: kv.value for kv in mine[-1].values} if mine else {}


def header_of(msg: Any) -> Any:
    """A message's header; a MarkerArray has none of its own: its first marker's (always a DELETEALL)."""
    return msg.markers[0].header if isinstance(msg, MarkerArray) else msg.header


def same_stamp(a: Any, b: Any) -> bool:
    return (a.stamp.sec, a.stamp.nanosec) == (b.stamp.sec, b.stamp.nanosec)


@pytest.fixture
def harness(context, setup, request):
    made: List[TrackHarness] = []

    def make(**params: Any) -> TrackHarness:
        values = {"model": str(setup["card"]), "backend": "torch", "device": "cpu", "warmup_frames": 0,
                  "track.camera_height": 2.4, "track.camera_pitch": 4.0,
                  "track.camera_info_file": str(setup["camera_info"])}
        values.update(params)
        made.append(TrackHarness(context, f"{request.node.name}_{len(made)}", values, setup["labels"]))
        return made[-1]

    yield make
    for h in made:
        h.close()


def status_of(msg: DiagnosticArray) -> Dict[str, Any]:
    status = msg.status[0]
    return dict({kv.key: kv.value for kv in status.values}, level=status.level, message=status.message,
                name=status.name)


def test_the_node_publishes_track_outputs_for_bag_frames_with_their_header(harness, setup):
    h = harness()
    headers = h.send_bag(setup["bag"])
    assert len(headers) == 3
    for header in headers:   # every output, the input's stamp and frame (the optical frame by default)
        for name in MSG_TYPES:
            msg = h.output(name, header)
            assert msg is not None, name
            assert header_of(msg).frame_id == header.frame_id == "camera"
        for marker in h.output(TRACK_MARKERS, header).markers:
            assert same_stamp(marker.header, header) and marker.header.frame_id == "camera"
    clear, blocked, empty = (status_of(h.output(TRACK_STATUS, hd)) for hd in headers)
    assert clear["level"] == DiagnosticStatus.OK and clear["message"].startswith("clear for")
    assert clear["name"] == track_status_name(join_name(h.namespace, NODE_NAME))
    assert clear[TrackStatusKey.CLEAR] == "true" and float(clear[TrackStatusKey.CLEAR_DISTANCE]) > 100
    assert clear[TrackStatusKey.SOURCE] == "rails"
    assert blocked["level"] == DiagnosticStatus.WARN and blocked["message"].startswith("obstacle: human at")
    assert blocked[TrackStatusKey.OBSTACLE_CLASS] == "human"
    assert abs(float(blocked[TrackStatusKey.OBSTACLE_DISTANCE]) - 30.0) < 1.5
    assert empty["level"] == DiagnosticStatus.STALE and empty["message"] == "no ego track"
    assert empty[TrackStatusKey.CLEAR] == "false" and empty[TrackStatusKey.SOURCE] == ""

    polygon = h.output(TRACK_POLYGON, headers[0]).polygon.points
    uv = np.array([(p.x, p.y) for p in polygon])
    assert len(uv) > 20 and uv[:, 1].max() > HEIGHT * 0.9 and 0 < uv[:, 0].min() < uv[:, 0].max() < WIDTH
    assert not h.output(TRACK_POLYGON, headers[2]).polygon.points
    assert not h.output(TRACK_PATH, headers[2]).poses

    # the path in the optical frame: ahead is +z, the track centred, every point on the ground plane 2.4 m
    # below the camera along "down", which is (0, cos pitch, sin pitch) in that frame
    poses = h.output(TRACK_PATH, headers[0]).poses
    xyz = np.array([(p.pose.position.x, p.pose.position.y, p.pose.position.z) for p in poses])
    assert len(xyz) > 20 and np.all(np.diff(xyz[:, 2]) > 0) and xyz[-1, 2] > 100
    down = np.array([0.0, np.cos(np.radians(4.0)), np.sin(np.radians(4.0))])
    assert np.all(np.abs(xyz[:, 0]) < 0.3) and np.allclose(xyz @ down, 2.4, atol=1e-6)
    kinds = {(m.ns, m.type) for m in h.output(TRACK_MARKERS, headers[1]).markers}
    assert {("rails", Marker.LINE_STRIP), ("envelope", Marker.LINE_STRIP),
            ("obstacles", Marker.TEXT_VIEW_FACING)} <= kinds
    assert h.output(TRACK_MARKERS, headers[0]).markers[0].action == Marker.DELETEALL

    # the overlay has the status bar and the ego path drawn on it (the palette image alone has neither)
    wait_until(lambda: h.output(OUTPUT_OVERLAY, headers[0]) is not None, "the overlay")
    overlay = h.output(OUTPUT_OVERLAY, headers[0])
    drawn = image_codec.decode_image(overlay.encoding, overlay.height, overlay.width, overlay.step, overlay.data)
    assert np.all(drawn[0:2, :60] == 0)   # the status bar above its text
    plain = RAILSEM19.palette[setup["labels"][0]]
    assert np.mean(np.any(drawn != plain, axis=2)) > 0.05

    wait_until(lambda: h.diagnostics().get(Diag.PUBLISHED) == "3", "the diagnostics of three frames")
    wait_until(lambda: h.diagnostics().get(stage_key(Stage.TRACK), "nan") != "nan", "the track stage time")
    diag = h.diagnostics()
    assert diag[Diag.TRACK_AHEAD] == "running" and float(diag[stage_key(Stage.TRACK)]) > 0


def test_a_named_ground_frame_holds_the_path_in_metres_ahead(harness, setup):
    h = harness(**{"track.ground_frame_id": "rail_ground"})
    headers = h.send_bag(setup["bag"])
    path = h.output(TRACK_PATH, headers[0])
    assert path.poses[0].header.frame_id == "rail_ground"
    assert path.header.frame_id == "rail_ground" and same_stamp(path.header, headers[0])
    assert h.output(TRACK_POLYGON, headers[0]).header.frame_id == "camera"   # pixels stay the image's
    xyz = np.array([(p.pose.position.x, p.pose.position.y, p.pose.position.z) for p in path.poses])
    assert 2.0 < xyz[0, 0] < 40.0 and xyz[-1, 0] > 100 and np.abs(xyz[:, 1]).max() < 0.3
    assert np.allclose(xyz[:, 2], 0.0)
    # straight ahead: each pose faces +X (identity orientation)
    q = path.poses[len(path.poses) // 2].pose.orientation
    assert abs(q.w) > 0.999
    markers = h.output(TRACK_MARKERS, headers[1]).markers
    text = next(m for m in markers if m.ns == "obstacles")
    assert abs(text.pose.position.x - 30.0) < 1.5 and text.header.frame_id == "rail_ground"


def test_intrinsics_come_from_camera_info_at_another_size(harness, setup):
    """Without a file the node waits for camera_info; one at twice the outputs' size is scaled down."""
    h = harness(**{"track.camera_info_file": ""})
    before = h.send_bag(setup["bag"], wait_for=OUTPUT_OVERLAY)
    assert all(h.output(TRACK_STATUS, header) is None for header in before)   # no intrinsics yet
    i = CAM.intrinsics
    info = CameraInfo(width=2 * WIDTH, height=2 * HEIGHT, distortion_model="plumb_bob", d=[0.0] * 5)
    info.k = [2 * i.fx, 0.0, 2 * i.cx, 0.0, 2 * i.fy, 2 * i.cy, 0.0, 0.0, 1.0]
    wait_until(lambda: h.info_pub.get_subscription_count() > 0, "the camera_info subscription")
    h.info_pub.publish(info)
    wait_until(lambda: h.node._track.camera(WIDTH, HEIGHT) is not None, "the intrinsics")
    status = status_of(h.output(TRACK_STATUS, h.send_bag(setup["bag"])[1]))
    assert abs(float(status[TrackStatusKey.OBSTACLE_DISTANCE]) - 30.0) < 1.5


def test_track_ahead_off_publishes_nothing_and_says_why(harness, setup):
    h = harness(**{"track.mode": TRACK_DISABLED})
    assert h.node._track is None
    assert all(h.node.count_publishers(join_name(h.namespace, NODE_NAME, o.name)) == 0 for o in TRACK_OUTPUTS)
    wait_until(lambda: bool(h.diagnostics()), "the diagnostics")
    assert h.diagnostics()[Diag.TRACK_AHEAD] == f"off: track.mode is {TRACK_DISABLED}"
    h2 = harness(**{"track.camera_height": 0.0})
    assert h2.node._track is None   # auto without a camera height: off


def test_enabled_without_what_it_needs_stops_the_node_with_a_reason(context, setup):
    params = [Parameter("model", value=str(setup["card"])), Parameter("backend", value="torch"),
              Parameter("warmup_frames", value=0), Parameter("track.mode", value=TRACK_ENABLED)]
    with pytest.raises(RailSegError, match="track.camera_height is not set"):
        SegmentationNode(namespace="track_enabled", context=context, parameter_overrides=params)


def test_track_state_rules():
    base = {"track.mode": "auto", "track.camera_height": 2.4}
    assert track_state(base, RAILSEM19.name) is None
    assert "label set is cityscapes" in track_state(base, "cityscapes")
    with pytest.raises(RailSegError, match="label set is cityscapes"):
        track_state(dict(base, **{"track.mode": TRACK_ENABLED}), "cityscapes")
    assert track_state(dict(base, **{"track.mode": TRACK_DISABLED}), RAILSEM19.name)
