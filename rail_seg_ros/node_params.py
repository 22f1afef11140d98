"""The segmentation node's parameters: one table with defaults, descriptions and allowed values.

``config/segment.yaml`` lists the same parameters (a test keeps the two in step). Parameters marked
``runtime`` may be changed while the node runs; the others set up the model, the engine, the
subscriptions or the QoS and are refused while the node is configured (a managed node accepts them
while unconfigured and uses them at the next configure).
"""
# The Jetson target runs Python 3.8: typing.Dict/Tuple/Optional on purpose.

import re
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

from .backends import BACKENDS, PRECISIONS
from .errors import RailSegError
from .pipeline import OUTPUT_RESOLUTIONS

TRANSPORTS = ("raw", "compressed")
RELIABILITIES = ("best_effort", "reliable")
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


@dataclass(frozen=True)
class Param:
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

    def descriptor(self) -> ParameterDescriptor:
        when = "" if self.runtime else " Fixed while the node is configured."
        descriptor = ParameterDescriptor(description=self.description + when, additional_constraints=self.allowed)
        if isinstance(self.default, float) and self.low is not None:
            descriptor.floating_point_range = [FloatingPointRange(from_value=float(self.low),
                                                                  to_value=float(self.high), step=0.0)]
        elif isinstance(self.default, int) and not isinstance(self.default, bool) and self.low is not None:
            descriptor.integer_range = [IntegerRange(from_value=int(self.low), to_value=int(self.high), step=1)]
        return descriptor

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


PARAMETERS: Tuple[Param, ...] = (
    Param("model", "squeezenas_lat_small_cityscapes",
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
    Param("input_transport", "raw",
          "raw: subscribe to image (sensor_msgs/Image); compressed: image/compressed (sensor_msgs/CompressedImage).",
          choices=TRANSPORTS),
    Param("publish_labels", True, "Publish ~/labels (mono8 class ids).", runtime=True),
    Param("publish_color", True, "Publish ~/color (rgb8 palette image).", runtime=True),
    Param("publish_overlay", True, "Publish ~/overlay (rgb8, the input blended with the palette).", runtime=True),
    Param("publish_confidence", False,
          "Publish ~/confidence (mono8, max class probability x 255); adds the confidence output to the engine."),
    Param("overlay_alpha", 0.5, "Weight of the palette in ~/overlay (0: input only, 1: palette only).",
          low=0.0, high=1.0, runtime=True),
    Param("output_resolution", "input",
          "input: outputs have the input frame's size; model: the network's size (cheaper; ~/camera_info is scaled).",
          choices=OUTPUT_RESOLUTIONS),
    Param("input_qos.reliability", "best_effort", "Reliability of the image and camera_info subscriptions.",
          choices=RELIABILITIES),
    Param("input_qos.depth", 1, "History depth of the image subscriptions (1: always the newest frame).",
          low=1, high=100),
    Param("output_qos.reliability", "reliable", "Reliability of the output publishers.", choices=RELIABILITIES),
    Param("output_qos.depth", 5, "History depth of the output publishers.", low=1, high=100),
    Param("input_timeout", 2.0, "Seconds without an input frame before the diagnostics turn WARN.",
          low=0.1, high=3600.0, runtime=True),
    Param("min_rate", 0.0, "Output rate (Hz) below which the diagnostics turn WARN; 0 turns the check off.",
          low=0.0, high=1000.0, runtime=True),
    Param("lifecycle", False,
          "true: a managed node waiting for configure/activate; false: it configures and activates itself at start."),
)

PARAMETERS_BY_NAME: Dict[str, Param] = {p.name: p for p in PARAMETERS}


def _override_text(node, name: str) -> str:
    """The value a launch file or the command line gave ``name`` (rclpy keeps overrides privately)."""
    override = getattr(node, "_parameter_overrides", {}).get(name)
    return "" if override is None else f" {override.value!r}"


def declare_parameters(node) -> Dict[str, Any]:
    """Declare every parameter on ``node``; return name -> value, or raise RailSegError naming the bad one."""
    from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException

    values: Dict[str, Any] = {}
    for param in PARAMETERS:
        try:
            value = node.declare_parameter(param.name, param.default, param.descriptor()).value
        except (InvalidParameterTypeException, InvalidParameterValueException):
            given = _override_text(node, param.name)
            raise RailSegError(f"parameter {param.name}{given} is not allowed; expected {param.allowed}"
                               + (" (write 1.0, not 1)" if isinstance(param.default, float) else "")) from None
        reason = param.check(value)
        if reason:
            raise RailSegError(f"parameter {reason}")
        values[param.name] = float(value) if isinstance(param.default, float) else value
    return values


def unknown_overrides(node) -> Tuple[str, ...]:
    """Overrides given to the node that name no parameter of it (likely typos)."""
    overrides = getattr(node, "_parameter_overrides", {})
    known = set(PARAMETERS_BY_NAME) | {"use_sim_time", "start_type_description_service"}
    return tuple(sorted(n for n in overrides if n not in known and not n.startswith("qos_overrides.")))
