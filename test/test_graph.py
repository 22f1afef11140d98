"""The inference graph: normalisation and colour order inside it, outputs in a fixed order, argmax and
confidence as defined."""

import numpy as np
import pytest
import torch
from torch import nn

from rail_seg_ros.graph import OUTPUTS, Preprocess, SegmentationGraph
from rail_seg_ros.model_card import ModelCard

MEAN, STD = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)


def _card(color_order: str = "rgb") -> ModelCard:
    return ModelCard(name="t", architecture="squeezenas_mac_small", label_set="railsem19", input_size=(64, 64),
                     color_order=color_order, mean=MEAN, std=STD)


def _frame(seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.integers(0, 256, (2, 8, 12, 3), dtype=np.uint8))


@pytest.mark.parametrize("transpose_first", [False, True])
@pytest.mark.parametrize("color_order, channels", [("rgb", [0, 1, 2]), ("bgr", [2, 1, 0])])
def test_preprocess_normalises_in_the_cards_colour_order(color_order, channels, transpose_first):
    image = _frame()
    out = Preprocess(_card(color_order), transpose_first=transpose_first)(image)
    assert out.shape == (2, 3, 8, 12) and out.dtype == torch.float32
    x = image.numpy().astype(np.float64) / 255.0
    for c, source in enumerate(channels):  # mean/std are given in the card's colour order
        expected = (x[..., source] - MEAN[c]) / STD[c]
        np.testing.assert_allclose(out[:, c].numpy(), expected, atol=1e-5)


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Conv2d(3, 19, 1).eval()


def test_outputs_come_in_the_fixed_order_whatever_was_asked():
    graph = SegmentationGraph(_card(), _net(), ("logits", "labels", "confidence")).eval()
    assert graph.outputs == OUTPUTS
    with torch.no_grad():
        labels, confidence, logits = graph(_frame())
    assert labels.shape == confidence.shape == (2, 8, 12) and logits.shape == (2, 19, 8, 12)
    assert labels.dtype == confidence.dtype == torch.uint8
    torch.testing.assert_close(labels, logits.argmax(dim=1).to(torch.uint8))
    expected = torch.round(torch.softmax(logits, dim=1).amax(dim=1) * 255).to(torch.uint8)
    assert (confidence.int() - expected.int()).abs().max() <= 1  # same value, computed without a softmax
    assert confidence.min() >= 255 // 19  # the top class has at least 1/19 of the mass


def test_labels_as_int32_for_tensorrt_and_logits_of_the_network():
    net = _net()
    graph = SegmentationGraph(_card(), net, ("labels",), label_dtype=torch.int32).eval()
    image = _frame(1)
    with torch.no_grad():
        (labels,) = graph(image)
        logits = net(Preprocess(_card())(image))
    assert labels.dtype == torch.int32
    torch.testing.assert_close(labels, logits.argmax(dim=1).to(torch.int32))


@pytest.mark.parametrize("outputs", [(), ("labels", "probabilities")])
def test_unknown_or_no_outputs_are_refused(outputs):
    with pytest.raises(ValueError, match="outputs must be some of"):
        SegmentationGraph(_card(), _net(), outputs)


def test_only_the_cpu_only_low_resolution_graph_transposes_uint8(tmp_path):
    """TensorRT takes uint8 only into a Cast: the full graph casts first; the sparse head's graph (ONNX
    Runtime's CPU only) moves the uint8 bytes first, a quarter of the float ones."""
    import onnx

    from rail_seg_ros.export import export_onnx
    from rail_seg_ros.head import LOW_RESOLUTION_OUTPUTS
    from rail_seg_ros.nets import build_model

    card = _card()
    net = build_model(card.architecture, 19).eval()
    first_ops = {}
    for name, outputs in (("full", ("labels",)), ("low", LOW_RESOLUTION_OUTPUTS)):
        graph = onnx.load(str(export_onnx(card, tmp_path / f"{name}.onnx", outputs, net=net)))
        first_ops[name] = [n.op_type for n in graph.graph.node if "image" in n.input]
    assert first_ops == {"full": ["Cast"], "low": ["Transpose"]}
