"""The live bench, measured the way NVIDIA's ros2_benchmark does it.

The node runs as a separate process (or an already running one is used). Every frame of the bag is
turned into an rclpy message up front (same encoding as recorded). Once the node's ``~/labels``
publisher and its image subscription are matched, warm-up frames are sent (each waited for; not
counted). Then the frames are published at the recorded rate (from the bag's header stamps), R times
it, or back to back, each with a unique header stamp (wall clock ns, strictly increasing) that keys it.
A subscriber spun by an executor thread takes the receive time of each ``~/labels`` message first
thing in its callback; latency = receive time - publish time, both ``time.perf_counter()`` in this
process (the publish time is taken just before ``publish()``, so serialisation and transport both ways
are included). Scoring and recording happen in a worker thread so they never delay a receive. After
the last publish the bench waits until every output came or none came for min(drain_timeout, max(1 s,
4 x the longest latency seen)) - the node keeps one frame while busy, so an output comes within a few
latencies or never; frames without an output then are dropped. Outputs whose stamp matches no frame
sent are stray.

QoS: the bench publishes reliable, keep-last 10 (compatible with any subscription), with the package's
DDS profile unless the user set one (rail_seg_ros.dds). A node it starts has its default QoS (best-effort
input, see node_process); a running node is used with the QoS it has, and the bench subscribes best
effort when the node publishes best effort.
"""

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import numpy as np
from tqdm import tqdm

from ..bag import COMPRESSED_TYPE, GT_TOPIC, IMAGE_TOPIC, IMAGE_TYPE, RecorderThread, header_stamp_ns, inspect_bag
from ..contract import (
    DIAGNOSTICS_TOPIC,
    NODE_NAME,
    NODE_STAGES,
    OUTPUT_LABELS,
    RECORDED_OUTPUTS,
    RELIABLE,
    input_topic,
    join_name,
    output_topics,
    stage_key,
    status_name,
)
from ..errors import RailSegError
from ..metrics import ConfusionMatrix
from ..qos import qos_profile
from .node_process import SPAWN_NAMESPACE, NodeProcess, node_command, spawn_parameters, write_params_file
from .replay import Preloaded, preload, schedule
from .result import RunData, Sample, Scorer, finite, sample_indices
from .session import RosSession, ensure_local_dds
from .track import TRACK_TRUTH_TOPIC, track_scorer_for


@dataclass
class LiveOptions:
    """Everything a live run needs besides the bag (the CLI fills it from its arguments)."""

    model: str
    weights: Optional[str] = None
    backend: str = "auto"
    precision: str = "fp32"
    device: str = "auto"
    cache_dir: Optional[str] = None
    calibration: Optional[str] = None
    label_set: Optional[str] = None
    color_order: Optional[str] = None
    image_topic: str = IMAGE_TOPIC
    gt_topic: Optional[str] = GT_TOPIC
    track_topic: Optional[str] = TRACK_TRUTH_TOPIC  # track-ahead truth (bench.track); None: not scored
    typestore: Optional[str] = None
    rate: float = 1.0  # multiple of the recorded rate
    max_rate: bool = False  # publish back to back
    iterations: int = 1
    find_max_rate: bool = False
    max_loss: float = 0.05
    max_trials: int = 6
    trial_frames: int = 50
    warmup: int = 3
    record: Optional[str] = None
    record_storage: str = "sqlite3"
    namespace: Optional[str] = None
    node_name: str = NODE_NAME
    use_running_node: bool = False
    input_topic: Optional[str] = None  # the running node's input; found from its subscriptions when None
    node_params: List[str] = field(default_factory=list)  # NAME:=VALUE for the node the bench starts
    ready_timeout: float = 300.0
    drain_timeout: float = 5.0
    samples: int = 4
    progress: bool = True


class DiagnosticsWatch:
    """The node's newest diagnostics values and, while collecting, its per-stage times."""

    def __init__(self) -> None:
        self.status_name = ""
        self.values: Dict[str, str] = {}
        self.stage_samples: Dict[str, List[float]] = {}
        self.collecting = False
        self.arrived = threading.Event()

    def on_message(self, msg: Any) -> None:
        for status in msg.status:
            if status.name != self.status_name:
                continue
            values = {kv.key: kv.value for kv in status.values}
            self.values = values
            self.arrived.set()
            if self.collecting:
                for stage in NODE_STAGES:
                    value = values.get(stage_key(stage))
                    if value is not None and finite(value):
                        self.stage_samples.setdefault(stage, []).append(float(value))

    def stages_ms(self) -> Dict[str, float]:
        """Mean of the node's per-second stage means over the measured runs."""
        return {stage: float(np.mean(v)) for stage, v in self.stage_samples.items() if v}


class LiveBench:
    """One live session: the node (started or found), the DDS endpoints, warm-up and measured runs."""

    def __init__(self, bag_path: Any, options: LiveOptions) -> None:
        self.options = options
        self.info = inspect_bag(bag_path, options.image_topic, options.gt_topic, options.typestore)
        from ..model_card import load_card

        self.card = load_card(options.model, weights=options.weights, label_set=options.label_set,
                              color_order=options.color_order)
        self.label_set = self.card.labels
        self.compressed = self.info.msgtype == COMPRESSED_TYPE
        self.track, self.track_note = track_scorer_for(self.info.path, options.track_topic, self.label_set,
                                                       sample_indices(self.info.frames, options.samples),
                                                       options.typestore)
        self.session: Optional[RosSession] = None
        self.node_process: Optional[NodeProcess] = None
        self.recorder: Optional[RecorderThread] = None
        self.scorer: Optional[Scorer] = None
        self.watch = DiagnosticsWatch()
        self.publisher: Any = None
        self.subscriptions: List[Any] = []
        self.topics: Dict[str, str] = {}
        self.input_topic = ""
        self.node_fqn = ""
        self.output_reliable = True
        self.preloaded: Optional[Preloaded] = None
        self._params_file: Optional[Path] = None
        self._lock = threading.Lock()
        self._expected: Dict[int, Tuple[int, float, bool]] = {}  # stamp -> (frame index, publish time, warm-up)
        self._record_stamps: Set[int] = set()
        self._last_stamp = 0
        self._current: Optional[RunData] = None
        self._warm_event = threading.Event()
        self._last_receive = 0.0
        self._max_latency_s = 0.0

    @property
    def diagnostics(self) -> Dict[str, str]:
        """The node's last diagnostics values."""
        return self.watch.values

    # -- set-up --------------------------------------------------------------------------------
    def preload(self) -> Preloaded:
        """Every frame as an rclpy message (and its ground truth), before any timing starts."""
        opts = self.options
        self.preloaded = preload(self.info, opts.image_topic, opts.typestore, opts.samples, opts.progress)
        return self.preloaded

    def start(self) -> None:
        """Open the session, start (or find) the node, connect to it."""
        opts = self.options
        self.session = RosSession(f"rail_seg_bench_{os.getpid()}")
        self.scorer = Scorer(self.label_set, self.preloaded.gts, self.preloaded.sample_rgb, self.track,
                             self.preloaded.stamps_ns)
        if opts.use_running_node:
            namespace = opts.namespace or "/"
        else:
            namespace = opts.namespace or SPAWN_NAMESPACE
            self._start_node(namespace)
        self.node_fqn = join_name(namespace, opts.node_name)
        self.watch.status_name = status_name(self.node_fqn)
        self.topics = output_topics(namespace, opts.node_name)
        self._connect(namespace)

    def _start_node(self, namespace: str) -> None:
        opts = self.options
        if opts.label_set or opts.color_order:
            raise RailSegError(f"--labels and --color-order are not parameters of {NODE_NAME}; put them in a "
                               "model card YAML and pass that as --model")
        self._params_file = write_params_file(spawn_parameters(
            opts.model, opts.weights, opts.backend, opts.precision, opts.device, opts.cache_dir,
            opts.calibration, self.compressed))
        command = node_command(namespace, opts.node_name, self._params_file, opts.node_params)
        self.node_process = NodeProcess(command, ensure_local_dds(dict(os.environ)))
        self.input_topic = join_name(namespace, input_topic(self.compressed))

    def _check_node(self, what: str) -> None:
        if self.node_process is not None:
            self.node_process.check(what)
        if self.session is not None:
            self.session.check()
        if self.recorder is not None:
            self.recorder.check()
        if self.scorer is not None and self.scorer.error is not None:
            raise RailSegError(f"scoring failed: {self.scorer.error}")

    def _wait(self, condition: Callable[[], bool], timeout: float, what: str) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_node(what)
            if condition():
                return True
            time.sleep(0.05)
        return condition()

    def _find_input_topic(self, namespace: str) -> str:
        """The topic the running node subscribes to, from its subscriptions' types."""
        node = self.session.node
        wanted = COMPRESSED_TYPE if self.compressed else IMAGE_TYPE
        found: List[str] = []

        def look() -> bool:
            try:
                pairs = node.get_subscriber_names_and_types_by_node(self.options.node_name, join_name(namespace))
            except Exception:  # the node is not (yet) known to the graph
                return False
            found[:] = [name for name, types in pairs if wanted in types]
            return bool(found)

        if not self._wait(look, self.options.ready_timeout, "while the bench looked for it"):
            raise RailSegError(self._not_found_text(f"subscribing to a {wanted} topic"))
        if len(found) > 1:
            raise RailSegError(f"{self.node_fqn} subscribes to several {wanted} topics ({', '.join(found)}); "
                               f"choose one with --input-topic")
        return found[0]

    def _not_found_text(self, what: str) -> str:
        names = self.session.node.get_node_names_and_namespaces()
        running = ", ".join(sorted(join_name(ns, name) for name, ns in names)) or "none"
        return (f"no node {self.node_fqn} {what} within {self.options.ready_timeout:g} s (nodes seen: {running}; "
                f"ROS_DOMAIN_ID={os.environ.get('ROS_DOMAIN_ID', '0')})")

    def _connect(self, namespace: str) -> None:
        """Wait for the node's outputs, subscribe to them and /diagnostics, publish to its input."""
        opts = self.options
        if opts.use_running_node:
            self.input_topic = opts.input_topic or self._find_input_topic(namespace)
        self._wait_for_outputs()
        self._subscribe()
        self._open_input()

    def _wait_for_outputs(self) -> None:
        """The node creates its output publishers once the model is loaded and warmed up."""
        opts, labels_topic = self.options, self.topics[OUTPUT_LABELS]
        if self._wait(lambda: bool(self.session.publisher_qos(labels_topic)), opts.ready_timeout,
                      "before it was ready"):
            return
        if self.node_process is not None:
            tail = self.node_process.tail()
            raise RailSegError(f"{NODE_NAME} did not publish {labels_topic} within {opts.ready_timeout:g} s "
                               f"(raise --ready-timeout for a first TensorRT build); its last output:\n"
                               f"{tail or '(none)'}")
        raise RailSegError(self._not_found_text(f"publishing {labels_topic}"))

    def _subscribe(self) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from sensor_msgs.msg import Image

        session, depth = self.session, 50
        labels_topic = self.topics[OUTPUT_LABELS]
        self.output_reliable = session.offered_reliability(labels_topic) == RELIABLE
        self.subscriptions.append(session.subscribe(Image, labels_topic, self._on_labels, depth))
        if self.options.record:
            self.recorder = RecorderThread(self.options.record, self.options.record_storage,
                                           [self.topics[name] for name in RECORDED_OUTPUTS])
            for name in RECORDED_OUTPUTS:
                if name != OUTPUT_LABELS:  # labels are recorded by _on_labels
                    topic = self.topics[name]
                    self.subscriptions.append(session.subscribe(Image, topic, self._recording_callback(topic), depth))
        self.subscriptions.append(session.node.create_subscription(
            DiagnosticArray, DIAGNOSTICS_TOPIC, self.watch.on_message, 10))

    def _open_input(self) -> None:
        from sensor_msgs.msg import CompressedImage, Image

        node, labels_topic = self.session.node, self.topics[OUTPUT_LABELS]
        self.publisher = node.create_publisher(CompressedImage if self.compressed else Image, self.input_topic,
                                               qos_profile(RELIABLE, 10))
        matched = self._wait(lambda: self.publisher.get_subscription_count() > 0
                             and node.count_publishers(labels_topic) > 0, self.options.ready_timeout,
                             "before it was ready")
        if not matched:
            raise RailSegError(f"{self.node_fqn} does not subscribe to {self.input_topic} (no subscription matched "
                               f"within {self.options.ready_timeout:g} s); check its input transport / remapping")

    # -- callbacks (executor thread) -------------------------------------------------------------
    def _on_labels(self, msg: Any) -> None:
        now = time.perf_counter()
        stamp = header_stamp_ns(msg)
        with self._lock:
            entry = self._expected.pop(stamp, None)
            run = self._current
            if entry is None:
                if run is not None:
                    run.stray += 1
                return
            index, published, warmup = entry
            self._last_receive = now
            self._max_latency_s = max(self._max_latency_s, now - published)
            if warmup:
                self._warm_event.set()
                return
            if run is None:
                return
            run.received += 1
            run.latencies_ms.append((now - published) * 1e3)
            run.receive_times_s.append(now)
        self.scorer.put(run, index, msg)
        if self.recorder is not None:
            self.recorder.add(self.topics[OUTPUT_LABELS], msg, time.time_ns())

    def _recording_callback(self, topic: str) -> Callable[[Any], None]:
        def record(msg: Any) -> None:
            if header_stamp_ns(msg) in self._record_stamps:
                self.recorder.add(topic, msg, time.time_ns())
        return record

    # -- publishing -----------------------------------------------------------------------------
    def _next_stamp(self) -> int:
        stamp = max(time.time_ns(), self._last_stamp + 1)
        self._last_stamp = stamp
        return stamp

    def _publish(self, msg: Any) -> None:
        self.publisher.publish(msg)

    def _send(self, index: int, warmup: bool) -> int:
        """Publish frame ``index`` (cycling through the bag) with a fresh stamp; return the stamp."""
        msgs = self.preloaded.messages
        msg = msgs[index % len(msgs)]
        stamp = self._next_stamp()
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
        if not warmup and self.recorder is not None:
            self._record_stamps.add(stamp)
        run = None if warmup else self._current
        with self._lock:
            published = time.perf_counter()
            self._expected[stamp] = (index, published, warmup)
            if run is not None:
                run.publish_times_s.append(published)
                run.sent += 1
        try:
            self._publish(msg)
        except BaseException:  # Ctrl-C inside publish(): the frame was not sent
            with self._lock:
                self._expected.pop(stamp, None)
                if run is not None:
                    run.publish_times_s.pop()
                    run.sent -= 1
            raise
        return stamp

    def warm_up(self) -> None:
        """Send warm-up frames, each waited for; the first is re-sent until the node answers."""
        opts = self.options
        count = max(1, opts.warmup)
        deadline = time.monotonic() + opts.ready_timeout
        first = True
        done = 0
        while done < count:
            self._warm_event.clear()
            stamp = self._send(done, warmup=True)
            wait = 2.0 if first else max(10.0, opts.drain_timeout)
            if self._wait(self._warm_event.is_set, wait, "during the warm-up"):
                done += 1
                first = False
                continue
            with self._lock:
                self._expected.pop(stamp, None)
            if not first or time.monotonic() > deadline:
                raise RailSegError(f"{self.node_fqn} sent no {self.topics[OUTPUT_LABELS]} for a warm-up frame on "
                                   f"{self.input_topic} (waited {wait if not first else opts.ready_timeout:g} s)"
                                   + self._log_tail())
        with self._lock:
            self._expected.clear()

    def _log_tail(self) -> str:
        if self.node_process is None:
            return ""
        tail = self.node_process.tail()
        return f"; its last output:\n{tail}" if tail else ""

    def measure(self, label: str, count: Optional[int] = None, hz: Optional[float] = None,
                max_rate: Optional[bool] = None, stages: bool = True) -> RunData:
        """One pass: publish ``count`` frames (the bag's by default) on schedule, wait for the outputs.

        ``stages``: collect the node's stage times from its diagnostics during the pass.
        """
        opts, pre = self.options, self.preloaded
        count = len(pre.messages) if count is None else count
        max_rate = opts.max_rate if max_rate is None else max_rate
        times = schedule(pre.offsets_s, count, opts.rate, max_rate, hz)
        run = RunData(label, confusion=ConfusionMatrix(self.label_set.num_classes) if self.info.has_gt else None)
        with self._lock:
            self._expected.clear()
            self._current = run
        self.watch.collecting = stages
        bar = tqdm(total=count, unit="frame", desc=label, disable=not opts.progress)
        try:
            self._publish_on_schedule(run, times, bar)
            self._drain(run)
            bar.set_postfix(received=run.received)
        except KeyboardInterrupt:
            run.interrupted = True
        finally:
            bar.close()
            with self._lock:
                self._current = None
                self._expected.clear()
            self.watch.collecting = False
        self.scorer.join()
        return run

    def _publish_on_schedule(self, run: RunData, times: List[float], bar: Any) -> None:
        start = time.perf_counter()
        for index, offset in enumerate(times):
            delay = start + offset - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            if index % 16 == 0:
                self._check_node("during the run")
            self._send(index, warmup=False)
            bar.update(1)
            bar.set_postfix(received=run.received, refresh=False)

    def _drain(self, run: RunData) -> None:
        """Wait until every output came, or none came for a while after the last publish."""
        last_publish = time.perf_counter()
        # the node keeps one frame while busy: an output comes within a few latencies of its frame or never
        quiet = min(self.options.drain_timeout, max(1.0, 4.0 * self._max_latency_s))

        def drained() -> bool:
            with self._lock:
                return run.received >= run.sent or (
                    time.perf_counter() - max(last_publish, self._last_receive) > quiet)

        self._wait(drained, float("inf"), "during the run")

    def final_diagnostics(self, timeout: float = 1.5) -> None:
        """Wait for the node's next diagnostics (it covers the end of the last run) and collect its stages."""
        if self.session is None or not self.node_fqn:
            return
        self.watch.arrived.clear()
        self.watch.collecting = True
        try:
            self._wait(self.watch.arrived.is_set, timeout, "after the run")
        finally:
            self.watch.collecting = False

    def samples(self) -> List[Sample]:
        if self.scorer is None:
            return []
        return self.scorer.samples() + (self.track.samples() if self.track is not None else [])

    def stages_ms(self) -> Dict[str, float]:
        """Mean of the node's per-second stage means (its /diagnostics) over the measured runs."""
        return self.watch.stages_ms()

    def close(self, failed: bool) -> Optional[int]:
        """Stop everything; the node process gets SIGINT. Return its exit status (None for a running node)."""
        code = None
        try:
            if self.session is not None:
                self.session.close()
        finally:
            self.subscriptions = []
            if self.node_process is not None:
                code = self.node_process.stop()
                self.node_process.remove_log()
            if self.scorer is not None:
                self.scorer.stop()
            if self._params_file is not None and self._params_file.exists():
                self._params_file.unlink()
            if self.recorder is not None:
                self.recorder.finish(keep=not failed)
        return code
