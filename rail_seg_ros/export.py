"""torch -> ONNX: the graph every ONNX and TensorRT backend runs, its int8 forms, and the TensorRT form.

- ``export_onnx``: :class:`~rail_seg_ros.graph.SegmentationGraph` (uint8 RGB frames in, class ids out)
  with a static 1 x H x W x 3 input at opset 17 (what TensorRT 8.5 on JetPack 5 parses), then two exact
  rewrites that make ONNX Runtime faster (``_tune_for_onnxruntime``).
- ``quantize_int8``: static QDQ quantisation of that file with onnxruntime, calibrated on frames:
  onnxruntime's form (asymmetric uint8 activations, int32 biases) or the symmetric one TensorRT takes.
- ``export_for_tensorrt``: the graph TensorRT builds from (int32 labels; int8 as symmetric Q/DQ).
- ``compare_with_torch``: the largest logit difference and the share of equal labels against torch.

TensorRT engines are not built here: ``backends.tensorrt_backend.build_engine`` parses the ONNX file
this module writes, after ``backends.tensorrt_check`` has checked it. The conversion traps of these
networks (see shared/docs/deployment.md) are avoided in the networks themselves: explicit resize sizes,
fixed pooling windows, static shapes.
"""

import itertools
import tempfile
import warnings
from pathlib import Path
from typing import Iterable, Iterator, List, Sequence, Tuple

import numpy as np

from .errors import RailSegError
from .fileio import atomic_path
from .graph_io import INPUT_NAME
from .head import LOW_RESOLUTION_OUTPUTS
from .model_card import ModelCard, build_network

OPSET = 17  # the newest opset TensorRT 8.5 (JetPack 5) parses


def export_onnx(card: ModelCard, path, outputs: Sequence[str] = ("labels",), label_dtype: str = "uint8",
                net=None, opset: int = OPSET) -> Path:
    """Export the card's graph with a static 1 x H x W x 3 uint8 input to ``path`` (written atomically).

    ``outputs`` = ``graph.LOW_RESOLUTION_OUTPUTS`` exports the network without its final resize (the sparse
    head's input) instead of :class:`SegmentationGraph`.
    """
    import torch

    # torch: imported here so `rail-seg export --help` runs without it
    from .graph import LowResolutionGraph, SegmentationGraph

    net = net if net is not None else build_network(card)
    dtype = {"uint8": torch.uint8, "int32": torch.int32}[label_dtype]
    low_resolution = tuple(outputs) == LOW_RESOLUTION_OUTPUTS
    graph = (LowResolutionGraph(card, net) if low_resolution
             else SegmentationGraph(card, net, outputs, label_dtype=dtype)).eval()
    height, width = card.input_size
    sample = torch.zeros(1, height, width, 3, dtype=torch.uint8)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shapes turned into constants: intended
        kwargs = {"dynamo": False} if _has_dynamo_flag(torch) else {}
        torch.onnx.export(graph, (sample,), str(tmp), opset_version=opset, input_names=[INPUT_NAME],
                          output_names=list(graph.outputs), do_constant_folding=True, **kwargs)
        _tune_for_onnxruntime(tmp, full_head=not low_resolution)
    return Path(path)


def _tune_for_onnxruntime(path, full_head: bool = True) -> None:
    """Two exact rewrites of the exported graph that make it faster in ONNX Runtime (same arithmetic elsewhere).

    1. The normalisation's scale is folded into the first convolution's weights: conv(W, (x - m) * s) =
       conv(W * s, x - m), zero padding included, so one full-resolution pass less.
    2. A Reshape of the small logits to their own shape goes just before the last upsampling. Without
       it, ONNX Runtime's blocked-layout (NCHWc) pass carries its layout through that Resize and then
       reorders the full-resolution logits back (19 planes of 1024x2048: ~30 ms on 2 cores); ending the
       blocked chain at the low-resolution logits keeps the upsampling and argmax in plain NCHW.
    Measured on lat_small at 1024x2048 here: 129 ms -> 114 ms per frame, labels identical.
    The second applies to graphs with the full head only (``full_head``).
    """
    import onnx

    model = onnx.load(str(path))
    _fold_input_scale(model.graph)
    if full_head:
        _end_blocked_layout_before_head(model.graph)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _constant_value(graph, name: str):
    from onnx import numpy_helper

    for init in graph.initializer:
        if init.name == name:
            return numpy_helper.to_array(init)
    for node in graph.node:
        if node.op_type == "Constant" and node.output[0] == name:
            return numpy_helper.to_array(node.attribute[0].t)
    return None


def _fold_input_scale(graph) -> None:
    """Move a per-channel ``Mul`` feeding the first Conv into that Conv's weights."""
    from onnx import numpy_helper

    nodes = list(graph.node)
    conv = next((n for n in nodes if n.op_type == "Conv"), None)
    mul = next((n for n in nodes if conv is not None and n.op_type == "Mul" and n.output[0] == conv.input[0]), None)
    if mul is None or sum(conv.input[0] in n.input for n in nodes) != 1:
        return
    scale = _constant_value(graph, mul.input[1])
    weight = next((i for i in graph.initializer if i.name == conv.input[1]), None)
    kernel = numpy_helper.to_array(weight) if weight is not None else None
    if scale is None or kernel is None or scale.size != kernel.shape[1]:
        return
    folded = (kernel * scale.reshape(1, -1, 1, 1)).astype(np.float32)
    weight.CopyFrom(numpy_helper.from_array(folded, weight.name))
    conv.input[0] = mul.input[0]
    graph.node.remove(mul)
    if not any(mul.input[1] in n.input for n in graph.node):  # the scale constant has no other user
        for node in [n for n in graph.node if n.op_type == "Constant" and n.output[0] == mul.input[1]]:
            graph.node.remove(node)
        for init in [i for i in graph.initializer if i.name == mul.input[1]]:
            graph.initializer.remove(init)


def _end_blocked_layout_before_head(graph) -> None:
    """Insert an identity Reshape (shape 0,0,0,0: keep every dimension) before the last Resize."""
    from onnx import helper, numpy_helper

    resizes = [n for n in graph.node if n.op_type == "Resize"]
    if not resizes:
        return
    head = resizes[-1]
    kept = head.input[0] + "_plain"
    graph.initializer.append(numpy_helper.from_array(np.zeros(4, np.int64), "keep_all_dims"))
    reshape = helper.make_node("Reshape", [head.input[0], "keep_all_dims"], [kept], name="end_blocked_layout")
    graph.node.insert(list(graph.node).index(head), reshape)
    head.input[0] = kept


def _has_dynamo_flag(torch_module) -> bool:
    import inspect

    return "dynamo" in inspect.signature(torch_module.onnx.export).parameters


def onnx_with_logits(onnx_path) -> Tuple[bytes, str]:
    """The graph at ``onnx_path`` with the logits (the ArgMax input) exposed as an extra output."""
    import onnx

    model = onnx.load(str(onnx_path))
    argmax = [n for n in model.graph.node if n.op_type == "ArgMax"]
    if not argmax:
        raise RailSegError(f"{onnx_path}: no ArgMax node, not a rail_seg_ros graph")
    logits_name = argmax[0].input[0]
    if logits_name not in [o.name for o in model.graph.output]:
        model.graph.output.append(onnx.helper.make_empty_tensor_value_info(logits_name))
    return model.SerializeToString(), logits_name


def compare_with_torch(onnx_path, card: ModelCard, net, frames: Iterable[np.ndarray]) -> dict:
    """Run the ONNX graph and torch on the same frames: largest logit difference and label agreement."""
    import onnxruntime as ort
    import torch

    from .graph import SegmentationGraph

    data, logits_name = onnx_with_logits(onnx_path)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    reference = SegmentationGraph(card, net, ("labels", "logits")).eval()
    max_diff, agree, total = 0.0, 0, 0
    for frame in frames:
        batch = frame[None]
        labels, logits = session.run(["labels", logits_name], {INPUT_NAME: batch})
        with torch.no_grad():
            ref_labels, ref_logits = reference(torch.from_numpy(batch))
        max_diff = max(max_diff, float(np.abs(logits - ref_logits.numpy()).max()))
        agree += int((labels.astype(np.int64) == ref_labels.numpy()).sum())
        total += labels.size
    return {"max_logit_diff": max_diff, "label_agreement": agree / max(total, 1)}


class _CalibrationReader:
    """onnxruntime's CalibrationDataReader over uint8 frames."""

    def __init__(self, frames: Iterable[np.ndarray]):
        self._frames: Iterator[np.ndarray] = iter(frames)

    def get_next(self):
        frame = next(self._frames, None)
        return None if frame is None else {INPUT_NAME: frame[None]}


# Ops quantised inside the network. The preprocessing, the first convolution and the logits' final
# upsampling and argmax stay in float: the labels stay close to fp32, and a uint8 first convolution
# (3 input channels) was slower than the float one here (12 ms against 5 ms at 1024x2048).
# Activation ranges cover this percentile of the calibration values: min/max ranges follow rare
# outliers and lost 2-3 % of the labels on the reference input, this keeps ~99 %.
CALIBRATION_PERCENTILE = 99.99
QUANTIZED_OPS = ["Conv", "Add", "Mul", "Relu", "AveragePool", "Concat", "Sigmoid", "Resize"]


def _float_nodes(model) -> List[str]:
    """Names of the nodes that stay in float: everything up to the first Conv, the last resize and after."""
    nodes = list(model.graph.node)
    first_conv = next(i for i, n in enumerate(nodes) if n.op_type == "Conv")
    keep = [n.name for n in nodes[:first_conv + 1]]
    argmax = next((n for n in nodes if n.op_type == "ArgMax"), None)
    if argmax is not None:
        producer = {out: n for n in nodes for out in n.output}
        logits = producer.get(argmax.input[0])
        graph_outputs = {o.name for o in model.graph.output}
        # the full head's resize, or the low-resolution graph's last node (its logits are the sparse head's input)
        if logits is not None and (logits.op_type == "Resize" or graph_outputs & set(logits.output)):
            keep.append(logits.name)
        keep += [n.name for n in nodes[nodes.index(argmax):]]
    return keep


def _histogram_collector(num_bins: int):
    """onnxruntime's percentile collector (histograms of |x|), except that a tensor's first histogram
    spans [0, max |x|] instead of [min |x|, max |x|].

    onnxruntime's span fails on nearly constant activations (the hard-sigmoids of MobileNetV3's
    squeeze-excitation and HardSwish blocks: 0.5 +- 1e-7 at full size): numpy cannot cut a span of a
    few float32 steps into 2048 bins ("Too many bins for data range"). From 0 the bins are as wide as
    the values are large, and the percentile of a constant is that constant. Activations that reach 0
    (ReLU, most convolutions) get the bins they got before.
    """
    from onnxruntime.quantization.calibrate import HistogramCollector

    class _Collector(HistogramCollector):
        def collect_absolute_value(self, name_to_arr):
            later = {}
            for name, arrays in name_to_arr.items():
                if name in self.histogram_dict:
                    later[name] = arrays
                    continue
                values = np.asarray(arrays).ravel()
                low, high = np.nanmin(values), np.nanmax(values)
                magnitudes = np.abs(values)
                top = np.nanmax(magnitudes)
                # all zeros: numpy's own +-0.5 span, as onnxruntime has it
                hist, edges = np.histogram(magnitudes, bins=self.num_bins, range=(0.0, top) if top > 0 else None)
                self.histogram_dict[name] = (hist, edges.astype(values.dtype), low, high)
            super().collect_absolute_value(later)  # later frames: onnxruntime's merge (same bin width)

    return _Collector(method="percentile", symmetric=True, num_bins=num_bins, num_quantized_bins=128,
                      percentile=CALIBRATION_PERCENTILE, scenario="same")


def _activation_ranges(model_path: Path, frames: Iterable[np.ndarray], folder: Path) -> dict:
    """Symmetric percentile ranges, {tensor: (low, high)}, of the activations quantize_static calibrates.

    Calibrated here, one frame at a time, rather than by quantize_static: its percentile calibrator
    takes no other collector and keeps every frame's activations until the end (CalibMaxIntermediateOutputs
    applies to MinMax only, whose onnxruntime 1.31 code then drops each frame unused: "No data is
    collected").
    """
    from onnxruntime.quantization.calibrate import CalibrationMethod, create_calibrator

    calibrator = create_calibrator(model_path, QUANTIZED_OPS, augmented_model_path=str(folder / "augmented.onnx"),
                                   calibrate_method=CalibrationMethod.Percentile,
                                   extra_options={"symmetric": True, "percentile": CALIBRATION_PERCENTILE})
    calibrator.collector = _histogram_collector(calibrator.num_bins)
    for frame in frames:
        calibrator.collect_data(_CalibrationReader([frame]))
    return {name: found[:2] for name, found in calibrator.collector.compute_collection_result().items()}


def _share_relu_ranges(model, excluded: Sequence[str], ranges: dict) -> None:
    """A quantised Relu's input takes its output's range, where the Relu is the input's only consumer:
    what onnxruntime's quantizer does to calibrated ranges (adjust_tensor_ranges; one Q/DQ pair serves
    both), and skips for the overrides these ranges reach it as."""
    consumers: dict = {}
    for node in model.graph.node:
        for name in node.input:
            consumers[name] = consumers.get(name, 0) + 1
    for node in model.graph.node:
        if (node.op_type == "Relu" and node.name not in excluded and consumers[node.input[0]] == 1
                and node.input[0] in ranges and node.output[0] in ranges):
            ranges[node.input[0]] = ranges[node.output[0]]


def quantize_int8(fp32_path, out_path, calibration: Iterable[np.ndarray], tensorrt: bool = False) -> Path:
    """Static int8 QDQ quantisation of the network, calibrated on ``calibration`` frames.

    Weights per channel (int8, symmetric), activations uint8 over the 99.99th percentile range of
    their magnitudes, biases int32 (what ONNX Runtime's CPU kernels run fastest). ``tensorrt``: the form
    TensorRT's explicit int8 takes: activations int8 with zero point 0 (its parser: "zeroPt must be all
    zeros") and biases left in float (it has no int32 dequantisation). The preprocessing, the first
    convolution, the final resize of the logits and the argmax stay in float.
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    frames = iter(calibration)
    first = next(frames, None)
    if first is None:
        raise RailSegError("int8 needs calibration frames")
    with atomic_path(out_path) as tmp, tempfile.TemporaryDirectory() as work:
        prepared = Path(work) / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        model = onnx.load(str(prepared))
        excluded = _float_nodes(model)
        ranges = _activation_ranges(prepared, itertools.chain([first], frames), Path(work))
        _share_relu_ranges(model, excluded, ranges)
        # the ranges reach quantize_static as overrides of every calibrated tensor (onnxruntime 1.17+;
        # its calibration_cache_path is newer than the Jetson's 1.19); its own calibration, MinMax on
        # the first frame, is then unused but cheap (ReduceMin/ReduceMax outputs) and never fails
        quantize_static(
            str(prepared), str(tmp), _CalibrationReader([first]), quant_format=QuantFormat.QDQ,
            op_types_to_quantize=QUANTIZED_OPS, nodes_to_exclude=excluded,
            per_channel=True, activation_type=QuantType.QInt8 if tensorrt else QuantType.QUInt8,
            weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
            extra_options={"ActivationSymmetric": tensorrt, "WeightSymmetric": True,
                           "QuantizeBias": not tensorrt,
                           "TensorQuantOverrides": {name: [{"rmin": low, "rmax": high}]
                                                    for name, (low, high) in ranges.items()}})
    return Path(out_path)


def export_for_tensorrt(card: ModelCard, path, outputs: Sequence[str], precision: str,
                        calibration: Sequence[np.ndarray] = (), net=None) -> Path:
    """The graph TensorRT builds from: int32 labels (its uint8 casts take only float inputs, and ArgMax
    gives integers); for int8 the symmetric Q/DQ form calibrated on ``calibration`` frames."""
    if precision != "int8":
        return export_onnx(card, path, outputs, label_dtype="int32", net=net)
    if not calibration:
        raise RailSegError("int8 for TensorRT needs calibration frames")
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx(card, Path(tmp) / "fp32.onnx", outputs, label_dtype="int32", net=net)
        return quantize_int8(fp32, path, calibration, tensorrt=True)
