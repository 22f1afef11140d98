"""The segmentation node's interface, ROS-free: what a user, a launch file, the bench and the tests rely on.

Node name, inputs, outputs and their encodings, stage names, reject reasons, diagnostics keys and the
parameter table are defined here once. The node (rclpy), the bench, the launch files, the example client,
the README tables and the tests take them from this module; it imports nothing from the package, so it
loads without ROS and without torch.
"""
# The Jetson target runs Python 3.8: typing.Dict/Tuple/Optional on purpose.

import re
from dataclasses import dataclass
from typing import Any, Dict, NamedTuple, Optional, Tuple

NODE_NAME = "segmentation_node"
EXECUTABLE = NODE_NAME  # `ros2 run rail_seg_ros segmentation_node`, the console script setup.py installs

# ---- topics ------------------------------------------------------------------------------------------
# inputs: names relative to the node's namespace (remap them to the camera)
INPUT_IMAGE = "image"
INPUT_COMPRESSED = "image/compressed"
INPUT_CAMERA_INFO = "camera_info"
DIAGNOSTICS_TOPIC = "/diagnostics"
CAMERA_INFO_OUTPUT = "camera_info"  # ~/camera_info, scaled to the outputs' size
PRIVATE = "~/"  # outputs are in the node's private namespace: NS/NODE/NAME


class Output(NamedTuple):
    """One image output: ``~/NAME`` with one encoding, switched on by the parameter ``publish_NAME``."""

    name: str
    encoding: str
    description: str

    @property
    def parameter(self) -> str:
        return "publish_" + self.name


OUTPUT_LABELS = "labels"
OUTPUT_COLOR = "color"
OUTPUT_OVERLAY = "overlay"
OUTPUT_CONFIDENCE = "confidence"
OUTPUTS: Tuple[Output, ...] = (
    Output(OUTPUT_LABELS, "mono8", "class ids"),
    Output(OUTPUT_COLOR, "rgb8", "palette image"),
    Output(OUTPUT_OVERLAY, "rgb8", "the input blended with the palette"),
    Output(OUTPUT_CONFIDENCE, "mono8", "max class probability x 255"),
)
OUTPUT_NAMES: Tuple[str, ...] = tuple(o.name for o in OUTPUTS)
OUTPUT_ENCODINGS: Dict[str, str] = {o.name: o.encoding for o in OUTPUTS}
RECORDED_OUTPUTS: Tuple[str, ...] = (OUTPUT_LABELS, OUTPUT_COLOR, OUTPUT_OVERLAY)  # what record and bench keep
# ~/labels/compressed: the class ids as a lossless PNG sensor_msgs/CompressedImage, for links between computers
# (format "mono8; png compressed ", as image_transport's compressed plugin writes it, so its subscribers decode it)
OUTPUT_LABELS_COMPRESSED = OUTPUT_LABELS + "/compressed"
LABELS_COMPRESSED_PARAMETER = "publish_labels_compressed"
LABELS_COMPRESSION = "png"


class TrackOutput(NamedTuple):
    """One track-ahead output ``~/NAME`` (standard message types only), published while track ahead runs."""

    name: str
    msg_type: str
    description: str


TRACK_POLYGON = "track/ego_path_image"
TRACK_PATH = "track/ego_path"
TRACK_MARKERS = "track/markers"
TRACK_STATUS = "track/status"
TRACK_OUTPUTS: Tuple[TrackOutput, ...] = (
    TrackOutput(TRACK_POLYGON, "geometry_msgs/PolygonStamped",
                "the ego-path region in pixels of the outputs (x = column, y = row, z = 0); empty: no ego track"),
    TrackOutput(TRACK_PATH, "nav_msgs/Path",
                "the ego track's centre line on the ground, metres, nearest first (frame: `track.ground_frame_id`)"),
    TrackOutput(TRACK_MARKERS, "visualization_msgs/MarkerArray",
                "rails, centre line, clearance envelope and obstacles for RViz (same frame as the path)"),
    TrackOutput(TRACK_STATUS, "diagnostic_msgs/DiagnosticArray",
                "one status: message `clear for 212 m`, `obstacle: human at 23.4 m` or `no ego track`; "
                "OK / WARN / STALE; values as listed below"),
)


class TrackStatusKey:
    """Keys of the values in ``~/track/status`` (one DiagnosticStatus per frame, the input's header)."""

    CLEAR = "clear"
    CLEAR_DISTANCE = "clear_distance_m"
    OBSTACLES = "obstacles"
    OBSTACLE_CLASS = "obstacle_class"
    OBSTACLE_DISTANCE = "obstacle_distance_m"
    SOURCE = "ego_source"
    LENGTH = "ego_length_m"
    PITCH = "pitch_deg"
    PITCH_ESTIMATE = "pitch_estimate_deg"


TRACK_STATUS_VALUES: Tuple[Tuple[str, str], ...] = (
    (TrackStatusKey.CLEAR, "true when an ego track was found and nothing stands in its envelope"),
    (TrackStatusKey.CLEAR_DISTANCE, "how far along the track the envelope is seen and free, m (0 without a track)"),
    (TrackStatusKey.OBSTACLES, "obstacles in the envelope"),
    (TrackStatusKey.OBSTACLE_CLASS, "class of the nearest one (empty when none)"),
    (TrackStatusKey.OBSTACLE_DISTANCE, "its distance along the track, m (empty when none)"),
    (TrackStatusKey.SOURCE, "rails, track-classes (the rails were not seen), or empty without a track"),
    (TrackStatusKey.LENGTH, "how far the ego track was followed, m"),
    (TrackStatusKey.PITCH, "the camera pitch the distances use, degrees"),
    (TrackStatusKey.PITCH_ESTIMATE, "the pitch the rails' gauge implies, degrees (empty where not measured)"),
)


def join_name(*parts: str) -> str:
    """An absolute ROS name from namespace and name parts: ('front', 'x') -> '/front/x', ('/', 'x') -> '/x'."""
    text = "/".join(p.strip("/") for p in parts if p and p.strip("/"))
    return "/" + text


def output_topics(namespace: str, node_name: str = NODE_NAME) -> Dict[str, str]:
    """Absolute topic of every image output of the node ``node_name`` in ``namespace`` (``~/labels`` etc.)."""
    base = join_name(namespace, node_name)
    return {name: f"{base}/{name}" for name in OUTPUT_NAMES}


def input_topic(compressed: bool) -> str:
    return INPUT_COMPRESSED if compressed else INPUT_IMAGE


def status_name(qualified_name: str) -> str:
    """The node's DiagnosticStatus name: 'front/segmentation_node: segmentation' ('' and '/' are the root)."""
    return f"{qualified_name.strip('/')}: segmentation"


def track_status_name(qualified_name: str) -> str:
    """The DiagnosticStatus name in ``~/track/status``: 'front/segmentation_node: track ahead'."""
    return f"{qualified_name.strip('/')}: track ahead"


# ---- stages ------------------------------------------------------------------------------------------
class Stage:
    """Per-frame stages the pipeline, the bench and the node's diagnostics time."""

    DECODE = "decode"  # message (or bag record) to RGB
    PREPROCESS = "preprocess"
    INFER = "infer"
    POSTPROCESS = "postprocess"  # labels at the output size, palette, overlay
    PUBLISH = "publish"  # the node only: filling and publishing the output messages
    TRACK = "track"  # the node only, where track ahead runs: the ego track, envelope, obstacles and their drawing


PIPELINE_STAGES: Tuple[str, ...] = (Stage.PREPROCESS, Stage.INFER, Stage.POSTPROCESS)  # Segmenter.process times these
OFFLINE_STAGES: Tuple[str, ...] = (Stage.DECODE,) + PIPELINE_STAGES
NODE_STAGES: Tuple[str, ...] = OFFLINE_STAGES + (Stage.TRACK, Stage.PUBLISH)


# ---- reject reasons ----------------------------------------------------------------------------------
class Reject:
    """Why a frame was not segmented: ``errors.FrameError.reason``, counted as ``rejected.<reason>``."""

    UNSUPPORTED_ENCODING = "unsupported_encoding"
    BAD_STEP = "bad_step"
    BAD_SIZE = "bad_size"
    DECODE_FAILED = "decode_failed"
    BAD_ARRAY = "bad_array"
    ENCODE_FAILED = "encode_failed"
    BACKEND_ERROR = "backend_error"
    TOO_LARGE = "too_large"


REJECT_REASONS: Tuple[Tuple[str, str], ...] = (
    (Reject.UNSUPPORTED_ENCODING, "an encoding or compressed format the codec does not read"),
    (Reject.BAD_STEP, "a row step shorter than a row of pixels"),
    (Reject.BAD_SIZE, "data that does not match step x height, an empty or odd-width (YUV) frame, or a frame "
                      "smaller than the network allows"),
    (Reject.DECODE_FAILED, "compressed data that does not decode"),
    (Reject.BAD_ARRAY, "an array whose shape or type does not fit its encoding (encoding side)"),
    (Reject.ENCODE_FAILED, "an array that cannot be compressed as asked (encoding side)"),
    (Reject.BACKEND_ERROR, "inference failed (the frame was decoded)"),
    (Reject.TOO_LARGE, "a frame of more pixels than max_pixels (compressed: read from its header, before decoding)"),
)
REASONS: Tuple[str, ...] = tuple(reason for reason, _ in REJECT_REASONS)


# ---- diagnostics -------------------------------------------------------------------------------------
class Diag:
    """Keys of the values in the node's DiagnosticStatus (published once a second on /diagnostics)."""

    STATE = "state"
    MODEL = "model"
    ARCHITECTURE = "architecture"
    LABEL_SET = "label_set"
    BACKEND = "backend"
    PRECISION = "precision"
    DEVICE = "device"
    INPUT_TOPIC = "input_topic"
    INPUT_TRANSPORT = "input_transport"
    INPUT_RATE = "input_rate_hz"
    OUTPUT_RATE = "output_rate_hz"
    RECEIVED = "frames_received"
    PUBLISHED = "frames_published"
    DROPPED = "dropped"
    LOST = "frames_lost"
    REJECTED = "rejected"
    LATENCY_P50 = "latency_p50_ms"
    LATENCY_P95 = "latency_p95_ms"
    INPUT_SIZE = "input_size"
    OUTPUT_SIZE = "output_size"
    LAST_ERROR = "last_error"
    TRACK_AHEAD = "track_ahead"
    INPUT_PUBLISHERS = "input_publishers"
    DDS_PROFILE = "dds_profile"
    HINT = "hint"


def rejected_key(reason: str) -> str:
    """The diagnostics key counting frames rejected for ``reason``: ``rejected.bad_step``."""
    return f"{Diag.REJECTED}.{reason}"


def stage_key(stage: str) -> str:
    """The diagnostics key of a stage's mean time over the last second: ``infer_ms``."""
    return f"{stage}_ms"


# In the order the node publishes them; ``rejected.<reason>`` and ``<stage>_ms`` stand for one key each.
DIAGNOSTICS: Tuple[Tuple[str, str], ...] = (
    (Diag.STATE, "lifecycle state: unconfigured, inactive, active, finalized"),
    (Diag.MODEL, "model card name (the model parameter until configured)"),
    (Diag.ARCHITECTURE, "network architecture (once configured)"),
    (Diag.LABEL_SET, "label set of the card (once configured)"),
    (Diag.BACKEND, "inference backend (once configured)"),
    (Diag.PRECISION, "engine precision (once configured)"),
    (Diag.DEVICE, "where inference runs (once configured)"),
    (Diag.INPUT_TOPIC, "the resolved image topic"),
    (Diag.INPUT_TRANSPORT, "raw or compressed"),
    (Diag.INPUT_RATE, "input frames per second (last 2 s)"),
    (Diag.OUTPUT_RATE, "segmented frames per second (last 2 s)"),
    (Diag.RECEIVED, "frames received since activation, with those missing between two frames of one publisher "
                    "(where sequence numbers are counted, see frames_lost)"),
    (Diag.PUBLISHED, "frames segmented and published"),
    (Diag.DROPPED, "frames replaced by a newer one while the model was busy"),
    (Diag.LOST, "frames missing between two frames of one publisher (gaps in its publication sequence numbers: "
                "replaced in the reader history or lost in transport) where rclpy gives the publisher's gid (Kilted); "
                "elsewhere what the middleware reports lost (rmw_fastrtps's message-lost event)"),
    (Diag.REJECTED, "frames refused, all reasons"),
    (rejected_key("<reason>"), "frames refused for one reason (see the reasons)"),
    (Diag.LATENCY_P50, "median header stamp to publish time, ms (last 300 frames)"),
    (Diag.LATENCY_P95, "95th percentile of the same"),
    (stage_key("<stage>"), "mean ms of a stage over the last second with frames: " + ", ".join(NODE_STAGES)),
    (Diag.INPUT_SIZE, "WxH of the last frame"),
    (Diag.OUTPUT_SIZE, "WxH of the last outputs"),
    (Diag.LAST_ERROR, "the last backend or configure error, else empty"),
    (Diag.TRACK_AHEAD, "track ahead: running, or off and why (track.mode)"),
    (Diag.INPUT_PUBLISHERS, "publishers of the input topic"),
    (Diag.DDS_PROFILE, "the DDS profile of the node's process: the package's, the user's, or none"),
    (Diag.HINT, "while publishers exist but no frame arrives: the likely cause and the fix, else empty"),
)


# ---- parameters --------------------------------------------------------------------------------------
BACKENDS: Tuple[str, ...] = ("auto", "tensorrt", "onnxruntime", "torch")
PRECISIONS: Tuple[str, ...] = ("fp32", "fp16", "int8")
OUTPUT_RESOLUTIONS: Tuple[str, ...] = ("input", "model")
TRANSPORT_RAW = "raw"
TRANSPORT_COMPRESSED = "compressed"
TRANSPORTS: Tuple[str, ...] = (TRANSPORT_RAW, TRANSPORT_COMPRESSED)
BEST_EFFORT = "best_effort"
RELIABLE = "reliable"
RELIABILITIES: Tuple[str, ...] = (BEST_EFFORT, RELIABLE)
TRACK_AUTO = "auto"
TRACK_ENABLED = "enabled"
TRACK_DISABLED = "disabled"
TRACK_MODES: Tuple[str, ...] = (TRACK_AUTO, TRACK_ENABLED, TRACK_DISABLED)
# Decoded-pixel limit: 50 Mpx is six 4K (3840x2160) frames; a PNG of a few hundred KB can claim 400 Mpx.
MAX_PIXELS_DEFAULT = 50_000_000
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


@dataclass(frozen=True)
class Param:
    """One node parameter: default, description and allowed values (``runtime``: may change while configured)."""

    name: str
    default: Any
    description: str
    choices: Optional[Tuple[str, ...]] = None
    low: Optional[float] = None  # inclusive bounds of a number
    high: Optional[float] = None
    runtime: bool = False  # may change while the node is configured

    @property
    def allowed(self) -> str:
        """The allowed values in words, for errors and the descriptor."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if isinstance(self.default, bool):
            return "true or false"
        kind = "an integer" if isinstance(self.default, int) else "a number"
        if self.low is not None and self.high is not None:
            return f"{kind} from {self.low} to {self.high}"
        if self.name == "device":
            return "auto, cpu, cuda or cuda:N"
        return "a string" if isinstance(self.default, str) else kind

    def check(self, value: Any) -> Optional[str]:
        """Why ``value`` is not allowed (None when it is)."""
        if isinstance(self.default, bool):
            ok = isinstance(value, bool)
        elif isinstance(self.default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(self.default, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        else:
            ok = isinstance(value, str)
        if not ok:
            return f"{self.name} {value!r} is not allowed; expected {self.allowed}"
        if self.choices and value not in self.choices:
            return f"{self.name} {value!r} is not allowed; expected {self.allowed}"
        if self.low is not None and not self.low <= value <= self.high:
            return f"{self.name} {value!r} is out of range; expected {self.allowed}"
        if self.name == "device" and not _DEVICE.match(value):
            return f"{self.name} {value!r} is not allowed; expected {self.allowed}"
        return None


def _publish(output: str, text: str, default: bool) -> Param:
    """``publish_<output>``: switched on and off while the node runs."""
    return Param("publish_" + output, default, f"Publish {PRIVATE}{output} ({text}).", runtime=True)


PARAMETERS: Tuple[Param, ...] = (
    Param("model", "rail_default",
          "Model card name (config/models), model card YAML path, or an architecture name "
          "(squeezenas_lat_small, fast_scnn, ...) together with weights."),
    Param("weights", "", "Checkpoint (.pth) to use instead of the card's own; empty: the card's weights."),
    Param("backend", "auto", "Inference backend; auto picks TensorRT, then ONNX Runtime, then PyTorch.",
          choices=BACKENDS),
    Param("device", "auto", "Where inference runs."),
    Param("precision", "fp32", "Numeric precision of the engine.", choices=PRECISIONS),
    Param("calibration", "", "int8 only: a folder of frames or a bag to calibrate on; empty: synthetic frames."),
    Param("engine_cache_dir", "",
          "Where exported ONNX graphs and TensorRT engines are kept; empty: ~/.cache/rail_seg_ros."),
    Param("warmup_frames", 3, "Blank frames run through the engine at configure, so the first real frame is not slow.",
          low=0, high=100),
    Param("input_transport", TRANSPORT_RAW,
          f"{TRANSPORT_RAW}: subscribe to {INPUT_IMAGE} (sensor_msgs/Image); {TRANSPORT_COMPRESSED}: "
          f"{INPUT_COMPRESSED} (sensor_msgs/CompressedImage).", choices=TRANSPORTS),
    Param("max_pixels", MAX_PIXELS_DEFAULT,
          "Frames with more pixels than this are rejected (too_large); compressed frames are checked from their "
          "PNG/JPEG/BMP header before they are decoded.", low=1, high=2_000_000_000, runtime=True),
    _publish(OUTPUT_LABELS, "mono8 class ids", True),
    Param(LABELS_COMPRESSED_PARAMETER, False,
          f"Publish {PRIVATE}{OUTPUT_LABELS_COMPRESSED} (sensor_msgs/CompressedImage: the class ids as lossless PNG, "
          f"format 'mono8; png compressed ' as image_transport's compressed plugin writes it).", runtime=True),
    _publish(OUTPUT_COLOR, "rgb8 palette image", True),
    _publish(OUTPUT_OVERLAY, "rgb8, the input blended with the palette", True),
    Param("publish_" + OUTPUT_CONFIDENCE, False,
          f"Publish {PRIVATE}{OUTPUT_CONFIDENCE} (mono8, max class probability x 255); adds the confidence output "
          f"to the engine."),
    Param("overlay_alpha", 0.5, f"Weight of the palette in {PRIVATE}{OUTPUT_OVERLAY} (0: input only, 1: palette only).",
          low=0.0, high=1.0, runtime=True),
    Param("output_resolution", "input",
          f"input: outputs have the input frame's size; model: the network's size (cheaper; "
          f"{PRIVATE}{CAMERA_INFO_OUTPUT} is scaled).", choices=OUTPUT_RESOLUTIONS),
    Param("input_qos.reliability", BEST_EFFORT, "Reliability of the image and camera_info subscriptions.",
          choices=RELIABILITIES),
    Param("input_qos.depth", 10,
          "History depth of the image subscriptions: frames waiting for the callback, so every frame that arrives "
          "is counted (the node still segments only the newest; the others count as dropped).",
          low=1, high=100),
    Param("output_qos.reliability", RELIABLE, "Reliability of the output publishers.", choices=RELIABILITIES),
    Param("output_qos.depth", 5, "History depth of the output publishers.", low=1, high=100),
    Param("input_timeout", 2.0, "Seconds without an input frame before the diagnostics turn WARN.",
          low=0.1, high=3600.0, runtime=True),
    Param("min_rate", 0.0, "Output rate (Hz) below which the diagnostics turn WARN; 0 turns the check off.",
          low=0.0, high=1000.0, runtime=True),
    Param("lifecycle", False,
          "true: a managed node waiting for configure/activate; false: it configures and activates itself at start."),
    # track ahead (rail_seg_ros.track); the defaults are track.config's
    Param("track.mode", TRACK_AUTO,
          f"{TRACK_AUTO}: track ahead runs when the card's label set is railsem19 and track.camera_height is set; "
          f"{TRACK_ENABLED}: the same, but configure fails when either is missing; {TRACK_DISABLED}: never.",
          choices=TRACK_MODES),
    Param("track.camera_height", 0.0,
          "Height of the camera's centre above the rail heads, m; 0: not given (track ahead stays off).",
          low=0.0, high=20.0),
    Param("track.camera_pitch", 0.0, "Downward tilt of the optical axis, degrees (+ looks down at the track).",
          low=-45.0, high=45.0),
    Param("track.camera_roll", 0.0, "Roll about the direction of travel, degrees (+ lowers the camera's right side).",
          low=-45.0, high=45.0),
    Param("track.camera_info_file", "",
          f"CameraInfo YAML (camera_calibration's ost.yaml) used until a {INPUT_CAMERA_INFO} message arrives; "
          f"empty: track ahead waits for {INPUT_CAMERA_INFO}."),
    Param("track.gauge", 1.435, "Track gauge between the rails' centre lines, m.", low=0.3, high=3.0),
    Param("track.envelope_half_width", 1.7,
          "Clearance envelope either side of the track centre line, m (1.7: standard-gauge kinematic gauge).",
          low=0.2, high=10.0),
    Param("track.envelope_height", 4.65, "Clearance envelope height above the rail heads, m.", low=0.1, high=20.0),
    Param("track.obstacle_classes", "human,car,truck,on-rails",
          "Comma-separated RailSem19 classes that are obstacles in the envelope."),
    Param("track.any_obstacle", False,
          "Also count anything that is not track, trackbed, rail, road, sidewalk, terrain or sky."),
    Param("track.min_obstacle_pixels", 20, "Regions smaller than this (pixels of the outputs) are label noise.",
          low=1, high=10000000),
    Param("track.refine_pitch", False,
          "Measure distances with the pitch the rails' gauge implies (it is reported either way)."),
    Param("track.ground_frame_id", "",
          f"Frame of {PRIVATE}{TRACK_PATH} and {PRIVATE}{TRACK_MARKERS}: empty: the input's frame (the camera "
          f"optical frame, ground points expressed in it); a name: the ground frame under the camera (X ahead, "
          f"Y left, Z up, on the rail heads), with the input's stamp."),
)

PARAMETERS_BY_NAME: Dict[str, Param] = {p.name: p for p in PARAMETERS}

