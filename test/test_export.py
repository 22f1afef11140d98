"""torch -> ONNX export: the two ONNX Runtime rewrites are in the graph and change no result."""

import cv2
import numpy as np
import pytest

from rail_seg_ros.model_card import load_card


def test_exported_graph_is_tuned_for_onnxruntime_and_still_exact(tmp_path, small_card, frame):
    """The export folds the normalisation scale into the first Conv and ends NCHWc before the head."""
    import onnx
    import torch

    from rail_seg_ros.export import compare_with_torch, export_onnx
    from rail_seg_ros.graph import SegmentationGraph
    from rail_seg_ros.model_card import build_network

    card = load_card(str(small_card))
    path = export_onnx(card, tmp_path / "tuned.onnx")
    nodes = list(onnx.load(str(path)).graph.node)
    first_conv = next(i for i, n in enumerate(nodes) if n.op_type == "Conv")
    assert [n.op_type for n in nodes[:first_conv] if n.op_type == "Mul"] == []
    head = [n for n in nodes if n.op_type == "Resize"][-1]
    assert next(n for n in nodes if head.input[0] in n.output).op_type == "Reshape"
    net = build_network(card).eval()
    frames = [cv2.resize(frame, card.input_size[::-1]), np.full((*card.input_size, 3), 255, np.uint8)]
    check = compare_with_torch(path, card, net, frames)
    with torch.no_grad():  # seeded random weights give logits of any magnitude: compare relative to it
        scale = max(float(SegmentationGraph(card, net, ("logits",))(torch.from_numpy(f[None]))[0].abs().max())
                    for f in frames)
    assert check["max_logit_diff"] <= 1e-5 * scale and check["label_agreement"] == 1.0


def _gated_graph(path):
    """image -> Cast -> Transpose -> Conv -> Conv -> x * (1e-8 x + 0.5) -> Conv: the gate is 0.5 within
    a few float32 steps, as MobileNetV3's hard-sigmoid gates are at full size."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = {"w1": rng.normal(size=(4, 3, 3, 3)) / 30, "w2": rng.normal(size=(4, 4, 1, 1)),
               "w3": rng.normal(size=(2, 4, 1, 1)), "tiny": np.array(1e-8), "half": np.array(0.5)}
    nodes = [helper.make_node("Cast", ["image"], ["f"], name="cast", to=TensorProto.FLOAT),
             helper.make_node("Transpose", ["f"], ["x"], name="nchw", perm=[0, 3, 1, 2]),
             helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["c1", "w2"], ["c2"], name="conv2"),
             helper.make_node("Mul", ["c2", "tiny"], ["small"], name="scale_down"),
             helper.make_node("Add", ["small", "half"], ["gate"], name="gate"),
             helper.make_node("Mul", ["c2", "gate"], ["gated"], name="apply_gate"),
             helper.make_node("Conv", ["gated", "w3"], ["logits"], name="conv3")]
    graph = helper.make_graph(nodes, "gated", [helper.make_tensor_value_info("image", TensorProto.UINT8, [1, 16, 16, 3])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 2, 16, 16])],
                              [numpy_helper.from_array(v.astype(np.float32), k) for k, v in weights.items()])
    # IR version 8: what opset 17 exports carry (this onnx writes newer than onnxruntime reads)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return path


@pytest.mark.parametrize("tensorrt", [False, True])
def test_a_nearly_constant_activation_is_quantised(tmp_path, tensorrt):
    """onnxruntime's own percentile calibration fails on the gate ("Too many bins for data range")."""
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    from rail_seg_ros.export import quantize_int8

    fp32 = _gated_graph(tmp_path / "gated.onnx")
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(3)]
    int8 = quantize_int8(fp32, tmp_path / "gated-int8.onnx", frames, tensorrt=tensorrt)
    model = onnx.load(str(int8))
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    gate_q = next(n for n in model.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == "gate")
    scale, zero_point = float(inits[gate_q.input[1]]), int(inits[gate_q.input[2]])
    qmax = 127 if tensorrt else 255 - zero_point
    assert abs(scale * qmax - 0.5) < 0.01  # the gate's range ends at its value, 0.5
    run = {p: ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (fp32, int8)}
    for frame in frames:
        ref, got = (run[p].run(None, {"image": frame[None]})[0] for p in (fp32, int8))
        assert np.abs(got - ref).max() <= 0.05 * np.abs(ref).max()


@pytest.mark.needs_torch
def test_a_baseline_s_int8_labels_agree_with_fp32(tmp_path):
    """LR-ASPP MobileNetV3 (hard-sigmoid gates) at its card's size: both int8 forms against fp32 on
    synthetic scenes other than the calibration ones (measured: 98.4-98.8 % with 8 frames)."""
    import onnxruntime as ort

    from rail_seg_ros.calibration import calibration_frames
    from rail_seg_ros.export import export_onnx, quantize_int8
    from rail_seg_ros.graph_io import INPUT_NAME
    from rail_seg_ros.model_card import build_network
    from rail_seg_ros.synth import render_scene

    card = load_card("lraspp_mobilenet_v3_large_synth")
    fp32 = export_onnx(card, tmp_path / "fp32.onnx", net=build_network(card))
    scenes = [render_scene(*card.input_size, seed=seed)[0] for seed in (1, 2)]

    def labels(path):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return np.stack([session.run(["labels"], {INPUT_NAME: scene[None]})[0] for scene in scenes])

    reference = labels(fp32)
    frames = calibration_frames(None, card, 2)
    for tensorrt in (False, True):
        int8 = quantize_int8(fp32, tmp_path / f"int8-{tensorrt}.onnx", frames, tensorrt=tensorrt)
        assert np.mean(labels(int8) == reference) >= 0.97, tensorrt
