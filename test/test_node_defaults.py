"""segmentation_node as a user gets it: its own process, its DEFAULT parameters (the shipped rail_default card
on ONNX Runtime), cameras in other processes publishing 1920x1080 rgb8, bgr8, mono8 and yuv422 frames (and
malformed ones) with the sensor-data QoS (with the package's DDS profile, as a camera started by the launch
file gets it), and this process as a viewer subscribed best effort to labels, colour and overlay. Also the
no-input hint when the input topic has a publisher that delivers nothing. Every participant stays on
loopback, in a domain of its own.
"""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("onnxruntime")

from conftest import KeepsMessages, ros_domain, spin_in_thread, stop_process, wait_for  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from rclpy.context import Context  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from rail_seg_ros import dds  # noqa: E402
from rail_seg_ros.contract import (  # noqa: E402
    BEST_EFFORT,
    DIAGNOSTICS_TOPIC,
    INPUT_IMAGE,
    OUTPUT_COLOR,
    OUTPUT_LABELS,
    OUTPUT_OVERLAY,
    Diag,
    Reject,
    join_name,
    output_topics,
    rejected_key,
)
from rail_seg_ros.dds_probe import frame_number  # noqa: E402
from rail_seg_ros.qos import qos_profile  # noqa: E402

DOMAIN_ID = ros_domain(75)
NAMESPACE = "/field"
FRAMES = 4  # per camera
CAMERA_ENCODINGS = ("rgb8", "bgr8", "mono8", "yuv422")
MALFORMED = 2  # frames with a wrong step, before the rgb8 camera's frames
WAIT_S = 120.0  # a bound for a loaded machine, never a speed claim


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = WAIT_S, describe=lambda: "") -> None:
    wait_for(predicate, what, timeout, describe)

VIEWED = (OUTPUT_LABELS, OUTPUT_COLOR, OUTPUT_OVERLAY)


@pytest.fixture(scope="module")
def env() -> Dict[str, str]:
    """The user's environment with no DDS profile of their own, on loopback in this module's domain."""
    return dds.without_profiles(dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", ROS_LOCALHOST_ONLY="1",
                                     ROS_DOMAIN_ID=str(DOMAIN_ID)))


class Viewer(KeepsMessages):
    """This process: best-effort subscriptions to the node's outputs and /diagnostics."""

    def __init__(self, context: Context) -> None:
        self.node = rclpy.create_node("viewer", context=context)
        self.lock = threading.Lock()
        self.outputs: Dict[str, List[Any]] = {name: [] for name in VIEWED}
        self.statuses: List[Any] = []
        self.kept = {**self.outputs, self.STATUS_KEY: self.statuses}  # the same lists
        self.namespace = NAMESPACE
        topics = output_topics(NAMESPACE)
        self.subs = [self.node.create_subscription(Image, topics[name], self._keeper(name),
                                                   qos_profile(BEST_EFFORT, 5)) for name in VIEWED]
        self.node.create_subscription(DiagnosticArray, DIAGNOSTICS_TOPIC, self._on_diagnostics, 10)
        self.input_pub = None
        self.executor, self.thread = spin_in_thread(context, self.node)

    def diagnostics(self) -> Dict[str, Any]:
        with self.lock:
            if not self.statuses:
                return {}
            status = self.statuses[-1]
        values: Dict[str, Any] = {kv.key: kv.value for kv in status.values}
        values.update(level=status.level, message=status.message)
        return values


@pytest.fixture(scope="module")
def node_process(env, tmp_path_factory):
    """segmentation_node with its defaults: only the namespace is given."""
    log = tmp_path_factory.mktemp("node") / "node.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "rail_seg_ros.node", "--ros-args", "-r",
                                    f"__ns:={NAMESPACE}"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    yield process, log
    stop_process(process)


@pytest.fixture(scope="module")
def viewer(env):
    os.environ.update({k: env[k] for k in ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_LOCALHOST_ONLY")})
    context = Context()
    rclpy.init(context=context, domain_id=DOMAIN_ID)
    view = Viewer(context)
    yield view
    view.close()
    rclpy.try_shutdown(context=context)


def log_text(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")


def test_1_no_input_hint_when_a_publisher_delivers_nothing(node_process, viewer):
    process, log = node_process
    wait_until(lambda: process.poll() is not None or sum(s.get_publisher_count() for s in viewer.subs) == 3,
               "the node's outputs")
    assert process.poll() is None, log_text(log)
    topic = join_name(NAMESPACE, INPUT_IMAGE)
    viewer.input_pub = viewer.node.create_publisher(Image, topic, qos_profile(BEST_EFFORT, 5))  # never publishes
    wait_until(lambda: viewer.diagnostics().get(Diag.HINT), "the no-input hint in /diagnostics")
    diag = viewer.diagnostics()
    assert diag["level"] == DiagnosticStatus.WARN and diag["message"] == diag[Diag.HINT]
    assert topic in diag[Diag.HINT] and "1 publisher(s)" in diag[Diag.HINT]
    assert "shared-memory segment" in diag[Diag.HINT] and "PROFILES_FILE=" in diag[Diag.HINT]
    assert diag[Diag.INPUT_PUBLISHERS] == "1"
    assert "the package's" in diag[Diag.DDS_PROFILE] and dds.FASTDDS_PROFILE in diag[Diag.DDS_PROFILE]
    time.sleep(2.5)  # more diagnostics periods: still logged only once
    text = log_text(log)
    assert text.count("although 1 publisher(s) offer it") == 1, text
    assert "DDS profile:" in text and "the package's" in text
    viewer.node.destroy_publisher(viewer.input_pub)


def test_2_camera_processes_1080p_best_effort_reach_the_default_node_and_best_effort_viewers(
        node_process, viewer, env):
    """rgb8 (after two malformed frames), bgr8, mono8 and yuv422 cameras, one process each, one after another."""
    process, log = node_process
    camera_env = dds.with_package_profile(env)  # what the launch file gives a camera driver
    for encoding in CAMERA_ENCODINGS:
        with viewer.lock:
            before = len(viewer.outputs[OUTPUT_LABELS])
        malformed = MALFORMED if encoding == CAMERA_ENCODINGS[0] else 0
        camera = subprocess.run([sys.executable, "-m", "rail_seg_ros.dds_probe", "--topic",
                                 join_name(NAMESPACE, INPUT_IMAGE), "--reliability", BEST_EFFORT, "--frames",
                                 str(FRAMES), "--rate", "4", "--encoding", encoding, "--malformed", str(malformed)],
                                env=camera_env, capture_output=True, text=True, timeout=WAIT_S)
        assert camera.returncode == 0, camera.stdout + camera.stderr
        wait_until(lambda seen=before: len(viewer.outputs[OUTPUT_LABELS]) > seen, f"labels of the {encoding} camera")
    wait_until(lambda: all(viewer.outputs[name] for name in VIEWED), "best-effort labels, colour and overlay")
    with viewer.lock:
        got = {name: list(msgs) for name, msgs in viewer.outputs.items()}
    for name, encoding in ((OUTPUT_LABELS, "mono8"), (OUTPUT_COLOR, "rgb8"), (OUTPUT_OVERLAY, "rgb8")):
        for msg in got[name]:
            assert (msg.width, msg.height, msg.encoding) == (1920, 1080, encoding)
            assert frame_number(msg.header.frame_id) is not None  # the input's header, unchanged
            assert len(msg.data) == msg.step * msg.height
    stamps = {name: {(m.header.stamp.sec, m.header.stamp.nanosec) for m in got[name]} for name in VIEWED}
    assert stamps[OUTPUT_LABELS] & stamps[OUTPUT_COLOR] & stamps[OUTPUT_OVERLAY]  # one frame's outputs share its stamp

    sent = len(CAMERA_ENCODINGS) * FRAMES + MALFORMED

    def settled() -> bool:
        d = viewer.diagnostics()
        return bool(d) and d[Diag.RECEIVED] == str(sent) and int(d[Diag.PUBLISHED]) + int(d[Diag.DROPPED]) + \
            int(d[Diag.REJECTED]) + int(d[Diag.LOST]) == sent

    wait_until(settled, f"/diagnostics counting all {sent} frames as published, dropped, rejected or lost")
    diag = viewer.diagnostics()
    assert diag[Diag.REJECTED] == str(MALFORMED) and diag[rejected_key(Reject.BAD_STEP)] == str(MALFORMED)
    assert int(diag[Diag.PUBLISHED]) >= len(CAMERA_ENCODINGS)
    assert diag[Diag.MODEL] == "rail_default" and diag[Diag.BACKEND] == "onnxruntime"
    assert diag[Diag.INPUT_SIZE] == diag[Diag.OUTPUT_SIZE] == "1920x1080"
    assert process.poll() is None, log_text(log)
