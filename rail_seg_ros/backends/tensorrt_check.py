"""Will TensorRT's ONNX parser and builder take this graph? A check that needs neither TensorRT nor a GPU.

An engine build on a Jetson Xavier takes many minutes and fails at the first node TensorRT refuses, so
``rail-seg export --check-tensorrt 8.5|10|11`` (and ``--format engine``, before building) walks the ONNX
graph and names every node the target would refuse, one line each.

Source of the support table below (only the ops these networks and their int8 forms use):
onnx-tensorrt ``docs/operators.md`` and ``builtin_op_importers.cpp`` / ``ModelImporter.cpp`` at the tags
``release/8.5-GA`` (TensorRT 8.5.2, JetPack 5) and ``release/10.1-GA`` (TensorRT 10.x). TensorRT 11 is
checked against the 10.x table (its parser source was not available) plus what its Python API lacks
(no fp16/int8 builder flags: networks are strongly typed). Rules kept here:
- UINT8 is only a network input or output type: a uint8 input may only feed Casts to float, and a uint8
  tensor may only be made by a Cast from float that is a graph output (10.x ModelImporter: "TensorRT does
  not support UINT8 types for intermediate tensors!"; 8.5 Cast importer: uint8 only to/from float).
- Q/DQ: zero points present (8.5: 3 inputs), int8 and all zeros ("TRT only supports symmetric
  quantization - zeroPt must be all zeros"); no int32 DequantizeLinear (bias quantisation); activations
  per tensor (per-axis only on constant weights); scales constant.
- Resize: modes nearest/linear; transformations half_pixel, pytorch_half_pixel, tf_half_pixel_for_nn,
  asymmetric, align_corners; no antialias (10.x).
- Pools 2D or 3D, dilations all ones (10.x); MaxPool without the Indices output.
- Slice, Squeeze, Unsqueeze, ReduceMax/ReduceSum axes, Pad pads: constants.
- Opsets: 8.5 up to 17, 10.x 9 to 20. Static input shapes (rail-seg builds without optimisation profiles).
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set

import numpy as np

TARGETS = ("8.5", "10", "11")
MAX_OPSET = {"8.5": 17, "10": 20, "11": 20}
MIN_OPSET = {"8.5": 7, "10": 9, "11": 9}

# op -> inputs (by index) that must be constants (initializers or Constant nodes) for the parser
SUPPORTED_OPS: Dict[str, Sequence[int]] = {
    "Add": (), "ArgMax": (), "AveragePool": (), "BatchNormalization": (1, 2, 3, 4), "Cast": (), "Clip": (),
    "Concat": (), "Constant": (), "Conv": (), "ConvTranspose": (), "DequantizeLinear": (1, 2), "Div": (),
    "Exp": (), "Expand": (), "Flatten": (), "Gather": (), "GlobalAveragePool": (), "HardSigmoid": (), "HardSwish": (),
    "Identity": (), "Max": (), "MaxPool": (), "Mul": (), "Pad": (1,), "Pow": (), "QuantizeLinear": (1, 2),
    "Reciprocal": (), "ReduceMax": (1,), "ReduceMean": (1,), "ReduceSum": (1,), "Relu": (), "Reshape": (),
    "Resize": (), "Round": (), "Shape": (), "Sigmoid": (), "Slice": (3,), "Softmax": (), "Split": (),
    "Sqrt": (), "Squeeze": (1,), "Sub": (), "Sum": (), "Tanh": (), "Transpose": (), "Unsqueeze": (1,),
}
RESIZE_MODES = ("nearest", "linear")
RESIZE_TRANSFORMS = ("half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn", "asymmetric", "align_corners")
FLOAT_TYPES = {1, 10}  # ONNX TensorProto FLOAT, FLOAT16
UINT8, INT8, INT32, FLOAT16 = 2, 3, 6, 10


@dataclass
class Problem:
    node: str
    op: str
    reason: str

    def __str__(self) -> str:
        return f"node {self.node} ({self.op}): {self.reason}"


class _Graph:
    """The graph with what the rules need: element types, producers, consumers, constant values."""

    def __init__(self, model):
        import onnx
        from onnx import numpy_helper

        self.model = onnx.shape_inference.infer_shapes(model)
        graph = self.model.graph
        self.nodes = list(graph.node)
        self.inputs = [i for i in graph.input if i.name not in {t.name for t in graph.initializer}]
        self.outputs = {o.name for o in graph.output}
        self.constants: Dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        for node in self.nodes:
            if node.op_type == "Constant" and node.attribute and node.attribute[0].type == onnx.AttributeProto.TENSOR:
                self.constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        self.types: Dict[str, int] = {t.name: t.data_type for t in graph.initializer}
        for info in list(graph.input) + list(graph.value_info) + list(graph.output):
            if info.type.HasField("tensor_type"):
                self.types.setdefault(info.name, info.type.tensor_type.elem_type)
        for node in self.nodes:
            if node.op_type == "Constant" and node.output[0] in self.constants:
                self.types.setdefault(node.output[0], int(node.attribute[0].t.data_type))
        self.consumers: Dict[str, List] = {}
        for node in self.nodes:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self.producer = {out: node for node in self.nodes for out in node.output}

    def opset(self) -> int:
        return next((o.version for o in self.model.opset_import if o.domain in ("", "ai.onnx")), 0)

    def has_qdq(self) -> bool:
        return any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in self.nodes)

    def is_fp16(self) -> bool:
        return any(t.data_type == FLOAT16 for t in self.model.graph.initializer)


def _attr(node, name: str, default=None):
    from onnx import helper

    for attribute in node.attribute:
        if attribute.name == name:
            value = helper.get_attribute_value(attribute)
            return value.decode() if isinstance(value, bytes) else value
    return default


def _type_name(elem_type: Optional[int]) -> str:
    from onnx import TensorProto

    return TensorProto.DataType.Name(elem_type).lower() if elem_type else "an unknown type"


def _node_name(node) -> str:
    return node.name or (node.output[0] if node.output else node.op_type)


def _check_node_ops(graph: _Graph, target: str) -> List[Problem]:
    problems = []
    for node in graph.nodes:
        name = _node_name(node)
        if node.domain not in ("", "ai.onnx"):
            problems.append(Problem(name, node.op_type, f"custom domain {node.domain!r}: needs a TensorRT plugin"))
            continue
        if node.op_type not in SUPPORTED_OPS:
            problems.append(Problem(name, node.op_type, f"not in rail-seg's TensorRT {target} support table"))
            continue
        for index in SUPPORTED_OPS[node.op_type]:
            if index < len(node.input) and node.input[index] and node.input[index] not in graph.constants:
                problems.append(Problem(name, node.op_type, f"input {index} ({node.input[index]}) must be a constant"))
        problems += _check_attributes(node, target)
    return problems


def _check_attributes(node, target: str) -> List[Problem]:
    name, op = _node_name(node), node.op_type
    found = []
    if op == "Resize":
        if _attr(node, "mode", "nearest") not in RESIZE_MODES:
            found.append(f"mode {_attr(node, 'mode')!r}: only {', '.join(RESIZE_MODES)}")
        transform = _attr(node, "coordinate_transformation_mode", "half_pixel")
        if transform not in RESIZE_TRANSFORMS:
            found.append(f"coordinate_transformation_mode {transform!r} is not supported")
        if _attr(node, "antialias", 0):
            found.append("antialias is not supported")
    elif op in ("AveragePool", "MaxPool"):
        if len(_attr(node, "kernel_shape", [])) not in (2, 3):
            found.append("only 2D or 3D pooling")
        if target != "8.5" and any(d != 1 for d in _attr(node, "dilations", [])):
            found.append("dilations must be all ones")
        if op == "MaxPool" and len(node.output) > 1 and node.output[1]:
            found.append("the Indices output is not supported")
    elif op == "ArgMax" and _attr(node, "select_last_index", 0):
        found.append("select_last_index needs opset 12 or later")
    return [Problem(name, op, reason) for reason in found]


def _check_uint8(graph: _Graph) -> List[Problem]:
    """uint8 only as a network input feeding Casts to float, or a Cast from float that is a network output."""
    problems = []
    for graph_input in graph.inputs:
        if graph_input.type.tensor_type.elem_type != UINT8:
            continue
        for node in graph.consumers.get(graph_input.name, []):
            if node.op_type != "Cast" or _attr(node, "to") not in FLOAT_TYPES:
                problems.append(Problem(_node_name(node), node.op_type,
                                        f"takes the uint8 input {graph_input.name}: TensorRT needs a Cast to float "
                                        "there first (uint8 is only a network input or output type)"))
    for node in graph.nodes:
        for out in node.output:
            if graph.types.get(out) != UINT8 or node.op_type == "QuantizeLinear":
                continue  # uint8 Q/DQ is reported by the zero-point rule
            source_type = graph.types.get(node.input[0]) if node.input else None
            if node.op_type == "Cast" and out in graph.outputs:
                if source_type not in FLOAT_TYPES:
                    problems.append(Problem(_node_name(node), node.op_type,
                                            f"casts {_type_name(source_type)} to uint8 for {out}: TensorRT casts "
                                            "to uint8 only from float (TensorRT graphs give int32 labels)"))
                continue
            if node.op_type == "Constant":
                if not any(c.op_type in ("QuantizeLinear", "DequantizeLinear") for c in graph.consumers.get(out, [])):
                    problems.append(Problem(_node_name(node), node.op_type, "uint8 constant: not a TensorRT type"))
                continue
            problems.append(Problem(_node_name(node), node.op_type,
                                    f"makes the uint8 tensor {out}: TensorRT allows uint8 only as a network "
                                    "output cast from float"))
    return problems


def _check_qdq(graph: _Graph) -> List[Problem]:
    problems = []
    for node in graph.nodes:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        name, op = _node_name(node), node.op_type

        def report(reason: str, node_name: str = name, node_op: str = op) -> None:
            problems.append(Problem(node_name, node_op, reason))

        if len(node.input) < 3 or not node.input[2]:
            report("no zero point: TensorRT 8.5's parser needs all three inputs")
        else:
            zero = graph.constants.get(node.input[2])
            zero_type = graph.types.get(node.input[2])
            if zero_type == UINT8:
                report("uint8 zero point: TensorRT quantises to int8 only (export with --check-tensorrt)")
            if zero is not None and np.any(zero != 0):
                report(f"{int(np.count_nonzero(zero))} non-zero zero point(s): TensorRT only supports symmetric "
                       "quantisation (zeroPt must be all zeros)")
        if op == "DequantizeLinear" and graph.types.get(node.input[0]) == INT32:
            report("int32 dequantisation (a quantised bias): TensorRT takes biases in float")
        scale = graph.constants.get(node.input[1])
        if scale is not None and np.any(scale <= 0):
            report("scale coefficients must all be positive")
        per_axis = scale is not None and scale.size > 1
        if per_axis and node.input[0] not in graph.constants and op == "QuantizeLinear":
            report("per-channel quantisation of an activation: TensorRT quantises activations per tensor")
    return problems


def _check_model_level(graph: _Graph, target: str, precision: str) -> List[Problem]:
    problems = []
    opset = graph.opset()
    if not MIN_OPSET[target] <= opset <= MAX_OPSET[target]:
        problems.append(Problem("graph", "opset", f"opset {opset}: TensorRT {target} parses opsets "
                                                  f"{MIN_OPSET[target]} to {MAX_OPSET[target]}"))
    for graph_input in graph.inputs:
        dims = graph_input.type.tensor_type.shape.dim
        if any(d.dim_param or d.dim_value <= 0 for d in dims):
            problems.append(Problem(graph_input.name, "input", "dynamic dimension: TensorRT needs an optimisation "
                                                               "profile, and rail-seg builds with static shapes"))
    if target == "11" and precision == "fp16" and not graph.is_fp16():
        problems.append(Problem("graph", "precision", "TensorRT 11 has no fp16 builder flag (strongly typed "
                                                      "networks): fp16 needs an fp16 ONNX graph; build fp16 with "
                                                      "TensorRT 8.5 or 10, or use fp32 or int8 (Q/DQ)"))
    if precision == "int8" and not graph.has_qdq() and target == "11":
        problems.append(Problem("graph", "precision", "TensorRT 11 has no int8 calibrator: int8 needs a Q/DQ graph "
                                                      "(rail-seg export --precision int8 --check-tensorrt 11)"))
    return problems


def check_graph(model, target: str, precision: str = "fp32") -> List[Problem]:
    """Everything TensorRT ``target`` would refuse in ``model`` (an onnx ModelProto or a path), in graph order."""
    import onnx

    if target not in TARGETS:
        raise ValueError(f"TensorRT target {target!r} is not one of {', '.join(TARGETS)}")
    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(model))
    graph = _Graph(model)
    return (_check_model_level(graph, target, precision) + _check_uint8(graph) + _check_qdq(graph)
            + _check_node_ops(graph, target))


def target_for_version(version: str) -> str:
    """The check target for an installed TensorRT version string (8.x -> 8.5, 9.x/10.x -> 10, later -> 11)."""
    major = int(str(version).split(".")[0])
    if major <= 8:
        return "8.5"
    return "10" if major <= 10 else "11"


def graph_precision(path: Path) -> Optional[str]:
    """int8 for a Q/DQ graph, fp16 for one with fp16 weights, else None (the builder flags decide)."""
    import onnx

    graph = _Graph(onnx.load(str(path)))
    if graph.has_qdq():
        return "int8"
    return "fp16" if graph.is_fp16() else None


def used_ops(model) -> Set[str]:
    """The op types a graph uses (to keep the support table complete in the tests)."""
    return {n.op_type for n in model.graph.node}
