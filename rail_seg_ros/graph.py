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

    def __init__(self, card: ModelCard):
        super().__init__()
        order = [2, 1, 0] if card.color_order == "bgr" else [0, 1, 2]
        self.order = order
        mean = torch.tensor(card.mean, dtype=torch.float32) * 255.0
        scale = 1.0 / (torch.tensor(card.std, dtype=torch.float32) * 255.0)
        self.register_buffer("mean", mean.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", scale.view(1, 3, 1, 1), persistent=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image.permute(0, 3, 1, 2).to(torch.float32)
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
