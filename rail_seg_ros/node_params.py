"""The rclpy side of the node's parameters: descriptors, declaring them, and overrides naming none.

The table itself (names, defaults, descriptions, allowed values) is :data:`rail_seg_ros.contract.PARAMETERS`;
``config/segment.yaml`` lists the same parameters (a test keeps the two in step). Parameters marked
``runtime`` may be changed while the node runs; the others set up the model, the engine, the
subscriptions or the QoS and are refused while the node is configured (a managed node accepts them
while unconfigured and uses them at the next configure).
"""
# The Jetson target runs Python 3.8: typing.Dict/Tuple on purpose.

from typing import Any, Dict, Tuple

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

from .contract import PARAMETERS, PARAMETERS_BY_NAME, Param
from .errors import RailSegError


def descriptor(param: Param) -> ParameterDescriptor:
    """The ParameterDescriptor of ``param``: description, allowed values, numeric range."""
    when = "" if param.runtime else " Fixed while the node is configured."
    result = ParameterDescriptor(description=param.description + when, additional_constraints=param.allowed)
    if isinstance(param.default, float) and param.low is not None:
        result.floating_point_range = [FloatingPointRange(from_value=float(param.low),
                                                          to_value=float(param.high), step=0.0)]
    elif isinstance(param.default, int) and not isinstance(param.default, bool) and param.low is not None:
        result.integer_range = [IntegerRange(from_value=int(param.low), to_value=int(param.high), step=1)]
    return result


def _override_text(node, name: str) -> str:
    """The value a launch file or the command line gave ``name`` (rclpy keeps overrides privately)."""
    override = getattr(node, "_parameter_overrides", {}).get(name)
    return "" if override is None else f" {override.value!r}"


def _refused_override(node, param: Param) -> str:
    """Why rclpy refused the override of ``param``: the hint about 1 vs 1.0 only where an integer was given."""
    override = getattr(node, "_parameter_overrides", {}).get(param.name)
    value = None if override is None else override.value
    reason = param.check(value) if override is not None else None
    if reason is None:  # e.g. a list or a type the table's check does not name
        reason = f"{param.name}{_override_text(node, param.name)} is not allowed; expected {param.allowed}"
    integer_for_float = isinstance(param.default, float) and isinstance(value, int) and not isinstance(value, bool)
    return f"parameter {reason}" + (f" (write {value}.0, not {value})" if integer_for_float else "")


def declare_parameters(node) -> Dict[str, Any]:
    """Declare every parameter on ``node``; return name -> value, or raise RailSegError naming the bad one."""
    from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException

    values: Dict[str, Any] = {}
    for param in PARAMETERS:
        try:
            value = node.declare_parameter(param.name, param.default, descriptor(param)).value
        except (InvalidParameterTypeException, InvalidParameterValueException):
            raise RailSegError(_refused_override(node, param)) from None
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
