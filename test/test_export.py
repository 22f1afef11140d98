"""torch -> ONNX export: the two ONNX Runtime rewrites are in the graph and change no result."""

import cv2
import numpy as np

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
