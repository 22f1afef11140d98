"""segmentation_node: semantic segmentation of a camera stream as a ROS 2 node.

Subscribes
    image              sensor_msgs/Image (input_transport: raw; remap it to the camera topic)
    image/compressed   sensor_msgs/CompressedImage (input_transport: compressed)
    camera_info        sensor_msgs/CameraInfo (optional)
Publishes, every image with the input's header
    ~/labels           mono8 class ids              (publish_labels)
    ~/color            rgb8 palette image           (publish_color)
    ~/overlay          rgb8 input + palette         (publish_overlay, overlay_alpha)
    ~/confidence       mono8 max probability x 255  (publish_confidence)
    ~/camera_info      camera_info scaled to the outputs' size
    /diagnostics       diagnostic_msgs/DiagnosticArray, once a second

Threading: the image callback only puts the message into a keep-last-1 slot; one worker thread
decodes, segments and publishes the newest frame. A frame replaced in the slot before the worker
took it is counted as dropped, so the node never falls behind and the executor never waits.

Lifecycle: the node is an rclpy lifecycle node. configure loads the model and builds (or loads)
the engine, activate subscribes, deactivate unsubscribes, cleanup and shutdown release the engine.
With ``lifecycle: false`` (the default) it configures and activates itself at start.
"""

import sys
import threading
import time
import traceback
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.logging import LoggingSeverity
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from .camera_info import scale_camera_info, scale_factors
from .errors import RailSegError
from .image_codec import compressed_msg_to_rgb8, fill_image_msg, image_msg_to_rgb8
from .metrics import RateMeter, RollingStats, StageTimer
from .node_params import PARAMETERS_BY_NAME, declare_parameters, unknown_overrides
from .pipeline import Segmenter

NODE_NAME = "segmentation_node"
OUTPUTS = (("labels", "mono8"), ("color", "rgb8"), ("overlay", "rgb8"), ("confidence", "mono8"))
STAGES = ("decode", "preprocess", "infer", "postprocess", "publish")
LOG_EVERY_S = 10.0  # a problem of one kind is logged at most this often
RATE_WINDOW_S = 2.0


class Frame(NamedTuple):
    msg: Any  # sensor_msgs/Image or CompressedImage
    compressed: bool
    received: float  # time.monotonic() at arrival


class FrameSlot:
    """Keep-last-1 hand-over from the executor to the worker: the newest frame wins."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Optional[Frame] = None
        self._closed = False

    def put(self, frame: Frame) -> bool:
        """Store ``frame``; True when it replaced one the worker had not taken yet (a dropped frame)."""
        with self._cond:
            replaced = self._frame is not None
            self._frame = frame
            self._cond.notify()
            return replaced

    def take(self) -> Optional[Frame]:
        """The newest frame, waiting for one; None once the slot is closed."""
        with self._cond:
            while self._frame is None and not self._closed:
                self._cond.wait()
            frame, self._frame = self._frame, None
            return None if self._closed else frame

    def clear(self) -> None:
        with self._cond:
            self._frame = None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def reject_reason(exc: Exception, compressed: bool) -> str:
    """A short key for why a frame could not be decoded (the diagnostics count frames by it)."""
    text = str(exc)
    if "not supported" in text:
        return "unsupported_encoding"
    if compressed:
        return "decode_failed"
    if text.startswith("Image step"):
        return "bad_step"
    if text.startswith("Image data has") or "empty" in text or "odd" in text or "smaller than" in text:
        return "bad_size"
    return "decode_failed"


def qos_from(reliability: str, depth: int) -> QoSProfile:
    """Keep last ``depth``, volatile; best_effort is the sensor-data profile (qos_profile_sensor_data)."""
    policy = ReliabilityPolicy.BEST_EFFORT if reliability == "best_effort" else ReliabilityPolicy.RELIABLE
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=policy,
                      durability=DurabilityPolicy.VOLATILE)


class Stats:
    """Counters, rates and timings since the last activation; written by two threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received = 0
        self.published = 0
        self.dropped = 0
        self.rejected: Dict[str, int] = {}
        self.input_rate = RateMeter(RATE_WINDOW_S)
        self.output_rate = RateMeter(RATE_WINDOW_S)
        self.latency_ms = RollingStats(300)
        self.stages = StageTimer()  # reset every diagnostics period
        self.last_stages: Dict[str, float] = {}
        self.last_input: Optional[float] = None
        self.input_size: Optional[Tuple[int, int]] = None  # height, width of the last frame
        self.output_size: Optional[Tuple[int, int]] = None
        self.backend_error: Optional[str] = None


class SegmentationNode(LifecycleNode):
    """The segmentation node; usable in-process with any executor."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self._segmenter: Optional[Segmenter] = None
        self._slot: Optional[FrameSlot] = None
        self._worker: Optional[threading.Thread] = None
        self._outputs: Dict[str, Any] = {}
        self._camera_info_pub = None
        self._diagnostics_pub = None
        self._diagnostics_timer = None
        self._inputs: List[Any] = []
        self._input_topic = ""
        self._state_label = "unconfigured"
        self._active = False
        self._activated_at = time.monotonic()
        self._last_error = ""
        self._last_logged: Dict[str, float] = {}
        self._stats = Stats()
        try:
            self._params = declare_parameters(self)
        except RailSegError:
            self.destroy_node()
            raise
        for name in unknown_overrides(self):
            self._warn(f"parameter {name} is not a parameter of this node (ignored)")
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._managed = bool(self._params["lifecycle"])
        if self._managed:
            self.get_logger().info("lifecycle: true, waiting for configure")
            return
        if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            error = self._last_error
            self.destroy_node()
            raise RailSegError(error)
        self.trigger_activate()

    # -- lifecycle --------------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self._configure()
        except Exception as exc:  # a model, engine or QoS problem: the node stays unconfigured
            self._last_error = str(exc) if isinstance(exc, RailSegError) else \
                f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, RailSegError):
                self.get_logger().debug(traceback.format_exc())
            if self._managed:
                self.get_logger().error(f"configure failed: {self._last_error}")
            self._release()
            return TransitionCallbackReturn.FAILURE
        self._state_label = "inactive"
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        p = self._params
        qos = qos_from(p["input_qos.reliability"], p["input_qos.depth"])
        self._stats = Stats()
        if p["input_transport"] == "compressed":
            image_sub = self.create_subscription(CompressedImage, "image/compressed", self._on_compressed, qos)
        else:
            image_sub = self.create_subscription(Image, "image", self._on_image, qos)
        info_sub = self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, qos)
        self._inputs = [image_sub, info_sub]
        self._input_topic = getattr(image_sub, "topic_name", "image")  # the resolved name (remapped)
        self._activated_at = time.monotonic()
        self._active = True
        self._state_label = "active"
        self.get_logger().info(f"segmenting {self._input_topic} with {self._segmenter.describe()}")
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_input()
        self._state_label = "inactive"
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        self._state_label = "finalized"
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self) -> None:
        self._release()
        super().destroy_node()

    def _configure(self) -> None:
        p = self._params
        self._segmenter = Segmenter.from_options(
            p["model"], weights=p["weights"] or None, backend=p["backend"], precision=p["precision"],
            device=p["device"], confidence=p["publish_confidence"], overlay_alpha=p["overlay_alpha"],
            output_resolution=p["output_resolution"], cache_dir=p["engine_cache_dir"] or None,
            calibration=p["calibration"] or None)
        blank = np.zeros(self._segmenter.card.input_size + (3,), np.uint8)
        for _ in range(p["warmup_frames"]):
            self._segmenter.process(blank, color=p["publish_color"], overlay=p["publish_overlay"])
        out_qos = qos_from(p["output_qos.reliability"], p["output_qos.depth"])
        for name, _ in OUTPUTS:
            if p["publish_" + name]:
                self._outputs[name] = self.create_publisher(Image, "~/" + name, out_qos)
        self._camera_info_pub = self.create_publisher(CameraInfo, "~/camera_info", out_qos)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diagnostics_timer = self.create_timer(
            1.0, self._publish_diagnostics, clock=Clock(clock_type=ClockType.STEADY_TIME))
        self._slot = FrameSlot()
        self._worker = threading.Thread(target=self._work, name="segmentation_worker", daemon=True)
        self._worker.start()
        self.get_logger().info(f"configured: {self._segmenter.describe()}")

    def _stop_input(self) -> None:
        self._active = False
        for subscription in self._inputs:
            self.destroy_subscription(subscription)
        self._inputs = []
        if self._slot is not None:
            self._slot.clear()

    def _release(self) -> None:
        """Undo configure (and activate); safe to call in any state, more than once."""
        self._stop_input()
        if self._slot is not None:
            self._slot.close()
        if self._worker is not None and self._worker is not threading.current_thread():
            self._worker.join(timeout=30.0)
        self._slot, self._worker = None, None
        if self._diagnostics_timer is not None:
            self.destroy_timer(self._diagnostics_timer)
        for publisher in list(self._outputs.values()) + [self._camera_info_pub, self._diagnostics_pub]:
            if publisher is not None:
                self.destroy_publisher(publisher)
        self._outputs, self._camera_info_pub, self._diagnostics_pub, self._diagnostics_timer = {}, None, None, None
        if self._segmenter is not None:
            self._segmenter.close()
            self._segmenter = None
        self._state_label = "unconfigured"

    # -- parameters --------------------------------------------------------------------------------
    def _on_set_parameters(self, parameters: List[Any]) -> SetParametersResult:
        configured = self._segmenter is not None
        for parameter in parameters:
            spec = PARAMETERS_BY_NAME.get(parameter.name)
            if spec is None:
                continue
            if parameter.name == "lifecycle":
                return SetParametersResult(successful=False, reason="lifecycle is fixed at start")
            if configured and not spec.runtime:
                return SetParametersResult(successful=False, reason=(
                    f"{parameter.name} is fixed while the node is configured; restart the node, or with "
                    f"lifecycle: true deactivate and clean it up, set it and configure again"))
            reason = spec.check(parameter.value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        for parameter in parameters:
            spec = PARAMETERS_BY_NAME.get(parameter.name)
            if spec is not None:
                value = parameter.value
                self._params[parameter.name] = float(value) if isinstance(spec.default, float) else value
        if configured:
            self._segmenter.overlay_alpha = self._params["overlay_alpha"]
            out_qos = qos_from(self._params["output_qos.reliability"], self._params["output_qos.depth"])
            for name, _ in OUTPUTS:
                if self._params["publish_" + name] and name not in self._outputs:
                    self._outputs[name] = self.create_publisher(Image, "~/" + name, out_qos)
        return SetParametersResult(successful=True)

    # -- callbacks (executor threads: no heavy work here) -----------------------------------------------
    def _on_image(self, msg: Image) -> None:
        self._enqueue(Frame(msg, False, time.monotonic()))

    def _on_compressed(self, msg: CompressedImage) -> None:
        self._enqueue(Frame(msg, True, time.monotonic()))

    def _enqueue(self, frame: Frame) -> None:
        stats, slot = self._stats, self._slot
        if slot is None:
            return
        stats.input_rate.tick(frame.received)
        replaced = slot.put(frame)
        with stats.lock:
            stats.received += 1
            stats.last_input = frame.received
            stats.dropped += int(replaced)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        segmenter, publisher = self._segmenter, self._camera_info_pub
        if segmenter is None or publisher is None:
            return
        if self._params["output_resolution"] == "input":
            publisher.publish(msg)
            return
        size = (msg.height, msg.width) if msg.height and msg.width else self._stats.input_size
        if size is None:
            self._warn_once("camera_info", "camera_info without width/height and no frame yet: not republished")
            return
        try:
            plan = segmenter.plan(*size)
        except RailSegError as exc:
            self._warn_once("camera_info", f"camera_info not republished: {exc}")
            return
        scale_x, scale_y = scale_factors(plan.frame, plan.content)
        # the pipeline crops the network's padding away, so the content starts at (0, 0) of the output
        publisher.publish(scale_camera_info(msg, plan.content[1], plan.content[0], scale_x, scale_y))

    # -- the worker -----------------------------------------------------------------------------------
    def _work(self) -> None:
        """The worker thread: segment the newest frame, again and again, until the slot is closed."""
        slot = self._slot
        while True:
            frame = slot.take()
            if frame is None:
                return
            try:
                self._process(frame)
            except Exception as exc:  # never let the worker die on one frame
                self._backend_failed(exc)

    def _process(self, frame: Frame) -> None:
        segmenter, stats, p = self._segmenter, self._stats, self._params
        start = time.perf_counter()
        try:
            rgb = compressed_msg_to_rgb8(frame.msg) if frame.compressed else image_msg_to_rgb8(frame.msg)
            segmenter.plan(rgb.shape[0], rgb.shape[1])  # rejects frames too small to segment
        except RailSegError as exc:  # ImageCodecError included
            reason = reject_reason(exc, frame.compressed)
            with stats.lock:
                stats.rejected[reason] = stats.rejected.get(reason, 0) + 1
            self._warn_once(reason, f"frame rejected ({reason}): {exc}")
            return
        decode_ms = (time.perf_counter() - start) * 1e3
        try:
            result = segmenter.process(rgb, color=p["publish_color"], overlay=p["publish_overlay"])
        except Exception as exc:
            self._backend_failed(exc)
            return
        if not self._active:
            return  # deactivated while this frame was in the engine: nothing is published
        start = time.perf_counter()
        self._publish_outputs(frame.msg.header, result)
        publish_ms = (time.perf_counter() - start) * 1e3
        latency_ms = self._latency_ms(frame.msg.header.stamp)
        stats.output_rate.tick(time.monotonic())
        with stats.lock:
            stats.published += 1
            stats.backend_error = None
            stats.input_size = rgb.shape[:2]
            stats.output_size = result.labels.shape[:2]
            for stage, ms in dict(result.timings_ms, decode=decode_ms, publish=publish_ms).items():
                stats.stages.add(stage, ms)
        if latency_ms is not None:
            stats.latency_ms.add(latency_ms)

    def _publish_outputs(self, header: Any, result: Any) -> None:
        arrays = {"labels": result.labels, "color": result.color, "overlay": result.overlay,
                  "confidence": result.confidence}
        for name, encoding in OUTPUTS:
            publisher = self._outputs.get(name)
            if publisher is None or arrays[name] is None or not self._params["publish_" + name]:
                continue
            msg = Image()
            msg.header = header
            publisher.publish(fill_image_msg(msg, arrays[name], encoding))

    def _latency_ms(self, stamp: Any) -> Optional[float]:
        """Header stamp to now on the node's clock; None for an unstamped frame."""
        stamp_ns = stamp.sec * 1_000_000_000 + stamp.nanosec
        if stamp_ns == 0:
            return None
        return (self.get_clock().now().nanoseconds - stamp_ns) / 1e6

    def _backend_failed(self, exc: Exception) -> None:
        text = f"{type(exc).__name__}: {exc}".splitlines()[0]
        with self._stats.lock:
            self._stats.backend_error = text
            self._stats.rejected["backend_error"] = self._stats.rejected.get("backend_error", 0) + 1
        self._error_once("backend_error", f"inference failed: {text}")

    # -- logging -----------------------------------------------------------------------------------
    def _due(self, key: str) -> bool:
        now = time.monotonic()
        with self._stats.lock:
            last = self._last_logged.get(key)
            if last is not None and now - last < LOG_EVERY_S:
                return False
            self._last_logged[key] = now
            return True

    def _warn(self, text: str) -> None:
        self.get_logger().log(text, LoggingSeverity.WARN)

    def _warn_once(self, key: str, text: str) -> None:
        """Warn at most once per ``LOG_EVERY_S`` for each ``key``."""
        if self._due(key):
            self.get_logger().log(text, LoggingSeverity.WARN)

    def _error_once(self, key: str, text: str) -> None:
        if self._due(key):
            self.get_logger().error(text)

    # -- diagnostics ---------------------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        publisher = self._diagnostics_pub
        if publisher is None:
            return
        now = time.monotonic()
        stats = self._stats
        with stats.lock:
            means = stats.stages.means()
            stats.stages.reset()
            if means:
                stats.last_stages = means
        level, message = self._health(now)
        status = DiagnosticStatus(level=level, message=message,
                                  name=f"{self._qualified_name()}: segmentation",
                                  hardware_id=self._model_name())
        status.values = [KeyValue(key=key, value=value) for key, value in self._diagnostic_values(now)]
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        array.status = [status]
        publisher.publish(array)

    def _qualified_name(self) -> str:
        """'front/segmentation_node' in namespace /front, 'segmentation_node' at the root."""
        return f"{self.get_namespace().rstrip('/')}/{self.get_name()}".lstrip("/")

    def _model_name(self) -> str:
        return self._segmenter.card.name if self._segmenter is not None else str(self._params["model"])

    def _health(self, now: float) -> Tuple[bytes, str]:
        stats, p = self._stats, self._params
        if stats.backend_error:
            return DiagnosticStatus.ERROR, f"backend failed: {stats.backend_error}"
        if not self._active:
            return DiagnosticStatus.OK, self._state_label
        silent_s = now - (stats.last_input if stats.last_input is not None else self._activated_at)
        if silent_s > p["input_timeout"]:
            return DiagnosticStatus.WARN, f"no input on {self._input_topic} for {silent_s:.1f} s"
        output_rate = stats.output_rate.rate(now)
        if p["min_rate"] > 0 and now - self._activated_at > RATE_WINDOW_S and output_rate < p["min_rate"]:
            return DiagnosticStatus.WARN, f"output rate {output_rate:.1f} Hz is below min_rate {p['min_rate']:g} Hz"
        return DiagnosticStatus.OK, f"segmenting at {output_rate:.1f} Hz"

    def _diagnostic_values(self, now: float) -> List[Tuple[str, str]]:
        stats, segmenter = self._stats, self._segmenter
        with stats.lock:
            counters = [("frames_received", stats.received), ("frames_published", stats.published),
                        ("dropped", stats.dropped), ("rejected", sum(stats.rejected.values()))]
            counters += [("rejected." + reason, n) for reason, n in sorted(stats.rejected.items())]
            stages = dict(stats.last_stages)
            sizes = [("input_size", stats.input_size), ("output_size", stats.output_size)]
            error = stats.backend_error or self._last_error
        values = [("state", self._state_label), ("model", self._model_name())]
        if segmenter is not None:
            values += [("architecture", segmenter.card.architecture), ("label_set", segmenter.card.label_set),
                       ("backend", segmenter.backend.name), ("precision", segmenter.backend.precision),
                       ("device", segmenter.backend.device)]
        values += [("input_topic", self._input_topic), ("input_transport", self._params["input_transport"]),
                   ("input_rate_hz", f"{stats.input_rate.rate(now):.2f}"),
                   ("output_rate_hz", f"{stats.output_rate.rate(now):.2f}")]
        values += [(key, str(n)) for key, n in counters]
        values += [("latency_p50_ms", f"{stats.latency_ms.percentile(50):.1f}"),
                   ("latency_p95_ms", f"{stats.latency_ms.percentile(95):.1f}")]
        values += [(stage + "_ms", f"{stages.get(stage, float('nan')):.2f}") for stage in STAGES]
        values += [(key, f"{size[1]}x{size[0]}" if size else "") for key, size in sizes]
        values.append(("last_error", error or ""))
        return values


def main(args: Optional[List[str]] = None) -> int:
    """``ros2 run rail_seg_ros segmentation_node [--ros-args ...]``; 2 on a bad parameter or model."""
    rclpy.init(args=args)
    node = None
    try:
        node = SegmentationNode()
        rclpy.spin(node)
    except RailSegError as exc:
        print(f"{NODE_NAME}: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
