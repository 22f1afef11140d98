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
    ~/labels/compressed  CompressedImage, labels as lossless PNG (publish_labels_compressed, off by default)
    ~/camera_info      camera_info scaled to the outputs' size
    ~/track/...        track ahead (track.* parameters): ego path, markers, status; see track_outputs
    /diagnostics       diagnostic_msgs/DiagnosticArray, once a second (node_diagnostics.py)

Threading: the image callback only puts the message into a keep-last-1 slot; one worker thread
decodes, segments and publishes the newest frame. A frame replaced in the slot before the worker
took it is counted as dropped, so the node never falls behind and the executor never waits. Where rclpy gives
each frame its publisher's gid and sequence number (Kilted), frames replaced in the reader history before the
callback are counted as lost (node_state.SequenceGaps).

Lifecycle: the node is an rclpy lifecycle node. configure loads the model and builds (or loads)
the engine, activate subscribes, deactivate unsubscribes, cleanup and shutdown release the engine.
With ``lifecycle: false`` (the default) it configures and activates itself at start.
"""

import sys
import threading
import time
import traceback
from typing import Any, Dict, List, Optional

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.logging import LoggingSeverity
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from . import dds
from .camera_info import scale_camera_info, scale_factors
from .contract import (
    CAMERA_INFO_OUTPUT,
    DIAGNOSTICS_TOPIC,
    INPUT_CAMERA_INFO,
    INPUT_COMPRESSED,
    INPUT_IMAGE,
    LABELS_COMPRESSED_PARAMETER,
    LABELS_COMPRESSION,
    NODE_NAME,
    OUTPUT_COLOR,
    OUTPUT_CONFIDENCE,
    OUTPUT_ENCODINGS,
    OUTPUT_LABELS,
    OUTPUT_LABELS_COMPRESSED,
    OUTPUT_OVERLAY,
    OUTPUTS,
    PARAMETERS_BY_NAME,
    PRIVATE,
    TRANSPORT_COMPRESSED,
    Reject,
    Stage,
)
from .errors import FrameError, RailSegError
from .image_codec import (
    compressed_msg_to_rgb8,
    fill_compressed_msg,
    fill_image_msg,
    image_msg_to_rgb8,
    quiet_opencv,
)
from .node_diagnostics import DiagnosticsMixin
from .node_input import InputWatch, log_dds_profile, subscribe
from .node_params import declare_parameters, unknown_overrides
from .node_state import FrameSlot, ReceivedFrame, SequenceGaps, Stats
from .pipeline import Segmenter
from .qos import qos_profile
from .ros_names import remap_problems
from .track_outputs import TrackOutputs, track_state

LOG_EVERY_S = 10.0  # a problem of one kind is logged at most this often


class SegmentationNode(DiagnosticsMixin, LifecycleNode):
    """The segmentation node; usable in-process with any executor."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self._segmenter: Optional[Segmenter] = None
        self._slot: Optional[FrameSlot] = None
        self._worker: Optional[threading.Thread] = None
        self._outputs: Dict[str, Any] = {}
        self._camera_info_pub = None
        self._track: Optional[TrackOutputs] = None
        self._track_state = ""
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
        self._dds_profile = dds.profile_in_effect()  # main() applied the package's profile unless the user set one
        self._hint = ""
        self._watch = InputWatch()
        self._gaps = SequenceGaps()
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
        qos = qos_profile(p["input_qos.reliability"], p["input_qos.depth"])
        self._stats, self._watch, self._gaps = Stats(), InputWatch(), SequenceGaps()
        if p["input_transport"] == TRANSPORT_COMPRESSED:
            image_sub = subscribe(self, CompressedImage, INPUT_COMPRESSED, self._on_compressed, qos, self._on_lost)
        else:
            image_sub = subscribe(self, Image, INPUT_IMAGE, self._on_image, qos, self._on_lost)
        info_sub = self.create_subscription(CameraInfo, INPUT_CAMERA_INFO, self._on_camera_info, qos)
        self._inputs = [image_sub, info_sub]
        self._input_topic = getattr(image_sub, "topic_name", INPUT_IMAGE)  # the resolved name (remapped)
        self._activated_at = time.monotonic()
        self._active = True
        self._state_label = "active"
        self.get_logger().info(f"segmenting {self._input_topic} with {self._segmenter.describe()}")
        log_dds_profile(self.get_logger(), self._dds_profile)  # after a clean start only: errors stay one line
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
        self._create_output_publishers()
        out_qos = qos_profile(p["output_qos.reliability"], p["output_qos.depth"])
        self._camera_info_pub = self.create_publisher(CameraInfo, PRIVATE + CAMERA_INFO_OUTPUT, out_qos)
        off = track_state(p, self._segmenter.card.label_set)
        self._track = None if off else TrackOutputs(self, p, out_qos, self._qualified_name, self._warn_once)
        self._track_state = f"off: {off}" if off else "running"
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, DIAGNOSTICS_TOPIC, 10)
        self._diagnostics_timer = self.create_timer(
            1.0, self._publish_diagnostics, clock=Clock(clock_type=ClockType.STEADY_TIME))
        self._slot = FrameSlot()
        self._worker = threading.Thread(target=self._work, name="segmentation_worker", daemon=True)
        self._worker.start()
        self.get_logger().info(f"configured: {self._segmenter.describe()}")

    def _create_output_publishers(self) -> None:
        """A publisher for every image output switched on that has none yet."""
        p = self._params
        out_qos = qos_profile(p["output_qos.reliability"], p["output_qos.depth"])
        for output in OUTPUTS:
            if p[output.parameter] and output.name not in self._outputs:
                self._outputs[output.name] = self.create_publisher(Image, PRIVATE + output.name, out_qos)
        if p[LABELS_COMPRESSED_PARAMETER] and OUTPUT_LABELS_COMPRESSED not in self._outputs:
            self._outputs[OUTPUT_LABELS_COMPRESSED] = self.create_publisher(
                CompressedImage, PRIVATE + OUTPUT_LABELS_COMPRESSED, out_qos)

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
        if self._track is not None:
            self._track.destroy()
            self._track = None
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
            self._create_output_publishers()
        return SetParametersResult(successful=True)

    # -- callbacks (executor threads: no heavy work here) -----------------------------------------------
    def _on_image(self, msg: Image, info: Optional[Dict[str, Any]]) -> None:
        self._enqueue(ReceivedFrame(msg, False, time.monotonic()), info)

    def _on_compressed(self, msg: CompressedImage, info: Optional[Dict[str, Any]]) -> None:
        self._enqueue(ReceivedFrame(msg, True, time.monotonic()), info)

    def _enqueue(self, frame: ReceivedFrame, info: Optional[Dict[str, Any]]) -> None:
        stats, slot = self._stats, self._slot
        if slot is None:
            return
        stats.input_rate.tick(frame.received)
        replaced = slot.put(frame)
        gap = self._gaps.gap(info)  # frames of this publisher that never reached the callback
        with stats.lock:
            if gap is not None:
                stats.sequence_counted = True
                stats.lost_in_sequence += gap
                stats.received += gap
            stats.received += 1
            stats.last_input = frame.received
            stats.dropped += int(replaced)

    def _on_lost(self, count: int) -> None:
        with self._stats.lock:
            self._stats.lost_reported += max(0, count)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        segmenter, publisher = self._segmenter, self._camera_info_pub
        if segmenter is None or publisher is None:
            return
        if self._track is not None:
            self._track.set_camera_info(msg)
        if self._params["output_resolution"] == "input":
            publisher.publish(msg)
            return
        size = (msg.height, msg.width) if msg.height and msg.width else self._stats.input_size
        if size is None:
            self._warn_once(CAMERA_INFO_OUTPUT, "camera_info without width/height and no frame yet: not republished")
            return
        try:
            plan = segmenter.plan(*size)
        except RailSegError as exc:
            self._warn_once(CAMERA_INFO_OUTPUT, f"camera_info not republished: {exc}")
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

    def _process(self, frame: ReceivedFrame) -> None:
        segmenter, stats, p = self._segmenter, self._stats, self._params
        start = time.perf_counter()
        try:
            decode = compressed_msg_to_rgb8 if frame.compressed else image_msg_to_rgb8
            rgb = decode(frame.msg, p["max_pixels"])  # too_large frames are refused before decoding
            segmenter.plan(rgb.shape[0], rgb.shape[1])  # rejects frames too small to segment
        except FrameError as exc:  # the codec's ImageCodecError included; its reason is what is counted
            reason = exc.reason
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
        track = self._track.process(result) if self._track is not None else None
        track_ms = (time.perf_counter() - start) * 1e3
        start = time.perf_counter()
        self._publish_outputs(frame.msg.header, result)
        if track is not None:
            self._track.publish(frame.msg.header, *track)
        publish_ms = (time.perf_counter() - start) * 1e3
        latency_ms = self._latency_ms(frame.msg.header.stamp)
        stats.output_rate.tick(time.monotonic())
        with stats.lock:
            stats.published += 1
            stats.backend_error = None
            stats.input_size = rgb.shape[:2]
            stats.output_size = result.labels.shape[:2]
            timings = dict(result.timings_ms, **{Stage.DECODE: decode_ms, Stage.PUBLISH: publish_ms})
            if track is not None:
                timings[Stage.TRACK] = track_ms
            for stage, ms in timings.items():
                stats.stages.add(stage, ms)
        if latency_ms is not None:
            stats.latency_ms.add(latency_ms)

    def _publish_outputs(self, header: Any, result: Any) -> None:
        arrays = {OUTPUT_LABELS: result.labels, OUTPUT_COLOR: result.color, OUTPUT_OVERLAY: result.overlay,
                  OUTPUT_CONFIDENCE: result.confidence}
        for output in OUTPUTS:
            publisher = self._outputs.get(output.name)
            if publisher is None or arrays[output.name] is None or not self._params[output.parameter]:
                continue
            msg = Image()
            msg.header = header
            publisher.publish(fill_image_msg(msg, arrays[output.name], output.encoding))
        publisher = self._outputs.get(OUTPUT_LABELS_COMPRESSED)
        if publisher is not None and self._params[LABELS_COMPRESSED_PARAMETER]:
            msg = CompressedImage()
            msg.header = header
            publisher.publish(fill_compressed_msg(msg, result.labels, OUTPUT_ENCODINGS[OUTPUT_LABELS],
                                                  LABELS_COMPRESSION))

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
            self._stats.rejected[Reject.BACKEND_ERROR] = self._stats.rejected.get(Reject.BACKEND_ERROR, 0) + 1
        self._error_once(Reject.BACKEND_ERROR, f"inference failed: {text}")

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


def main(args: Optional[List[str]] = None) -> int:
    """``ros2 run rail_seg_ros segmentation_node [--ros-args ...]``; 2 on a bad parameter, name or model."""
    bad_names = remap_problems(sys.argv if args is None else args)
    if bad_names:  # rcl would refuse them inside rclpy.init with a traceback
        print(f"{NODE_NAME}: {bad_names[0]}", file=sys.stderr)
        return 2
    quiet_opencv()
    dds.apply_profile()  # before rclpy.init: Fast DDS reads the profile when the participant is created
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
