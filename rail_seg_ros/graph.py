"""The inference graph every backend runs: uint8 RGB frames in, class ids (and confidence) out.

Normalisation, colour order and argmax live inside the graph rather than in numpy around it, so that
ONNX Runtime and TensorRT run them with the network (multithreaded, on the GPU where there is one) and
only a small uint8 label map comes back instead of 19 float planes.
"""

from typing import Sequence, Tuple

import torch
from torch import nn

from .graph_io import INPUT_NAME, OUTPUTS  # noqa: F401 (INPUT_NAME: imported from here too)
from .model_card import ModelCard


class Preprocess(nn.Module):
    """N x H x W x 3 uint8 RGB -> N x 3 x H x W float, in the card's colour order and normalisation."""

    def __init__(self, card: ModelCard, transpose_first: bool = False):
        super().__init__()
        self.transpose_first = transpose_first
        order = [2, 1, 0] if card.color_order == "bgr" else [0, 1, 2]
        self.order = order
        mean = torch.tensor(card.mean, dtype=torch.float32) * 255.0
        scale = 1.0 / (torch.tensor(card.std, dtype=torch.float32) * 255.0)
        self.register_buffer("mean", mean.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", scale.view(1, 3, 1, 1), persistent=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if self.transpose_first:  # a quarter of the bytes to move: ~3 % of lat_small's time on ONNX Runtime's CPU
            x = image.permute(0, 3, 1, 2).to(torch.float32)
        else:
            # Cast first: TensorRT accepts a uint8 tensor only as a graph input feeding a Cast
            # (onnx-tensorrt 10.x ModelImporter; 8.5 casts uint8 only to and from float)
            x = image.to(torch.float32).permute(0, 3, 1, 2)
        if self.order != [0, 1, 2]:
            x = x[:, self.order]
        return (x - self.mean) * self.scale


class SegmentationGraph(nn.Module):
    """Preprocess -> network -> the requested outputs, in ``OUTPUTS`` order.

    ``labels``: N x H x W class ids (uint8, or int32 for TensorRT 8.5 which has no uint8 arithmetic);
    ``confidence``: N x H x W uint8, the largest softmax probability scaled to 0..255;
    ``logits``: N x C x H x W float.
    """

    def __init__(self, card: ModelCard, net: nn.Module, outputs: Sequence[str] = ("labels",),
                 label_dtype: torch.dtype = torch.uint8):
        super().__init__()
        unknown = [o for o in outputs if o not in OUTPUTS]
        if unknown or not outputs:
            raise ValueError(f"outputs must be some of {OUTPUTS}, got {tuple(outputs)}")
        self.outputs = tuple(o for o in OUTPUTS if o in outputs)
        self.label_dtype = label_dtype
        self.preprocess = Preprocess(card)
        self.net = net

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        logits = self.net(self.preprocess(image))
        results = []
        if "labels" in self.outputs:
            results.append(logits.argmax(dim=1).to(self.label_dtype))
        if "confidence" in self.outputs:
            # max softmax = 1 / sum(exp(l - max l)): no full softmax tensor needed
            top = logits.amax(dim=1, keepdim=True)
            confidence = 1.0 / torch.exp(logits - top).sum(dim=1)
            results.append(torch.round(confidence * 255.0).to(torch.uint8))
        if "logits" in self.outputs:
            results.append(logits)
        return tuple(results)


# ---- the low-resolution graph: the sparse head's input (rail_seg_ros/head.py) -----------------------
from .head import LOW_LABELS, LOW_LOGITS, LOW_RESOLUTION_OUTPUTS  # noqa: E402,F401 (kept apart from the imports above)


def has_low_resolution_head(net: nn.Module) -> bool:
    """Whether ``net`` ends with the bilinear align_corners resize the sparse head reproduces."""
    return hasattr(net, "low_resolution_logits") and getattr(net, "FINAL_RESIZE_ALIGN_CORNERS", False)


class LowResolutionGraph(nn.Module):
    """Preprocess -> the network without its final resize: N x C x h x w float logits and their N x h x w
    uint8 argmax. The sparse head computes the labels at any output size from them.

    Only ONNX Runtime's CPU provider runs it (GPUs keep the full head), so its input is transposed while
    still uint8; the graphs TensorRT may see cast first (``Preprocess``)."""

    outputs = LOW_RESOLUTION_OUTPUTS

    def __init__(self, card: ModelCard, net: nn.Module):
        super().__init__()
        if not has_low_resolution_head(net):
            raise ValueError(f"{type(net).__name__} has no low_resolution_logits with an align_corners resize")
        self.preprocess = Preprocess(card, transpose_first=True)
        self.net = net

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        logits = self.net.low_resolution_logits(self.preprocess(image))
        return logits, logits.argmax(dim=1).to(torch.uint8)
