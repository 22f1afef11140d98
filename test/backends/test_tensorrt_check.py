"""The TensorRT graph check (no TensorRT, no GPU): our graphs pass for 8.5 and 10, refusals are named by node.

The sweep over every shipped card and every architecture at full size is marked ``heavy`` (it runs by
default; ``-m "not heavy"`` leaves it out): each graph is exported once and checked in all its forms.
"""

from pathlib import Path
from typing import Dict, Tuple

import numpy as np
import onnx
import pytest
from conftest import run_cli
from onnx import TensorProto, helper, numpy_helper

from rail_seg_ros.backends.tensorrt_check import SUPPORTED_OPS, check_graph, target_for_version, used_ops
from rail_seg_ros.calibration import calibration_frames
from rail_seg_ros.errors import RailSegError
from rail_seg_ros.export import export_for_tensorrt, export_onnx, quantize_int8
from rail_seg_ros.model_card import build_network, card_for_architecture, load_card
from rail_seg_ros.nets import ARCHITECTURES, build_model

CARDS = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "config" / "models").glob("*.yaml"))
OUTPUTS = ("labels", "confidence")
# 1080x1920 frames run at 1088x1920: these networks take multiples of 16 (SqueezeNAS) and 32 (Fast-SCNN)
HD_SIZE = (1088, 1920)


def _save(nodes, inputs, outputs, inits=(), path: Path = None, opset: int = 17):
    model = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs, list(inits)),
                              opset_imports=[helper.make_opsetid("", opset)])
    if path is not None:
        onnx.save(model, str(path))
    return model


def _check_all_forms(fp32: Path, int8: Path) -> Dict[str, list]:
    """Problems for 8.5 and 10 in fp32, fp16 (the fp32 graph with the builder flag) and int8 (Q/DQ), and 11."""
    forms = [("fp32", fp32), ("fp16", fp32), ("int8", int8)]
    results = {}
    for target in ("8.5", "10"):
        for precision, graph in forms:
            results[f"{target} {precision}"] = [str(p) for p in check_graph(graph, target, precision)]
    for precision, graph in forms:
        if precision != "fp16":
            results[f"11 {precision}"] = [str(p) for p in check_graph(graph, "11", precision)]
    return results


_FRAMES: Dict[Tuple[int, int], list] = {}


def _export_forms(card, net, folder: Path) -> Tuple[Path, Path]:
    """The TensorRT graphs of ``card``: fp32 and symmetric Q/DQ int8 (one calibration frame: the graph's
    structure does not depend on how many), the comparison baselines' too (their nearly constant
    hard-sigmoid gates once failed onnxruntime's calibrator: test_export)."""
    fp32 = export_for_tensorrt(card, folder / f"{card.name}-fp32.onnx", OUTPUTS, "fp32", net=net)
    if card.input_size not in _FRAMES:
        _FRAMES[card.input_size] = calibration_frames(None, card, 1)
    # what export_for_tensorrt(..., "int8") does, from the fp32 graph already here (one export, not two)
    int8 = quantize_int8(fp32, folder / f"{card.name}-int8.onnx", _FRAMES[card.input_size], tensorrt=True)
    return fp32, int8


def _assert_passes(fp32: Path, int8: Path) -> None:
    assert used_ops(onnx.load(str(int8))) <= set(SUPPORTED_OPS)
    results = _check_all_forms(fp32, int8)
    assert all(not problems for problems in results.values()), results


@pytest.fixture(scope="module")
def rail_default(tmp_path_factory) -> Tuple[Path, Path]:
    card = load_card("rail_default")
    return _export_forms(card, build_network(card), tmp_path_factory.mktemp("rail_default"))


def test_rail_default_passes_for_8_5_and_10_in_every_precision(rail_default):
    _assert_passes(*rail_default)


def test_the_uint8_input_feeds_a_cast_first(rail_default):
    model = onnx.load(str(rail_default[0]))
    consumers = [n for n in model.graph.node if "image" in n.input]
    assert [n.op_type for n in consumers] == ["Cast"]


def test_int8_for_tensorrt_is_symmetric_with_float_biases(rail_default):
    model = onnx.load(str(rail_default[1]))
    inits = {t.name: t for t in model.graph.initializer}
    zero_points = [inits[n.input[2]] for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert zero_points and all(z.data_type == TensorProto.INT8 for z in zero_points)
    assert all(not numpy_helper.to_array(z).any() for z in zero_points)
    assert not [t for t in model.graph.initializer if t.data_type == TensorProto.INT32]  # no quantised biases
    weights = [n for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in inits]
    assert any(numpy_helper.to_array(inits[n.input[1]]).size > 1 for n in weights)  # per-channel weights


def test_tensorrt_11_refuses_fp16_from_an_fp32_graph_in_one_line(rail_default):
    problems = check_graph(rail_default[0], "11", "fp16")
    assert len(problems) == 1 and "fp16 needs an fp16 ONNX graph" in str(problems[0])
    assert "int8 needs a Q/DQ graph" in str(check_graph(rail_default[0], "11", "int8")[0])


@pytest.fixture(scope="module")
def cpu_int8(tmp_path_factory, rail_default) -> Path:
    """The CPU's int8 form: asymmetric uint8 activations and int32 biases, which TensorRT refuses."""
    card = load_card("rail_default")
    folder = tmp_path_factory.mktemp("cpu-int8")
    fp32 = export_onnx(card, folder / "fp32.onnx", OUTPUTS)
    return quantize_int8(fp32, folder / "int8.onnx", calibration_frames(None, card, 1))


@pytest.mark.parametrize("target", ["8.5", "10"])
def test_the_cpu_int8_form_fails_naming_its_nodes(cpu_int8, target):
    problems = check_graph(cpu_int8, target, "int8")
    text = [str(p) for p in problems]
    assert any("non-zero zero point" in t for t in text)
    assert any("uint8 zero point" in t for t in text)
    assert any("int32 dequantisation" in t for t in text)
    assert any("casts int64 to uint8 for labels" in t for t in text)  # uint8 labels from ArgMax
    named = {n.name for n in onnx.load(str(cpu_int8)).graph.node}
    assert all(p.node in named for p in problems)


def test_a_uint8_transpose_is_named():
    model = _save([helper.make_node("Transpose", ["image"], ["t"], name="transpose_first", perm=[0, 3, 1, 2]),
                   helper.make_node("Cast", ["t"], ["x"], name="cast_after", to=TensorProto.FLOAT)],
                  [helper.make_tensor_value_info("image", TensorProto.UINT8, [1, 8, 8, 3])],
                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])])
    for target in ("8.5", "10", "11"):
        problems = check_graph(model, target)
        assert problems and all(p.node == "transpose_first" for p in problems)


def _qdq_model(zero_point: np.ndarray, scale: np.ndarray, dq_input_type=TensorProto.FLOAT):
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="quant"),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], name="dequant")]
    inits = [numpy_helper.from_array(scale.astype(np.float32), "s"), numpy_helper.from_array(zero_point, "z")]
    return _save(nodes, [helper.make_tensor_value_info("x", dq_input_type, [1, 4])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], inits)


def test_a_non_zero_zero_point_is_named():
    problems = check_graph(_qdq_model(np.array(3, np.int8), np.array(0.1)), "8.5", "int8")
    assert {p.node for p in problems} == {"quant", "dequant"}
    assert all("non-zero zero point" in p.reason for p in problems)
    assert not check_graph(_qdq_model(np.array(0, np.int8), np.array(0.1)), "8.5", "int8")


def test_per_channel_activation_quantisation_and_dynamic_inputs_are_refused():
    per_channel = _qdq_model(np.zeros(4, np.int8), np.full(4, 0.1))
    assert any("per-channel quantisation of an activation" in str(p) for p in check_graph(per_channel, "10"))
    dynamic = _save([helper.make_node("Relu", ["x"], ["y"], name="relu")],
                    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])])
    assert "dynamic dimension" in str(check_graph(dynamic, "8.5")[0])


def test_unknown_ops_attributes_and_opsets_are_refused():
    model = _save([helper.make_node("Resize", ["x", "", "scales"], ["r"], name="cubic_resize", mode="cubic",
                                    coordinate_transformation_mode="tf_crop_and_resize"),
                   helper.make_node("NonMaxSuppression", ["r"], ["y"], name="nms")],
                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
                  [helper.make_tensor_value_info("y", TensorProto.INT64, [1, 3])],
                  [numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")], opset=18)
    text = [str(p) for p in check_graph(model, "8.5")]
    assert any("opset 18: TensorRT 8.5 parses opsets 7 to 17" in t for t in text)
    assert any(t.startswith("node cubic_resize (Resize): mode 'cubic'") for t in text)
    assert any("tf_crop_and_resize" in t for t in text)
    assert any(t.startswith("node nms (NonMaxSuppression): not in") for t in text)
    assert not any("opset" in t for t in (str(p) for p in check_graph(model, "10")))


def test_target_for_an_installed_version():
    assert [target_for_version(v) for v in ("8.5.2.2", "8.6.1", "10.3.0", "11.0.0")] == ["8.5", "8.5", "10", "11"]


def test_cli_check_writes_the_tensorrt_form_and_refuses_a_bad_graph(tmp_path, cpu_int8, capsys):
    out = tmp_path / "rail_trt_int8.onnx"
    assert run_cli("export", "--model", "rail_default", "--precision", "int8", "--calib-frames", "1",
                   "--check-tensorrt", "8.5", "--out", out) == 0
    assert out.exists() and not check_graph(out, "10", "int8")
    capsys.readouterr()
    assert run_cli("export", "--model", "rail_default", "--onnx", cpu_int8, "--check-tensorrt", "10",
                   "--precision", "int8") == 2
    err = capsys.readouterr().err
    assert "TensorRT 10: node " in err and "non-zero zero point" in err and "Traceback" not in err
    refused = tmp_path / "fp16_for_11.onnx"
    assert run_cli("export", "--model", "rail_default", "--precision", "fp16", "--check-tensorrt", "11",
                   "--out", refused) == 2
    assert not refused.exists() and not list(tmp_path.glob(".*tmp*"))  # nothing half-written


def test_cli_engine_without_tensorrt_says_so(tmp_path, capsys):
    from rail_seg_ros.backends.tensorrt_backend import tensorrt_available

    if tensorrt_available():
        pytest.skip("TensorRT is here: the engine build itself is tested on the Jetson")
    assert run_cli("export", "--model", "rail_default", "--format", "engine", "--out", tmp_path / "e.engine") == 2
    assert "--check-tensorrt checks a graph without them" in capsys.readouterr().err
    with pytest.raises(RailSegError):
        from rail_seg_ros.backends.tensorrt_backend import TensorRTBackend

        TensorRTBackend(load_card("rail_default"), "fp16")


def _card_or_architecture(name: str):
    """The shipped card with its weights where they are here, else its architecture at the card's size."""
    card = load_card(name)
    try:
        return card, build_network(card)
    except RailSegError:
        return card, build_model(card.architecture, card.num_classes)


@pytest.mark.heavy
@pytest.mark.parametrize("name", [c for c in CARDS if c != "rail_default"])
def test_every_shipped_card_passes(name, tmp_path):
    card, net = _card_or_architecture(name)
    _assert_passes(*_export_forms(card, net, tmp_path))


@pytest.mark.heavy
@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_every_architecture_passes_at_1088x1920(architecture, tmp_path):
    card = card_for_architecture(architecture, input_size=HD_SIZE)
    _assert_passes(*_export_forms(card, build_model(architecture), tmp_path))
