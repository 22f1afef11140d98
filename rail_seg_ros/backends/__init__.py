"""Inference backends behind one interface, and the choice among them.

``auto`` picks TensorRT where it and a GPU are present, then ONNX Runtime with CUDA, then ONNX Runtime
on the CPU, then PyTorch.
"""

from pathlib import Path
from typing import Optional, Sequence

from ..contract import BACKENDS  # the node's parameter table names them
from ..errors import RailSegError
from ..model_card import ModelCard
from .base import PRECISIONS, Backend


def _onnxruntime_importable() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_backend_name(name: str, device: str = "auto") -> str:
    """The concrete backend ``auto`` stands for on this machine (other names are returned as given)."""
    if name not in BACKENDS:
        raise RailSegError(f"backend {name!r} is not one of {', '.join(BACKENDS)}")
    if name != "auto":
        return name
    from .tensorrt_backend import tensorrt_available

    if device != "cpu" and tensorrt_available():
        return "tensorrt"
    if _onnxruntime_importable():
        return "onnxruntime"
    return "torch"


def create_backend(card: ModelCard, backend: str = "auto", precision: str = "fp32", device: str = "auto",
                   outputs: Sequence[str] = ("labels",), cache_dir: Optional[Path] = None,
                   threads: Optional[int] = None, calibration: Optional[str] = None, net=None) -> Backend:
    """A ready backend running ``card``'s graph with the requested outputs."""
    if precision not in PRECISIONS:
        raise RailSegError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    name = resolve_backend_name(backend, device)
    outputs = tuple(outputs)
    if name == "tensorrt":
        from .tensorrt_backend import TensorRTBackend

        return TensorRTBackend(card, precision, "cuda", outputs, cache_dir, calibration)
    if name == "onnxruntime":
        if not _onnxruntime_importable():
            raise RailSegError("backend onnxruntime: the onnxruntime package is not installed")
        from .onnxruntime_backend import OnnxRuntimeBackend

        return OnnxRuntimeBackend(card, precision, device, outputs, cache_dir, threads, calibration, net=net)
    from ..nets import require_torch

    require_torch("backend torch")
    from .torch_backend import TorchBackend

    return TorchBackend(card, precision, device, outputs, threads=threads, net=net)


__all__ = ["BACKENDS", "PRECISIONS", "Backend", "create_backend", "resolve_backend_name"]
