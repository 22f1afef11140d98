"""segmentation_node with real rclpy and DDS on loopback: outputs, camera_info, drops, bad input,
diagnostics, parameters, lifecycle, and the executable's start-up errors.

Every node runs in its own namespace inside one rclpy context on domain DOMAIN_ID. A small custom
model card (squeezenas_mac_small at 128x256, weights saved here) keeps CPU inference fast; the
public lat_small reference check runs where ../shared holds its weights and is skipped elsewhere.
Where torch is not installed (`make test`'s ROS 2 Jazzy venv) the nodes run the shipped rail_default
export on ONNX Runtime instead, and the tests that write cards of their own are skipped.
"""

import importlib.util
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import cv2
import numpy as np
import pytest
import yaml

rclpy = pytest.importorskip("rclpy")

from conftest import KeepsMessages, ros_domain, spin_in_thread, wait_for  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from lifecycle_msgs.msg import Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from rclpy.context import Context  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CameraInfo, CompressedImage, Image  # noqa: E402

from rail_seg_ros import image_codec  # noqa: E402
from rail_seg_ros.camera_info import scale_camera_info  # noqa: E402
from rail_seg_ros.contract import (  # noqa: E402
    CAMERA_INFO_OUTPUT,
    DIAGNOSTICS_TOPIC,
    EXECUTABLE,
    INPUT_CAMERA_INFO,
    INPUT_COMPRESSED,
    INPUT_IMAGE,
    NODE_NAME,
    NODE_STAGES,
    OUTPUT_COLOR,
    OUTPUT_CONFIDENCE,
    OUTPUT_LABELS,
    OUTPUT_NAMES,
    OUTPUT_OVERLAY,
    PARAMETERS,
    PRIVATE,
    TRANSPORT_COMPRESSED,
    Diag,
    Reject,
    Stage,
    join_name,
    output_topics,
    rejected_key,
    stage_key,
    status_name,
)
from rail_seg_ros.errors import FrameError, RailSegError  # noqa: E402
from rail_seg_ros.model_card import available_cards  # noqa: E402
from rail_seg_ros.node import SegmentationNode  # noqa: E402
from rail_seg_ros.pipeline import Segmenter  # noqa: E402

DOMAIN_ID = ros_domain(44)
LOOPBACK_ENV = {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "ROS_LOCALHOST_ONLY": "1",
                "ROS_DOMAIN_ID": str(DOMAIN_ID)}
REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "fixtures" / "squeezenas"
WAIT_S = 30.0  # generous bound for anything to arrive; never a speed claim


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = WAIT_S, describe=lambda: "") -> None:
    wait_for(predicate, what, timeout, describe)

DIAGNOSTICS = "diagnostics"  # the harness's own name for the statuses it keeps
TORCH = importlib.util.find_spec("torch") is not None
BACKEND = "torch" if TORCH else "onnxruntime"  # the nodes' backend, and the reference's


def node_topic(namespace: str, name: str) -> str:
    """A topic in the node's private namespace: /NS/segmentation_node/NAME."""
    return join_name(namespace, NODE_NAME, name)


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def context():
    os.environ.update(LOOPBACK_ENV)
    ctx = Context()
    rclpy.init(context=ctx, domain_id=DOMAIN_ID)
    yield ctx
    rclpy.try_shutdown(context=ctx)


def write_card(folder: Path, name: str, resize: str = "stretch") -> Path:
    """A 128x256 squeezenas_mac_small card with weights whose labels vary with the input."""
    import torch

    from rail_seg_ros.nets import build_model

    torch.manual_seed(0)
    net = build_model("squeezenas_mac_small", 19)
    for module in net.modules():  # fresh batch-norm statistics collapse the output to one class
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_var.fill_(0.05)
    weights = folder / f"{name}.pth"
    torch.save(net.state_dict(), weights)
    card = folder / f"{name}.yaml"
    card.write_text(yaml.safe_dump({"architecture": "squeezenas_mac_small", "label_set": "railsem19",
                                    "input_size": [128, 256], "resize": resize, "weights": str(weights)}))
    return card


@pytest.fixture(scope="module")
def card(tmp_path_factory) -> Path:
    if not TORCH:
        return available_cards()["rail_default"]
    return write_card(tmp_path_factory.mktemp("card"), "tiny_rail")


@pytest.fixture(scope="module")
def reference(card) -> Segmenter:
    """The same card run in-process, to compare the node's class ids with."""
    return Segmenter.from_options(str(card), backend=BACKEND, device="cpu")


def scene(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A structured RGB frame: sky, ballast, two rails, vegetation and some texture."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.uint8)
    image[: height // 3] = (70, 130, 180)
    image[height // 3:] = (120, 110, 100)
    image[height // 3:, : width // 5] = (107, 142, 35)
    for x0 in (0.4, 0.6):
        cv2.line(image, (int(width * x0), height - 1), (width // 2, height // 3), (200, 200, 210), max(2, width // 60))
    noise = rng.integers(0, 40, (height, width, 3), dtype=np.uint8)
    return cv2.add(image, noise)


class Harness(KeepsMessages):
    STATUS_KEY = DIAGNOSTICS

    """One SegmentationNode plus a peer node that feeds it and collects what it publishes."""

    def __init__(self, context: Context, namespace: str, params: Dict[str, Any]) -> None:
        overrides = [Parameter(name, value=value) for name, value in params.items()]
        self.namespace = namespace
        self.params = params
        self.node = SegmentationNode(namespace=namespace, context=context, parameter_overrides=overrides)
        self.peer = rclpy.create_node("peer", namespace=namespace, context=context)
        topics = output_topics(namespace)
        self.lock = threading.Lock()
        self.received: Dict[str, List[Any]] = {name: [] for name in OUTPUT_NAMES + (CAMERA_INFO_OUTPUT, DIAGNOSTICS)}
        self.kept = self.received
        reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.image_pub = self.peer.create_publisher(Image, INPUT_IMAGE, reliable)
        self.compressed_pub = self.peer.create_publisher(CompressedImage, INPUT_COMPRESSED, reliable)
        self.info_pub = self.peer.create_publisher(CameraInfo, INPUT_CAMERA_INFO, reliable)
        self.output_subs = []
        for name in OUTPUT_NAMES:
            self.output_subs.append(self.peer.create_subscription(Image, topics[name], self._keeper(name), reliable))
        self.peer.create_subscription(CameraInfo, node_topic(namespace, CAMERA_INFO_OUTPUT),
                                      self._keeper(CAMERA_INFO_OUTPUT), reliable)
        self.peer.create_subscription(DiagnosticArray, DIAGNOSTICS_TOPIC, self._on_diagnostics, 10)
        self.executor, self.thread = spin_in_thread(context, self.node, self.peer)

    # -- helpers ---------------------------------------------------------------------------
    def messages(self, name: str) -> List[Any]:
        with self.lock:
            return list(self.received[name])

    def wait_connected(self, publisher: Any, outputs: int = 1) -> None:
        """Until ``publisher`` reaches the node and ``outputs`` output topics reach the peer."""
        wait_until(lambda: publisher.get_subscription_count() > 0
                   and sum(sub.get_publisher_count() > 0 for sub in self.output_subs) >= outputs,
                   "the node and the peer to discover each other")

    def stamp(self) -> Any:
        return self.peer.get_clock().now().to_msg()

    def send(self, array: np.ndarray, encoding: str, frame_id: str = "cam") -> Image:
        msg = image_codec.fill_image_msg(Image(), image_codec.rgb8_to(array, encoding), encoding)
        msg.header.stamp = self.stamp()
        msg.header.frame_id = frame_id
        self.image_pub.publish(msg)
        return msg

    def output_for(self, name: str, header: Any) -> Optional[Any]:
        for msg in self.messages(name):
            if same_header(msg.header, header):
                return msg
        return None

    def wait_output(self, name: str, header: Any) -> Any:
        wait_until(lambda: self.output_for(name, header) is not None, f"~/{name} for frame {header.frame_id}")
        return self.output_for(name, header)

    def diagnostics(self) -> Dict[str, Any]:
        """The newest status as a dict (values by key plus level/message/name/hardware_id)."""
        status = self.messages(DIAGNOSTICS)[-1]
        out: Dict[str, Any] = {kv.key: kv.value for kv in status.values}
        out.update(level=status.level, message=status.message, name=status.name, hardware_id=status.hardware_id)
        return out

    def wait_diagnostics(self, predicate: Callable[[Dict[str, Any]], bool], what: str) -> Dict[str, Any]:
        wait_until(lambda: bool(self.messages(DIAGNOSTICS)) and predicate(self.diagnostics()), what)
        return self.diagnostics()


def same_header(a: Any, b: Any) -> bool:
    return (a.stamp.sec, a.stamp.nanosec, a.frame_id) == (b.stamp.sec, b.stamp.nanosec, b.frame_id)


def image_array(msg: Image) -> np.ndarray:
    return image_codec.decode_image(msg.encoding, msg.height, msg.width, msg.step, msg.data)


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape
    return float((a == b).mean())


@pytest.fixture
def harness(context, card, request):
    """Factory: harness(**params) -> a running Harness in a namespace of its own; closed after the test."""
    made: List[Harness] = []

    def make(namespace: Optional[str] = None, **params: Any) -> Harness:
        values = {"model": str(card), "backend": BACKEND, "warmup_frames": 1}
        values.update(params)
        name = namespace or f"{request.node.name.replace('[', '_').replace(']', '').replace('-', '_')}_{len(made)}"
        made.append(Harness(context, name, values))
        return made[-1]

    yield make
    for h in made:
        h.close()


# ---------------------------------------------------------------------------------------------
# outputs


RAW_CASES = [("rgb8", 120, 160), ("bgr8", 96, 128), ("mono8", 120, 160), ("yuv422", 100, 200),
             ("bayer_rggb8", 120, 160)]


def test_raw_encodings_give_labels_color_and_overlay_with_the_input_header(harness, reference):
    h = harness()
    h.wait_connected(h.image_pub, outputs=3)
    for index, (encoding, height, width) in enumerate(RAW_CASES):  # the size changes mid-stream too
        sent = h.send(scene(height, width, seed=index), encoding, frame_id=f"cam_{encoding}")
        labels = h.wait_output(OUTPUT_LABELS, sent.header)
        color = h.wait_output(OUTPUT_COLOR, sent.header)
        overlay = h.wait_output(OUTPUT_OVERLAY, sent.header)
        for msg, want in ((labels, "mono8"), (color, "rgb8"), (overlay, "rgb8")):
            assert msg.encoding == want
            assert (msg.height, msg.width) == (height, width)
            assert msg.header.frame_id == f"cam_{encoding}"
            assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (sent.header.stamp.sec,
                                                                        sent.header.stamp.nanosec)
        expected = reference.process(image_codec.image_msg_to_rgb8(sent))
        assert len(np.unique(expected.labels)) > 1  # the check below means something
        assert agreement(image_array(labels), expected.labels) >= 0.999, encoding
        assert agreement(image_array(color), expected.color) >= 0.999, encoding
    assert not h.messages(OUTPUT_CONFIDENCE)  # off by default


def test_compressed_jpeg_input_and_garbage_jpeg(harness, reference):
    h = harness(input_transport=TRANSPORT_COMPRESSED, publish_confidence=True)
    h.wait_connected(h.compressed_pub, outputs=4)
    garbage = CompressedImage(format="rgb8; jpeg compressed bgr8", data=b"\xff\xd8\xff\xe0 not a jpeg at all")
    garbage.header.stamp = h.stamp()
    h.compressed_pub.publish(garbage)
    h.wait_diagnostics(lambda d: d.get(rejected_key(Reject.DECODE_FAILED)) == "1", "the garbage jpeg counted")
    msg = CompressedImage()
    msg.format, data = image_codec.encode_compressed(scene(144, 256, seed=7), "rgb8", "jpeg")
    msg.data = data
    msg.header.stamp = h.stamp()
    msg.header.frame_id = "jpeg_cam"
    h.compressed_pub.publish(msg)
    labels = h.wait_output(OUTPUT_LABELS, msg.header)
    confidence = h.wait_output(OUTPUT_CONFIDENCE, msg.header)
    assert (labels.encoding, labels.height, labels.width) == ("mono8", 144, 256)
    assert (confidence.encoding, confidence.height, confidence.width) == ("mono8", 144, 256)
    expected = reference.process(image_codec.compressed_msg_to_rgb8(msg))
    assert agreement(image_array(labels), expected.labels) >= 0.999
    diag = h.wait_diagnostics(lambda d: d[Diag.PUBLISHED] == "1", "diagnostics after the good frame")
    assert (diag[Diag.INPUT_TRANSPORT], diag[Diag.REJECTED], diag[Diag.RECEIVED]) == (TRANSPORT_COMPRESSED, "1", "2")
    assert diag[Diag.PUBLISHED] == "1"


@pytest.mark.needs_torch  # to export the public weights
@pytest.mark.skipif(not (SHARED / "weights" / "lat_small.pth").is_file(), reason="../shared lat_small weights absent")
def test_public_lat_small_reference_labels(harness, tmp_path):
    reference_dir = SHARED / "reference"
    rgb = cv2.cvtColor(cv2.imread(str(reference_dir / "input_structured_1024x2048.png")), cv2.COLOR_BGR2RGB)
    expected = cv2.imread(str(reference_dir / "lat_small_labels.png"), cv2.IMREAD_UNCHANGED)
    h = harness(model="squeezenas_lat_small_cityscapes", weights=str(SHARED / "weights" / "lat_small.pth"),
                backend="onnxruntime", engine_cache_dir=str(tmp_path / "cache"), warmup_frames=0,
                publish_color=False, publish_overlay=False)
    h.wait_connected(h.image_pub)
    sent = h.send(rgb, "rgb8", frame_id="reference")
    labels = h.wait_output(OUTPUT_LABELS, sent.header)
    assert (labels.height, labels.width) == (1024, 2048)
    assert agreement(image_array(labels), expected) >= 0.999
    assert list((tmp_path / "cache").glob("*.onnx"))  # the engine went to engine_cache_dir
    diag = h.wait_diagnostics(lambda d: d.get(Diag.PUBLISHED) == "1", "diagnostics after the frame")
    assert (diag[Diag.BACKEND], diag["hardware_id"]) == ("onnxruntime", "squeezenas_lat_small_cityscapes")


def test_qos_defaults_and_settings(harness):
    from rclpy.qos import DurabilityPolicy

    default = harness()
    tuned = harness(**{"input_qos.reliability": "reliable", "output_qos.reliability": "best_effort"})
    for h, image_reliability, output_reliability in ((default, ReliabilityPolicy.BEST_EFFORT, ReliabilityPolicy.RELIABLE),
                                                     (tuned, ReliabilityPolicy.RELIABLE, ReliabilityPolicy.BEST_EFFORT)):
        wait_until(lambda h=h: h.peer.get_subscriptions_info_by_topic(join_name(h.namespace, INPUT_IMAGE)),
                   "the image subscription")
        image = h.peer.get_subscriptions_info_by_topic(join_name(h.namespace, INPUT_IMAGE))[0].qos_profile
        labels = h.peer.get_publishers_info_by_topic(output_topics(h.namespace)[OUTPUT_LABELS])[0].qos_profile
        assert image.reliability == image_reliability and image.durability == DurabilityPolicy.VOLATILE
        assert labels.reliability == output_reliability


# ---------------------------------------------------------------------------------------------
# camera_info


def camera_info(header: Any, width: int, height: int) -> CameraInfo:
    info = CameraInfo(width=width, height=height, distortion_model="plumb_bob")
    info.header = header
    info.k = [500.0, 0.0, 319.5, 0.0, 510.0, 239.5, 0.0, 0.0, 1.0]
    info.p = [500.0, 0.0, 319.5, -35.0, 0.0, 510.0, 239.5, 0.0, 0.0, 0.0, 1.0, 0.0]
    info.d = [0.1, -0.2, 0.0, 0.0, 0.0]
    info.roi.x_offset, info.roi.y_offset, info.roi.width, info.roi.height = 40, 20, 400, 300
    return info


def test_camera_info_passes_through_at_input_resolution(harness):
    h = harness(publish_color=False, publish_overlay=False)
    h.wait_connected(h.info_pub)
    wait_until(lambda: h.peer.count_publishers(node_topic(h.namespace, CAMERA_INFO_OUTPUT)) > 0,
               PRIVATE + CAMERA_INFO_OUTPUT)
    sent = camera_info(h.send(scene(48, 64), "rgb8").header, 640, 480)
    h.info_pub.publish(sent)
    out = h.wait_output(CAMERA_INFO_OUTPUT, sent.header)
    assert (out.width, out.height) == (640, 480)
    assert list(out.k) == list(sent.k) and list(out.p) == list(sent.p) and list(out.d) == list(sent.d)


@pytest.mark.needs_torch
@pytest.mark.parametrize("resize", ["stretch", "fit"])
def test_camera_info_is_scaled_with_model_resolution_outputs(harness, tmp_path, resize):
    card = write_card(tmp_path, f"card_{resize}", resize=resize)
    h = harness(model=str(card), output_resolution="model", publish_color=False, publish_overlay=False)
    h.wait_connected(h.image_pub)
    wait_until(lambda: h.peer.count_publishers(node_topic(h.namespace, CAMERA_INFO_OUTPUT)) > 0,
               PRIVATE + CAMERA_INFO_OUTPUT)
    sent = h.send(scene(480, 640), "rgb8")
    info = camera_info(sent.header, 640, 480)
    h.info_pub.publish(info)
    labels = h.wait_output(OUTPUT_LABELS, sent.header)
    out = h.wait_output(CAMERA_INFO_OUTPUT, sent.header)
    # stretch: the whole 128x256 network input; fit: 640x480 scaled by 128/480 and not padded
    assert (labels.height, labels.width) == ((128, 256) if resize == "stretch" else (128, 171))
    assert (out.height, out.width) == (labels.height, labels.width)
    sx, sy = labels.width / 640, labels.height / 480
    assert out.k[0] == pytest.approx(500 * sx) and out.k[2] == pytest.approx(319.5 * sx)
    assert out.k[4] == pytest.approx(510 * sy) and out.k[5] == pytest.approx(239.5 * sy)
    assert out.p[3] == pytest.approx(-35 * sx) and out.p[6] == pytest.approx(239.5 * sy)
    assert (out.roi.x_offset, out.roi.width) == (round(40 * sx), round(400 * sx))
    assert list(out.d) == list(info.d)
    if resize == "fit":
        assert sx == pytest.approx(sy, rel=0.01)
    else:
        assert sx != pytest.approx(sy, rel=0.01)


def test_scale_camera_info_with_an_offset():
    info = camera_info(Image().header, 640, 480)
    out = scale_camera_info(info, 320, 260, 0.5, 0.5, offset_x=0.0, offset_y=10.0)
    assert (out.width, out.height) == (320, 260)
    assert list(out.k) == pytest.approx([250.0, 0.0, 159.75, 0.0, 255.0, 129.75, 0.0, 0.0, 1.0])
    assert list(out.p) == pytest.approx([250.0, 0.0, 159.75, -17.5, 0.0, 255.0, 129.75, 0.0, 0.0, 0.0, 1.0, 0.0])
    assert (out.roi.x_offset, out.roi.y_offset, out.roi.width, out.roi.height) == (20, 20, 200, 150)
    assert list(info.k)[0] == 500.0  # the input message is not changed


# ---------------------------------------------------------------------------------------------
# never falling behind, bad input


@pytest.mark.needs_torch
def test_a_burst_is_thinned_with_counted_drops_and_the_newest_frame_wins(harness, tmp_path):
    big = write_card(tmp_path, "burst_card")  # 128x256 network, 480x640 frames: slower than a tight publish loop
    h = harness(model=str(big))  # the default input QoS: best effort, a reader history of 10
    h.wait_connected(h.image_pub, outputs=3)
    frame = scene(480, 640)
    sent = []
    for i in range(50):  # a 100 Hz camera, far faster than the model: the reader history (depth 10) holds them
        sent.append(h.send(frame, "rgb8", frame_id=f"burst_{i}"))
        time.sleep(0.01)
    assert h.wait_output(OUTPUT_LABELS, sent[-1].header) is not None  # the newest frame is never dropped
    outputs = [m for m in h.messages(OUTPUT_LABELS) if m.header.frame_id.startswith("burst_")]
    diag = h.wait_diagnostics(lambda d: d[Diag.RECEIVED] == "50" and d[Diag.PUBLISHED] == str(len(outputs)),
                              "diagnostics counting all 50 frames and every output")
    dropped = int(diag[Diag.DROPPED])
    assert len(outputs) < 50
    assert dropped > 0
    assert len(outputs) + dropped == 50  # every frame was either segmented or counted as dropped
    assert diag[Diag.REJECTED] == "0"
    sent_ids = [m.header.frame_id for m in sent]
    order = [sent_ids.index(m.header.frame_id) for m in outputs]
    assert order == sorted(order)  # outputs come in input order, each for a frame that was sent
    assert float(diag[Diag.LATENCY_P95]) < WAIT_S * 1000  # a sanity bound, not a speed claim


def malformed(encoding: str, height: int, width: int, step: int, size: int) -> Image:
    msg = Image(encoding=encoding, height=height, width=width, step=step)
    msg.data = bytes(size)
    return msg


def test_malformed_frames_are_counted_by_reason_and_logged_once(harness, capfd):
    h = harness(publish_color=False, publish_overlay=False)
    h.wait_connected(h.image_pub)
    bad = [malformed("rgb8", 10, 20, 30, 300),  # step shorter than a row
           malformed("rgb8", 10, 20, 30, 300),
           malformed("rgb8", 10, 20, 30, 300),
           malformed("rgb8", 10, 20, 60, 500),  # data shorter than step x height
           malformed("rgb32f", 10, 20, 240, 2400)]  # unknown encoding
    for msg in bad:
        msg.header.stamp = h.stamp()
        h.image_pub.publish(msg)
        time.sleep(0.05)  # one at a time, so none is dropped as "busy"
    diag = h.wait_diagnostics(lambda d: d.get(Diag.REJECTED) == "5", "5 rejected frames")
    counts = [diag[rejected_key(reason)] for reason in (Reject.BAD_STEP, Reject.BAD_SIZE, Reject.UNSUPPORTED_ENCODING)]
    assert counts == ["3", "1", "1"]
    sent = h.send(scene(72, 96), "rgb8", frame_id="after_bad")
    assert h.wait_output(OUTPUT_LABELS, sent.header).width == 96  # still alive
    logged = capfd.readouterr().err
    assert logged.count(f"frame rejected ({Reject.BAD_STEP})") == 1
    assert logged.count(f"frame rejected ({Reject.UNSUPPORTED_ENCODING})") == 1


def test_reject_reasons_are_carried_by_the_errors(reference):
    """What the node counts is the error's reason, not its text."""
    for msg, reason in ((malformed("rgb8", 10, 20, 30, 300), Reject.BAD_STEP),
                        (malformed("rgb8", 10, 20, 60, 500), Reject.BAD_SIZE),
                        (malformed("yuv422", 2, 3, 6, 12), Reject.BAD_SIZE),
                        (malformed("rgb32f", 10, 20, 240, 2400), Reject.UNSUPPORTED_ENCODING)):
        with pytest.raises(image_codec.ImageCodecError) as info:
            image_codec.image_msg_to_rgb8(msg)
        assert info.value.reason == reason
    with pytest.raises(image_codec.ImageCodecError) as info:
        image_codec.compressed_msg_to_rgb8(CompressedImage(format="jpeg", data=b"nope"))
    assert info.value.reason == Reject.DECODE_FAILED
    with pytest.raises(FrameError) as info:
        reference.plan(8, 8)  # smaller than the network allows, raw or compressed alike
    assert info.value.reason == Reject.BAD_SIZE and "smaller than" in str(info.value)


# ---------------------------------------------------------------------------------------------
# diagnostics


def test_diagnostics_fields_and_levels(harness, card):
    h = harness(input_timeout=0.5, min_rate=500.0)
    idle = h.wait_diagnostics(lambda d: d["level"] == DiagnosticStatus.WARN, "WARN for no input")
    assert "no input" in idle["message"]
    assert idle["name"] == status_name(join_name(h.namespace, NODE_NAME))
    assert idle["hardware_id"] == card.stem
    for key in [Diag.MODEL, Diag.BACKEND, Diag.PRECISION, Diag.DEVICE, Diag.INPUT_RATE, Diag.OUTPUT_RATE, Diag.DROPPED,
                Diag.REJECTED, Diag.LATENCY_P50, Diag.LATENCY_P95] + [stage_key(stage) for stage in NODE_STAGES] + [
                Diag.RECEIVED, Diag.PUBLISHED]:
        assert key in idle, key
    assert (idle[Diag.BACKEND], idle[Diag.PRECISION], idle[Diag.MODEL]) == (BACKEND, "fp32", card.stem)
    assert h.node.set_parameters([Parameter("input_timeout", value=60.0)])[0].successful
    h.wait_connected(h.image_pub)
    sent = h.send(scene(72, 96), "rgb8")
    h.wait_output(OUTPUT_LABELS, sent.header)
    # the rate check starts one rate window after activation
    slow = h.wait_diagnostics(lambda d: d[Diag.PUBLISHED] == "1" and d["level"] == DiagnosticStatus.WARN,
                              "WARN for an output rate below min_rate")
    assert "below min_rate 500" in slow["message"]
    assert h.node.set_parameters([Parameter("min_rate", value=0.0)])[0].successful
    h.wait_diagnostics(lambda d: d["level"] == DiagnosticStatus.OK, "OK once min_rate is off")
    for key in [stage_key(Stage.DECODE), stage_key(Stage.INFER), stage_key(Stage.PUBLISH), Diag.LATENCY_P50,
                Diag.LATENCY_P95, Diag.INPUT_RATE]:
        assert float(slow[key]) > 0, key
    assert slow[Diag.INPUT_SIZE] == slow[Diag.OUTPUT_SIZE] == "96x72"

    def broken(images):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    h.node._segmenter.backend.infer = broken
    h.send(scene(72, 96), "rgb8")
    error = h.wait_diagnostics(lambda d: d["level"] == DiagnosticStatus.ERROR, "ERROR when the backend fails")
    assert "illegal memory access" in error["message"] and "illegal memory access" in error[Diag.LAST_ERROR]
    assert error[rejected_key(Reject.BACKEND_ERROR)] == "1"
    del h.node._segmenter.backend.infer  # the real method again
    sent = h.send(scene(72, 96), "rgb8")
    h.wait_output(OUTPUT_LABELS, sent.header)
    h.wait_diagnostics(lambda d: d["level"] != DiagnosticStatus.ERROR and d[Diag.PUBLISHED] == "2",
                       "the ERROR to clear after a good frame")


# ---------------------------------------------------------------------------------------------
# parameters


def test_run_time_parameters(harness):
    h = harness()
    node = h.node
    refused = node.set_parameters([Parameter("overlay_alpha", value=1.5)])[0]
    assert not refused.successful and "overlay_alpha" in refused.reason
    refused = node.set_parameters([Parameter("model", value="fast_scnn")])[0]
    assert not refused.successful and "fixed while the node is configured" in refused.reason
    refused = node.set_parameters([Parameter("input_qos.depth", value=3)])[0]
    assert not refused.successful and "input_qos.depth" in refused.reason
    assert node.get_parameter("overlay_alpha").value == 0.5
    assert node.set_parameters([Parameter("overlay_alpha", value=1.0)])[0].successful
    assert node.set_parameters([Parameter("publish_color", value=False)])[0].successful
    h.wait_connected(h.image_pub, outputs=3)
    sent = h.send(scene(72, 96), "rgb8")
    overlay = h.wait_output(OUTPUT_OVERLAY, sent.header)
    labels = h.wait_output(OUTPUT_LABELS, sent.header)
    palette = node._segmenter.colorize(image_array(labels))
    assert np.array_equal(image_array(overlay), palette)  # alpha 1: the overlay is the palette image
    assert h.output_for(OUTPUT_COLOR, sent.header) is None  # published in order labels, color, overlay


def test_bad_start_parameters_raise_one_clear_error(context, card):
    cases = [(Parameter("backend", value="nope"), "backend 'nope' is not allowed; expected one of auto, tensorrt"),
             (Parameter("overlay_alpha", value=1), "overlay_alpha 1 is not allowed; expected a number from 0.0 to 1.0"),
             (Parameter("overlay_alpha", value=2.0), "overlay_alpha 2.0 is out of range"),
             (Parameter("output_resolution", value="full"), "expected one of input, model"),
             (Parameter("device", value="gpu"), "auto, cpu, cuda or cuda:N"),
             (Parameter("model", value="no_such_model"), "no_such_model")]
    for parameter, words in cases:
        overrides = [Parameter("model", value=str(card)), Parameter("backend", value=BACKEND), parameter]
        with pytest.raises(RailSegError) as info:
            SegmentationNode(namespace="bad_start", context=context, parameter_overrides=overrides)
        assert words in str(info.value)
        assert "\n" not in str(info.value)


def node_command() -> List[str]:
    script = Path(sys.executable).parent / EXECUTABLE
    return [str(script)] if script.is_file() else [sys.executable, "-m", "rail_seg_ros.node"]


def test_executable_exits_non_zero_with_one_line_on_a_bad_parameter():
    env = dict(os.environ, **LOOPBACK_ENV)
    run = subprocess.run(node_command() + ["--ros-args", "-p", "backend:=nope"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 2
    # Jazzy's rcl adds two warnings of its own that ROS_LOCALHOST_ONLY (which Humble needs) is deprecated
    lines = [line for line in (run.stderr + run.stdout).splitlines()
             if line.strip() and not ("[rcl]:" in line and "localhost_only" in line.lower())]
    assert len(lines) == 1, lines
    assert "backend" in lines[0] and "onnxruntime" in lines[0] and "Traceback" not in lines[0]


def test_config_file_lists_every_parameter_with_its_default_and_a_comment(context, card):
    path = REPO / "config" / "segment.yaml"
    data = yaml.safe_load(path.read_text())
    params = data["/**"]["ros__parameters"] if "/**" in data else data[NODE_NAME]["ros__parameters"]

    def flatten(tree: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
        flat: Dict[str, Any] = {}
        for key, value in tree.items():
            if isinstance(value, dict):
                flat.update(flatten(value, prefix + key + "."))
            else:
                flat[prefix + key] = value
        return flat

    flat = flatten(params)
    assert flat == {p.name: p.default for p in PARAMETERS}
    lines = path.read_text().splitlines()
    for p in PARAMETERS:
        leaf = p.name.split(".")[-1]
        line = next(line for line in lines if line.strip().startswith(leaf + ":"))
        assert "#" in line, f"{p.name} has no comment"
    # the file loads into the node (the model is overridden: its default weights are not shipped)
    node = SegmentationNode(namespace="params_file", context=context, cli_args=[
        "--ros-args", "--params-file", str(path), "-p", f"model:={card}", "-p", f"backend:={BACKEND}",
        "-p", "warmup_frames:=0", "-p", "overlay_alpha:=0.25"])
    try:
        assert node.get_parameter("overlay_alpha").value == 0.25
        assert node.get_parameter("output_qos.depth").value == 5
        assert node._segmenter.backend.name == BACKEND
    finally:
        node.destroy_node()


# ---------------------------------------------------------------------------------------------
# lifecycle


def call(client: Any, request: Any) -> Any:
    wait_until(client.service_is_ready, f"service {client.srv_name}")
    future = client.call_async(request)
    wait_until(future.done, f"an answer from {client.srv_name}")
    return future.result()


def test_lifecycle_transitions_through_the_services(harness):
    h = harness(lifecycle=True, publish_color=False, publish_overlay=False)
    base = join_name(h.namespace, NODE_NAME) + "/"
    change = h.peer.create_client(ChangeState, base + "change_state")
    get = h.peer.create_client(GetState, base + "get_state")

    def state() -> str:
        return call(get, GetState.Request()).current_state.label

    def transition(transition_id: int) -> bool:
        return call(change, ChangeState.Request(transition=Transition(id=transition_id))).success

    assert state() == "unconfigured"
    assert h.node._segmenter is None
    # parameters that shape the engine may change while unconfigured; a bad model fails configure
    h.node.set_parameters([Parameter("model", value="no_such_model")])
    assert h.node.get_parameter("model").value == "no_such_model"
    assert not transition(Transition.TRANSITION_CONFIGURE)
    assert state() == "unconfigured"
    assert h.node.set_parameters([Parameter("model", value=h.params["model"])])[0].successful
    assert transition(Transition.TRANSITION_CONFIGURE)
    assert state() == "inactive"
    assert h.peer.count_subscribers(join_name(h.namespace, INPUT_IMAGE)) == 0
    assert transition(Transition.TRANSITION_ACTIVATE)
    assert state() == "active"
    h.wait_connected(h.image_pub)
    sent = h.send(scene(72, 96), "rgb8", frame_id="while_active")
    h.wait_output(OUTPUT_LABELS, sent.header)
    assert transition(Transition.TRANSITION_DEACTIVATE)
    assert state() == "inactive"
    wait_until(lambda: h.image_pub.get_subscription_count() == 0, "the image subscription to go")
    h.send(scene(72, 96), "rgb8", frame_id="while_inactive")
    assert transition(Transition.TRANSITION_CLEANUP)
    assert state() == "unconfigured"
    assert h.node._segmenter is None
    assert all(m.header.frame_id != "while_inactive" for m in h.messages(OUTPUT_LABELS))


def test_lifecycle_in_process_trigger_calls(context, card):
    from rclpy.lifecycle import TransitionCallbackReturn

    node = SegmentationNode(namespace="in_process", context=context, parameter_overrides=[
        Parameter("model", value=str(card)), Parameter("backend", value=BACKEND), Parameter("lifecycle", value=True)])
    try:
        assert node._segmenter is None
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node._segmenter is not None and node._worker.is_alive()
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        assert node.count_subscribers(join_name("in_process", INPUT_IMAGE)) == 1
        refused = node.set_parameters([Parameter("lifecycle", value=False)])[0]
        assert not refused.successful and "fixed at start" in refused.reason
        assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        assert node.count_subscribers(join_name("in_process", INPUT_IMAGE)) == 0
        worker = node._worker
        assert node.trigger_shutdown() == TransitionCallbackReturn.SUCCESS
        assert node._segmenter is None and not worker.is_alive()
    finally:
        node.destroy_node()
