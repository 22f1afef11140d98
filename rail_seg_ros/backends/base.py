"""The one small interface every inference backend implements."""

from typing import Dict, Tuple

import numpy as np

from ..contract import PRECISIONS  # noqa: F401 (the node's parameter table names them; re-exported)


class Backend:
    """Runs a model card's :class:`~rail_seg_ros.graph.SegmentationGraph`.

    ``infer`` takes N x H x W x 3 uint8 RGB frames at the card's input size and returns the requested
    outputs by name (``labels`` N x H x W uint8, ``confidence`` N x H x W uint8, ``logits`` N x C x H x W).
    """

    name = "base"
    # True where the graph stops before the network's final resize (the sparse head, rail_seg_ros/head.py):
    # ``run_graph`` then returns the low-resolution outputs and ``infer`` computes the labels from them.
    low_resolution = False

    def __init__(self, precision: str, device: str, outputs: Tuple[str, ...], input_size: Tuple[int, int]):
        self.precision = precision
        self.device = device
        self.outputs = outputs
        self.input_size = input_size

    def infer(self, images: np.ndarray) -> Dict[str, np.ndarray]:
        raise NotImplementedError

    def run_graph(self, images: np.ndarray) -> Dict[str, np.ndarray]:
        """The graph's own outputs (``graph.LOW_RESOLUTION_OUTPUTS`` where ``low_resolution``)."""
        return self.infer(images)

    def describe(self) -> str:
        """One line for logs and reports: backend, device, precision."""
        return f"{self.name} ({self.device}, {self.precision})"

    def close(self) -> None:
        """Release what the backend holds (sessions, engines, GPU memory)."""
