#!/usr/bin/env python3
"""Drive rail_seg_ros segmentation_node from the outside, as an application would.

It starts ``segmentation_node`` as a subprocess (once with raw images, once with compressed ones),
publishes 1920x1080 frames in rgb8, bgr8, mono8, yuv422 and as JPEG, receives ~/labels, ~/color and
~/overlay for each (matched to the frame by its header stamp), sends a burst faster than the model
runs and a stream of malformed messages, reads /diagnostics and prints what it got.

    python3 examples/segment_client.py [--model rail_default] [--weights W] [--backend B] [--image street.png]

The node gets only the model (and weights, backend, input transport): every other parameter is its
default, so the input is best effort (the sensor-data QoS cameras publish with) and this client
publishes and subscribes best effort, as a camera driver and a viewer do. Like a camera started by the
package's launch file, this process runs with the package's DDS profile (config/dds: a 64 MiB
shared-memory segment; a 1080p frame is lost best effort without it), unless you set your own.

DDS stays on this machine: the script sets ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST,
ROS_LOCALHOST_ONLY=1 and a ROS_DOMAIN_ID of its own (--domain-id) for itself and the node.
Exit status 0 when every frame got its three outputs.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import cv2
import numpy as np

WIDTH, HEIGHT = 1920, 1080
NAMESPACE = "client_demo"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="rail_default", help="card name, card YAML or architecture")
    parser.add_argument("--weights", default="", help="checkpoint for the model (default: the card's own)")
    parser.add_argument("--backend", default="auto", help="auto | tensorrt | onnxruntime | torch")
    parser.add_argument("--image", default="", help="a picture to send (default: a drawn track scene)")
    parser.add_argument("--domain-id", type=int, default=77, help="ROS_DOMAIN_ID for this demo")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the node or an output")
    return parser.parse_args()


def loopback_env(domain_id: int) -> Dict[str, str]:
    return {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "ROS_LOCALHOST_ONLY": "1", "ROS_DOMAIN_ID": str(domain_id)}


ARGS = parse_args()
os.environ.update(loopback_env(ARGS.domain_id))  # before rclpy starts DDS
from rail_seg_ros import dds  # noqa: E402

PROFILE = dds.apply_profile()  # the publisher's profile decides whether 1080p frames arrive; the node inherits it

import rclpy  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402

from rail_seg_ros.contract import (  # noqa: E402
    BEST_EFFORT,
    DIAGNOSTICS_TOPIC,
    EXECUTABLE,
    INPUT_COMPRESSED,
    INPUT_IMAGE,
    NODE_NAME,
    NODE_STAGES,
    OUTPUT_LABELS,
    RECORDED_OUTPUTS,
    TRANSPORT_COMPRESSED,
    TRANSPORT_RAW,
    Diag,
    join_name,
    output_topics,
    rejected_key,
    stage_key,
    status_name,
)
from rail_seg_ros.image_codec import encode_compressed, fill_image_msg, rgb8_to  # noqa: E402
from rail_seg_ros.labels import get_label_set  # noqa: E402
from rail_seg_ros.qos import qos_profile  # noqa: E402

OUTPUTS = RECORDED_OUTPUTS  # labels, color, overlay: the node's default outputs


def track_scene() -> np.ndarray:
    """A 1920x1080 RGB picture of sky, vegetation, ballast and two rails."""
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    image[: HEIGHT // 2] = (110, 160, 215)
    image[HEIGHT // 2:] = (115, 105, 95)
    image[HEIGHT // 2 - 120: HEIGHT // 2, :] = (60, 110, 40)
    for x in (760, 1160):
        cv2.line(image, (x, HEIGHT - 1), (WIDTH // 2 + (x - WIDTH // 2) // 12, HEIGHT // 2), (190, 190, 200), 18)
    return cv2.add(image, np.random.default_rng(0).integers(0, 25, image.shape, dtype=np.uint8))


def load_picture(path: str) -> np.ndarray:
    if not path:
        return track_scene()
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        sys.exit(f"segment_client: cannot read {path}")
    return cv2.cvtColor(cv2.resize(bgr, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)


def node_command() -> List[str]:
    found = shutil.which(EXECUTABLE) or str(Path(sys.executable).with_name(EXECUTABLE))
    return [found] if Path(found).exists() else [sys.executable, "-m", "rail_seg_ros.node"]


class SegmentationNodeProcess:
    """The node in a subprocess of its own, its log kept in a file."""

    def __init__(self, namespace: str, transport: str) -> None:
        # the node's defaults for everything else: best-effort input with a reader history of 10
        params = {"model": ARGS.model, "backend": ARGS.backend, "input_transport": transport}
        if ARGS.weights:
            params["weights"] = ARGS.weights
        command = node_command() + ["--ros-args", "-r", f"__ns:={join_name(namespace)}"]
        for name, value in params.items():
            command += ["-p", f"{name}:={value}"]
        self.log = tempfile.NamedTemporaryFile("w+", prefix=f"{NODE_NAME}_", suffix=".log", delete=False)
        env = dict(os.environ, **loopback_env(ARGS.domain_id), RCUTILS_COLORIZED_OUTPUT="0")
        print(f"$ {' '.join(command)}")
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_lines(self) -> List[str]:
        return Path(self.log.name).read_text().splitlines()

    def stop(self) -> int:
        if self.alive():
            self.process.send_signal(signal.SIGINT)  # what Ctrl-C or ros2 launch does
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()


class Client:
    """The application side: publishes frames, collects outputs by stamp and the node's diagnostics."""

    def __init__(self, node: Any, namespace: str) -> None:
        self.node = node
        self.lock = threading.Lock()
        self.outputs: Dict[str, Dict[int, Image]] = {name: {} for name in OUTPUTS}
        self.arrived: Dict[str, Dict[int, float]] = {name: {} for name in OUTPUTS}
        self.status: Optional[Any] = None
        self.status_name = status_name(join_name(namespace, NODE_NAME))
        topics = output_topics(namespace)
        viewer = qos_profile(BEST_EFFORT, 10)  # as RViz subscribes to images
        for name in OUTPUTS:
            node.create_subscription(Image, topics[name], self._keeper(name), viewer)
        node.create_subscription(DiagnosticArray, DIAGNOSTICS_TOPIC, self._on_diagnostics, 10)
        # the node's inputs are relative names: image and image/compressed in its namespace
        frames_qos = qos_profile_sensor_data  # best effort, keep last 5: what camera drivers publish with
        self.raw_pub = node.create_publisher(Image, join_name(namespace, INPUT_IMAGE), frames_qos)
        self.jpeg_pub = node.create_publisher(CompressedImage, join_name(namespace, INPUT_COMPRESSED), frames_qos)

    def _keeper(self, name: str):
        def keep(msg: Image) -> None:
            key = stamp_key(msg.header.stamp)
            with self.lock:
                self.outputs[name][key] = msg
                self.arrived[name][key] = time.monotonic()
        return keep

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name == self.status_name:
                with self.lock:
                    self.status = status

    def diagnostics(self) -> Dict[str, str]:
        with self.lock:
            status = self.status
        if status is None:
            return {}
        values = {kv.key: kv.value for kv in status.values}
        values.update(level=str(ord(status.level)), message=status.message)
        return values

    def complete(self, key: int) -> bool:
        with self.lock:
            return all(key in self.outputs[name] for name in OUTPUTS)

    def stamp(self) -> Any:
        return self.node.get_clock().now().to_msg()


def stamp_key(stamp: Any) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def wait_for(condition, timeout: float, process: SegmentationNodeProcess) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if not process.alive():
            return False
        time.sleep(0.05)
    return False


def raw_frame(client: Client, rgb: np.ndarray, encoding: str, frame_id: str = "front_camera") -> Image:
    msg = fill_image_msg(Image(), rgb8_to(rgb, encoding), encoding)
    msg.header.stamp = client.stamp()
    msg.header.frame_id = frame_id
    return msg


def describe(client: Client, key: int, sent_at: float, label_names: List[str]) -> str:
    with client.lock:
        labels, color, overlay = (client.outputs[name][key] for name in OUTPUTS)
        first = client.arrived[OUTPUT_LABELS][key] - sent_at
        last = max(client.arrived[name][key] for name in OUTPUTS) - sent_at
    ids = np.frombuffer(bytes(labels.data), np.uint8)
    counts = np.bincount(ids, minlength=256)
    top = [f"{label_names[i] if i < len(label_names) else i} {100 * counts[i] / ids.size:.0f}%"
           for i in np.argsort(counts)[::-1][:3] if counts[i]]
    return (f"labels {labels.encoding} {labels.width}x{labels.height}, color {color.encoding}, "
            f"overlay {overlay.encoding} {overlay.width}x{overlay.height}, frame_id {labels.header.frame_id}; "
            f"labels after {1000 * first:.0f} ms, all three after {1000 * last:.0f} ms; {', '.join(top)}")


def wait_ready(client: Client, publisher: Any, process: SegmentationNodeProcess) -> bool:
    print("waiting for the node to load the model and subscribe ...")
    started = time.monotonic()
    ok = wait_for(lambda: publisher.get_subscription_count() > 0 and bool(client.diagnostics()), ARGS.timeout,
                  process)
    if ok:
        time.sleep(0.5)  # let every output connection settle
        values = client.diagnostics()
        print(f"node ready after {time.monotonic() - started:.1f} s: {values.get(Diag.MODEL)} on "
              f"{values.get(Diag.BACKEND)} ({values.get(Diag.DEVICE)}, {values.get(Diag.PRECISION)})")
    else:
        print("the node did not come up; its log:\n  " + "\n  ".join(process.log_lines()[-10:]))
    return ok


def send_and_receive(client: Client, process: SegmentationNodeProcess, publisher: Any, msg: Any, name: str,
                     label_names: List[str]) -> bool:
    key = stamp_key(msg.header.stamp)
    sent_at = time.monotonic()
    publisher.publish(msg)
    if not wait_for(lambda: client.complete(key), ARGS.timeout, process):
        print(f"  {name:8s} NO OUTPUT")
        return False
    print(f"  {name:8s} -> {describe(client, key, sent_at, label_names)}")
    return True


def print_diagnostics(values: Dict[str, str], keys: List[str]) -> None:
    level = {"0": "OK", "1": "WARN", "2": "ERROR", "3": "STALE"}.get(values.get("level", ""), "?")
    print(f"  /diagnostics: {level} '{values.get('message')}'")
    shown = [f"{k}={values[k]}" for k in keys if k in values]
    shown += [f"{k}={v}" for k, v in values.items() if k.startswith(rejected_key("")) and k not in keys]
    print("    " + ", ".join(shown))


def malformed_messages(client: Client) -> List[Image]:
    """Frames a broken driver could send: too short a step, data cut short, an unknown encoding, odd yuv width."""
    bad = []
    for encoding, width, height, step, size in (("rgb8", 320, 240, 500, 500 * 240),
                                                ("rgb8", 320, 240, 960, 960 * 100),
                                                ("32FC3", 320, 240, 3840, 3840 * 240),
                                                ("yuv422", 321, 240, 642, 642 * 240)):
        msg = Image(encoding=encoding, width=width, height=height, step=step)
        msg.data = bytes(size)
        msg.header.stamp = client.stamp()
        bad.append(msg)
    return bad


def raw_phase(node: Any, rgb: np.ndarray) -> bool:
    print("\n== raw images (input_transport: raw) ==")
    process = SegmentationNodeProcess(NAMESPACE, TRANSPORT_RAW)
    client = Client(node, NAMESPACE)
    executor = rclpy.executors.MultiThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    ok = wait_ready(client, client.raw_pub, process)
    if ok:
        names = list(get_label_set(client.diagnostics().get(Diag.LABEL_SET, "cityscapes")).names)
        for encoding in ("rgb8", "bgr8", "mono8", "yuv422"):
            ok &= send_and_receive(client, process, client.raw_pub, raw_frame(client, rgb, encoding), encoding, names)

        print("\nburst: 30 rgb8 frames as fast as they can be published")
        time.sleep(1.5)  # a diagnostics message that counts the frames so far
        before = client.diagnostics()
        burst = [raw_frame(client, rgb, "rgb8", frame_id=f"burst_{i}") for i in range(30)]
        for msg in burst:
            client.raw_pub.publish(msg)
        last = stamp_key(burst[-1].header.stamp)
        wait_for(lambda: client.complete(last), ARGS.timeout, process)
        got = sum(client.complete(stamp_key(m.header.stamp)) for m in burst)
        time.sleep(1.5)
        after = client.diagnostics()
        received, published, dropped, lost = (int(after[k]) - int(before[k]) for k in
                                               (Diag.RECEIVED, Diag.PUBLISHED, Diag.DROPPED, Diag.LOST))
        print(f"  {got} of 30 burst frames came back (the newest one: {'yes' if client.complete(last) else 'no'})")
        print(f"  the node received {received}, segmented {published}, skipped {dropped} while the model was busy"
              f" and counted {lost} lost before its callback (replaced in its reader history)"
              + (f"; {30 - received} went uncounted (this rclpy gives no publisher gid)" if received < 30 else ""))
        print_diagnostics(after, [Diag.RECEIVED, Diag.PUBLISHED, Diag.DROPPED, Diag.LOST, Diag.LATENCY_P50,
                                  Diag.LATENCY_P95])

        print("\nmalformed stream: 40 broken messages, then a good frame")
        for _ in range(10):
            for msg in malformed_messages(client):
                client.raw_pub.publish(msg)
                time.sleep(0.02)
        ok &= send_and_receive(client, process, client.raw_pub, raw_frame(client, rgb, "rgb8"), "after", names)
        time.sleep(1.5)
        print_diagnostics(client.diagnostics(), [Diag.REJECTED, Diag.DROPPED, Diag.INPUT_RATE, Diag.OUTPUT_RATE]
                          + [stage_key(stage) for stage in NODE_STAGES] + [Diag.LATENCY_P50, Diag.LATENCY_P95])
    executor.shutdown()
    code = process.stop()
    warnings = [line for line in process.log_lines() if "WARN" in line or "ERROR" in line]
    print(f"node exited with {code}; its warnings ({len(warnings)} lines, each reason at most once per 10 s):")
    for line in warnings:
        print("  " + line[:160])
    return ok and code == 0


def jpeg_phase(node: Any, rgb: np.ndarray) -> bool:
    print("\n== JPEG (input_transport: compressed) ==")
    namespace = NAMESPACE + "_jpeg"
    process = SegmentationNodeProcess(namespace, TRANSPORT_COMPRESSED)
    client = Client(node, namespace)
    executor = rclpy.executors.MultiThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    ok = wait_ready(client, client.jpeg_pub, process)
    if ok:
        names = list(get_label_set(client.diagnostics().get(Diag.LABEL_SET, "cityscapes")).names)
        msg = CompressedImage()
        msg.format, data = encode_compressed(rgb, "rgb8", "jpeg", quality=90)
        msg.data = data
        msg.header.stamp = client.stamp()
        msg.header.frame_id = "front_camera"
        print(f"  sending {len(data) / 1024:.0f} KiB, format '{msg.format}'")
        ok &= send_and_receive(client, process, client.jpeg_pub, msg, "jpeg", names)
        garbage = CompressedImage(format="rgb8; jpeg compressed bgr8", data=b"\xff\xd8 not really a jpeg")
        garbage.header.stamp = client.stamp()
        client.jpeg_pub.publish(garbage)
        time.sleep(1.5)
        print_diagnostics(client.diagnostics(), [Diag.RECEIVED, Diag.PUBLISHED, Diag.REJECTED])
    executor.shutdown()
    code = process.stop()
    print(f"node exited with {code}")
    return ok and code == 0


def main() -> int:
    rgb = load_picture(ARGS.image)
    print(f"DDS profile of this client (and the node it starts): {PROFILE.note}")
    rclpy.init()
    node = rclpy.create_node("segment_client")
    try:
        ok = raw_phase(node, rgb)
        ok &= jpeg_phase(node, rgb)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    print("\nall frames segmented" if ok else "\nSOME FRAMES GOT NO OUTPUT")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
