"""segmentation_node in its own process (default model, rail_default on ONNX Runtime) with
``publish_labels_compressed`` on: ~/labels/compressed decodes back to exactly ~/labels; and a burst of 50
frames from another process, faster than the node's executor, is counted in full: frames replaced in the
reader history show up as gaps in the publisher's sequence numbers (frames_lost) where rclpy gives them.
Every participant stays on loopback, in this module's domain.
"""

import os
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, List

import cv2
import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("onnxruntime")

from conftest import KeepsMessages, ros_domain, spin_in_thread, stop_process, wait_for  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.context import Context  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402

from rail_seg_ros import dds  # noqa: E402
from rail_seg_ros.contract import (  # noqa: E402
    BEST_EFFORT,
    DIAGNOSTICS_TOPIC,
    INPUT_IMAGE,
    LABELS_COMPRESSED_PARAMETER,
    NODE_NAME,
    OUTPUT_LABELS,
    OUTPUT_LABELS_COMPRESSED,
    RELIABLE,
    Diag,
    join_name,
)
from rail_seg_ros.image_codec import decode_compressed, decode_image, fill_image_msg  # noqa: E402
from rail_seg_ros.node_input import sequence_gaps_counted  # noqa: E402
from rail_seg_ros.node_state import SequenceGaps  # noqa: E402
from rail_seg_ros.qos import qos_profile  # noqa: E402

DOMAIN_ID = ros_domain(76)
NAMESPACE = "/labels_burst"
BURST = 50
WAIT_S = 120.0  # a bound for a loaded machine, never a speed claim


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = WAIT_S, describe=lambda: "") -> None:
    wait_for(predicate, what, timeout, describe)


# The camera of the burst test: one frame, then (on "go" from stdin) BURST frames back to back and, after a pause, one
# more, as a camera streams on: a gap shows only once a later frame of the same publisher arrives (the burst's last
# frames can be lost in transport). 480x640 rgb8: over Fast DDS's default 512 KiB segment, so the camera runs with
# the package's profile, as the launch file gives it.
BURST_CAMERA = f"""
import sys, time
import rclpy
from rail_seg_ros.dds_probe import probe_image
from rail_seg_ros.qos import qos_profile
from sensor_msgs.msg import Image
rclpy.init()
node = rclpy.create_node("burst_camera")
pub = node.create_publisher(Image, {join_name(NAMESPACE, INPUT_IMAGE)!r}, qos_profile({BEST_EFFORT!r}, 5))
while pub.get_subscription_count() == 0:
    rclpy.spin_once(node, timeout_sec=0.05)
time.sleep(0.5)
msg = probe_image(640, 480)
msg.header.frame_id = "first"
pub.publish(msg)
print("ready", flush=True)
sys.stdin.readline()
for number in range({BURST}):
    msg.header.frame_id = "burst_%d" % number
    pub.publish(msg)
time.sleep(0.5)
msg.header.frame_id = "last"
pub.publish(msg)
time.sleep(1.0)
print("done", flush=True)
node.destroy_node()
rclpy.try_shutdown()
"""


@pytest.fixture(scope="module")
def env() -> Dict[str, str]:
    return dds.without_profiles(dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", ROS_LOCALHOST_ONLY="1",
                                     ROS_DOMAIN_ID=str(DOMAIN_ID)))


@pytest.fixture(scope="module")
def node_process(env, tmp_path_factory):
    """segmentation_node with its defaults and publish_labels_compressed on."""
    log = tmp_path_factory.mktemp("node") / "node.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "rail_seg_ros.node", "--ros-args", "-r",
                                    f"__ns:={NAMESPACE}", "-p", f"{LABELS_COMPRESSED_PARAMETER}:=true"],
                                   env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    yield process, log
    stop_process(process)


class Viewer(KeepsMessages):
    """This process: the node's labels, compressed labels and /diagnostics, and a camera publisher."""

    def __init__(self, context: Context) -> None:
        self.node = rclpy.create_node("labels_viewer", context=context)
        self.lock = threading.Lock()
        self.got: Dict[str, List[Any]] = {OUTPUT_LABELS: [], OUTPUT_LABELS_COMPRESSED: []}
        self.statuses: List[Any] = []
        self.kept = {**self.got, self.STATUS_KEY: self.statuses}  # the same lists
        self.namespace = NAMESPACE
        base = join_name(NAMESPACE, NODE_NAME)
        self.subs = [
            self.node.create_subscription(Image, f"{base}/{OUTPUT_LABELS}", self._keeper(OUTPUT_LABELS),
                                          qos_profile(RELIABLE, 10)),
            self.node.create_subscription(CompressedImage, f"{base}/{OUTPUT_LABELS_COMPRESSED}",
                                          self._keeper(OUTPUT_LABELS_COMPRESSED), qos_profile(RELIABLE, 10))]
        self.node.create_subscription(DiagnosticArray, DIAGNOSTICS_TOPIC, self._on_diagnostics, 10)
        self.camera = self.node.create_publisher(Image, join_name(NAMESPACE, INPUT_IMAGE), qos_profile(RELIABLE, 5))
        self.executor, self.thread = spin_in_thread(context, self.node)

    def diagnostics(self) -> Dict[str, str]:
        with self.lock:
            return {kv.key: kv.value for kv in self.statuses[-1].values} if self.statuses else {}


@pytest.fixture(scope="module")
def viewer(env, node_process):
    os.environ.update({k: env[k] for k in ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_LOCALHOST_ONLY")})
    context = Context()
    rclpy.init(context=context, domain_id=DOMAIN_ID)
    view = Viewer(context)
    process, log = node_process
    wait_until(lambda: process.poll() is not None or all(s.get_publisher_count() for s in view.subs),
               "the node's labels and labels/compressed")
    assert process.poll() is None, log.read_text(errors="replace")
    yield view
    view.close()
    rclpy.try_shutdown(context=context)


def settled(viewer: Viewer, frames: int) -> bool:
    """Diagnostics counting ``frames`` received, each published, dropped, rejected or lost."""
    d = viewer.diagnostics()
    return bool(d) and d[Diag.RECEIVED] == str(frames) and frames == sum(
        int(d[key]) for key in (Diag.PUBLISHED, Diag.DROPPED, Diag.REJECTED, Diag.LOST))


def test_sequence_gaps_count_the_frames_missing_per_publisher():
    gaps = SequenceGaps()
    a, b = {"data": b"a" * 16}, {"data": b"b" * 16}
    info = [(a, 7), (a, 8), (b, 1), (a, 12), (b, 2), (a, 3)]  # a's first frame: no gap; a restart: none
    assert [gaps.gap({"publisher_gid": g, "publication_sequence_number": s}) for g, s in info] == [0, 0, 0, 3, 0, 0]
    assert gaps.gap(None) is None and gaps.gap({"publication_sequence_number": 4}) is None  # Humble, Jazzy


@pytest.mark.parametrize("with_info", [True, False])  # Iron and later; Humble (no MessageInfo)
def test_subscribe_hands_the_message_info_where_rclpy_passes_one(monkeypatch, with_info):
    from rail_seg_ros import node_input

    class FakeNode:
        def create_subscription(self, msg_type, topic, callback, qos, event_callbacks=None):
            self.callback = callback
            return "subscription"

    monkeypatch.setattr(node_input, "message_info_supported", lambda: with_info)
    node, got = FakeNode(), []
    assert node_input.subscribe(node, Image, "image", lambda m, i: got.append((m, i)), None, lambda c: None) == \
        "subscription"
    info = {"publication_sequence_number": 3}
    node.callback(*(("msg", info) if with_info else ("msg",)))
    assert got == [("msg", info if with_info else None)]


def test_compressed_labels_decode_to_the_exact_labels_with_the_input_header(viewer):
    frames = []
    for index in range(3):  # smooth random frames: the model's labels vary over them
        small = np.random.default_rng(index).integers(0, 256, (9, 16, 3), dtype=np.uint8)
        rgb = cv2.resize(small, (512, 288), interpolation=cv2.INTER_CUBIC)
        msg = fill_image_msg(Image(), rgb, "rgb8")
        msg.header.frame_id = f"labels_{index}"
        msg.header.stamp.sec = 100 + index
        frames.append(msg)
    wait_until(lambda: viewer.camera.get_subscription_count() > 0, "the node's input subscription")
    for msg in frames:
        viewer.camera.publish(msg)
        time.sleep(0.5)

    def by_id(name: str) -> Dict[str, Any]:
        with viewer.lock:
            return {m.header.frame_id: m for m in viewer.got[name]}

    wait_until(lambda: by_id(OUTPUT_LABELS_COMPRESSED) and set(by_id(OUTPUT_LABELS_COMPRESSED)) <=
               set(by_id(OUTPUT_LABELS)), "labels and their compressed twins")
    raw, packed = by_id(OUTPUT_LABELS), by_id(OUTPUT_LABELS_COMPRESSED)
    for frame_id, compressed in packed.items():
        labels = raw[frame_id]
        assert compressed.header == labels.header  # the input's header, as every output
        assert compressed.format == "mono8; png compressed "  # what image_transport's compressed plugin writes
        expected = decode_image(labels.encoding, labels.height, labels.width, labels.step, labels.data, False)
        decoded, _ = decode_compressed(compressed.format, compressed.data)
        assert decoded.dtype == np.uint8 and decoded.shape == (288, 512)
        assert np.array_equal(decoded, expected)
        assert np.array_equal(cv2.imdecode(np.frombuffer(bytes(compressed.data), np.uint8), cv2.IMREAD_UNCHANGED),
                              expected)  # a plain PNG, as image_transport's subscriber reads it
        assert len(compressed.data) < labels.step * labels.height
    wait_until(lambda: settled(viewer, len(frames)), "diagnostics counting the frames")


@pytest.mark.skipif(not sequence_gaps_counted(), reason="this rclpy gives no publisher gid (Jazzy, Humble): frames "
                    "replaced in the reader history are not counted")
def test_a_burst_from_another_process_is_counted_in_full(viewer, env):
    before = int(viewer.diagnostics()[Diag.RECEIVED])
    camera = subprocess.Popen([sys.executable, "-c", BURST_CAMERA], env=dds.with_package_profile(env),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert camera.stdout.readline().strip() == "ready", camera.stderr.read()
        wait_until(lambda: settled(viewer, before + 1), "the camera's first frame",  # its sequence baseline
                   describe=viewer.diagnostics)
        camera.stdin.write("go\n")
        camera.stdin.flush()
        assert camera.stdout.readline().strip() == "done", camera.stderr.read()
    finally:
        camera.kill()
        camera.wait()
    total = before + 1 + BURST + 1
    wait_until(lambda: settled(viewer, total), f"diagnostics counting all {total} frames",
               describe=viewer.diagnostics)
    diag = viewer.diagnostics()
    print({key: diag[key] for key in (Diag.RECEIVED, Diag.PUBLISHED, Diag.DROPPED, Diag.REJECTED, Diag.LOST)})
    assert diag[Diag.REJECTED] == "0"
    assert int(diag[Diag.LOST]) > 0  # the burst outran the executor: frames were replaced in the history
