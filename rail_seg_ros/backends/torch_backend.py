"""PyTorch backend: eager execution on the CPU or a CUDA GPU, fp32 or fp16, optionally channels_last."""

from typing import Dict, Optional, Tuple

import numpy as np
import torch

from ..errors import RailSegError
from ..graph import SegmentationGraph
from ..model_card import ModelCard, build_network
from .base import Backend


def resolve_torch_device(device: str) -> str:
    if device in ("auto", ""):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RailSegError(f"device {device}: CUDA is not available to PyTorch on this machine")
    if device != "cpu" and not device.startswith("cuda"):
        raise RailSegError(f"device {device!r} is not cpu, cuda or cuda:N")
    return device


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, card: ModelCard, precision: str = "fp32", device: str = "auto",
                 outputs: Tuple[str, ...] = ("labels",), channels_last: bool = True,
                 threads: Optional[int] = None, net: Optional[torch.nn.Module] = None):
        device = resolve_torch_device(device)
        if precision == "int8":
            raise RailSegError("backend torch: int8 is not supported; use onnxruntime or tensorrt for int8")
        if precision == "fp16" and not device.startswith("cuda"):
            raise RailSegError("backend torch: fp16 needs a CUDA device (the CPU runs fp16 convolutions slowly)")
        super().__init__(precision, device, tuple(outputs), card.input_size)
        if threads:
            torch.set_num_threads(threads)
        net = net if net is not None else build_network(card)
        graph = SegmentationGraph(card, net, outputs).eval().to(device)
        if channels_last:
            graph = graph.to(memory_format=torch.channels_last)
        self.graph = graph
        self._half = precision == "fp16"

    @torch.no_grad()
    def infer(self, images: np.ndarray) -> Dict[str, np.ndarray]:
        # frames decoded from a bag can be read-only views, which torch refuses to wrap
        x = torch.from_numpy(np.require(images, requirements=["C", "W"])).to(self.device, non_blocking=True)
        if self._half:  # autocast runs the convolutions in fp16, argmax and softmax stay in fp32
            with torch.autocast("cuda", dtype=torch.float16):
                outputs = self.graph(x)
        else:
            outputs = self.graph(x)
        return {name: t.float().cpu().numpy() if name == "logits" else t.cpu().numpy()
                for name, t in zip(self.graph.outputs, outputs)}
