"""ONNX Runtime backend: the CPU provider with full graph optimisation, CUDA and TensorRT providers when present.

The graph comes from the card's shipped export when it has the outputs asked for, otherwise it is
exported once into the engine cache (named by :func:`~rail_seg_ros.backends.cache.cache_key`). On the
CPU provider the graph stops before the network's final resize and the sparse head (``head.py``) computes
the labels (``head="full"`` keeps upsampling and argmax in the graph, as the GPU providers do). With the
TensorRT provider, int8 runs the symmetric Q/DQ graph TensorRT takes (the fp32 graph with
``trt_int8_enable`` and no calibration table fails TensorRT's calibration, and onnxruntime then falls
back to CUDA or the CPU unnoticed), and its engines go to a folder named by the graph's content and
the runtime, not by the model's file name.
"""

import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .. import head as head_module
from ..errors import RailSegError
from ..graph_io import INPUT_NAME
from ..head import HEADS, LOW_RESOLUTION_OUTPUTS, head_outputs
from ..model_card import ModelCard
from ..nets.registry import get_architecture, torch_installed
from .base import Backend
from .cache import cache_key, prepare_cache_dir

TENSORRT_PROVIDER = "TensorrtExecutionProvider"


def available_providers() -> List[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


def physical_cores() -> int:
    """ONNX Runtime runs best with one intra-op thread per physical core (hyper-threads do not help)."""
    cores = set()
    physical = "0"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "physical id":
                    physical = value.strip()
                elif key.strip() == "core id":
                    cores.add((physical, value.strip()))
    except OSError:
        pass
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(len(cores) or available, available))


def _uses_tensorrt_provider(device: str) -> bool:
    return (device in ("auto", "cuda") or device.startswith("cuda")) and TENSORRT_PROVIDER in available_providers()


def _runtime_identity() -> List[str]:
    """What onnxruntime's TensorRT engines are tied to: its version, TensorRT's, the GPU's capability."""
    import onnxruntime as ort

    parts = [f"onnxruntime{ort.__version__}"]
    try:
        import tensorrt

        parts.append(f"tensorrt{tensorrt.__version__}")
    except (ImportError, OSError):
        parts.append("tensorrt-unknown")
    try:
        import torch

        if torch.cuda.is_available():
            parts.append("sm{}{}".format(*torch.cuda.get_device_capability(0)))
    except (ImportError, OSError, RuntimeError):
        pass
    return parts


def tensorrt_engine_folder(cache_dir: Path, card: ModelCard, outputs: Sequence[str], precision: str,
                           calibration: Optional[str], graph: Path) -> Path:
    """Where the TensorRT provider keeps its engines for ``graph``: onnxruntime names them by the model's
    file and node names, so the folder is named by the graph's content (a retrained model of the same file
    name gets new engines) and by the runtime they are tied to."""
    folder = cache_dir / "onnxruntime-tensorrt" / cache_key(card, outputs, precision, calibration,
                                                            _runtime_identity(), graph_file=graph)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _providers(device: str, precision: str, engine_cache: Optional[Path]) -> List:
    """``engine_cache``: the folder for the TensorRT provider's engines (None: that provider is not used)."""
    have = available_providers()
    chosen: List = []
    if device in ("auto", "cuda") or device.startswith("cuda"):
        if engine_cache is not None and TENSORRT_PROVIDER in have:
            chosen.append((TENSORRT_PROVIDER, {
                "trt_fp16_enable": precision in ("fp16", "int8"), "trt_int8_enable": precision == "int8",
                "trt_engine_cache_enable": True, "trt_engine_cache_path": str(engine_cache),
                "trt_timing_cache_enable": True}))
        if "CUDAExecutionProvider" in have:
            chosen.append("CUDAExecutionProvider")
        if device != "auto" and not chosen:
            raise RailSegError(f"device {device}: this onnxruntime has no CUDA or TensorRT provider "
                               f"(available: {', '.join(have)})")
    chosen.append("CPUExecutionProvider")
    return chosen


def sparse_head_used(card: ModelCard, head: str, outputs: Sequence[str], cpu_only: bool) -> bool:
    """Whether the graph stops before the final resize: the default on the CPU provider (the head is
    then ~half the frame's time), unless the full-resolution logits are asked for, a shipped graph
    cannot be re-exported here (no torch) or the network has no such resize (the baselines)."""
    if head not in HEADS:
        raise RailSegError(f"head {head!r} is not one of {', '.join(HEADS)}")
    if head == "full" or "logits" in outputs:
        return False
    if head == "auto" and (not cpu_only or (card.onnx and not torch_installed())):
        return False
    if not get_architecture(card.architecture).low_resolution_head:
        if head == "sparse":
            raise RailSegError(f"head sparse: {card.architecture} does not end with the align_corners resize "
                               "the sparse head reproduces; use head auto or full")
        return False
    return True


def graph_outputs(onnx_path: Path) -> Tuple[str, ...]:
    import onnx

    return tuple(o.name for o in onnx.load(str(onnx_path), load_external_data=False).graph.output)


def prepare_onnx(card: ModelCard, outputs: Sequence[str], precision: str, cache_dir: Path,
                 calibration: Optional[str] = None, net=None, for_tensorrt: bool = False) -> Path:
    """The ONNX file to run for ``card``: shipped, cached, or exported now (int8: quantised now).

    ``for_tensorrt``: the form TensorRT takes whole (see export.export_for_tensorrt): int32 labels, int8 as
    symmetric Q/DQ with float biases; otherwise onnxruntime's provider hands what TensorRT refuses to CUDA.
    """
    shipped = card.resolve(card.onnx) if card.onnx else None
    if shipped is not None and precision == "fp32" and set(outputs) <= set(graph_outputs(shipped)) \
            and not for_tensorrt:
        return shipped  # needs no torch: the shipped export runs where only onnxruntime is installed
    from ..nets import require_torch

    require_torch(f"backend onnxruntime: model card {card.name} has no shipped ONNX export for this run "
                  f"({precision}, outputs {', '.join(outputs)}); exporting one")
    from ..export import export_onnx, quantize_int8

    form = ("tensorrt",) if for_tensorrt else ()
    fp32_path = cache_dir / f"{cache_key(card, outputs, 'fp32', runtime=form)}.onnx"
    if not fp32_path.exists():
        export_onnx(card, fp32_path, outputs, label_dtype="int32" if for_tensorrt else "uint8", net=net)
    if precision == "fp32":
        return fp32_path
    if precision != "int8":
        raise RailSegError(f"backend onnxruntime: precision {precision} on the CPU is not supported (fp32 or int8)")
    int8_path = cache_dir / f"{cache_key(card, outputs, 'int8', calibration, form)}.onnx"
    if not int8_path.exists():
        from ..calibration import calibration_frames

        quantize_int8(fp32_path, int8_path, calibration_frames(calibration, card), tensorrt=for_tensorrt)
    return int8_path


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"

    def __init__(self, card: ModelCard, precision: str = "fp32", device: str = "cpu",
                 outputs: Tuple[str, ...] = ("labels",), cache_dir: Optional[Path] = None,
                 threads: Optional[int] = None, calibration: Optional[str] = None,
                 onnx_path: Optional[Path] = None, net=None, head: str = "auto"):
        """``head``: auto (the sparse head on the CPU, the full one in the graph on a GPU), sparse or full."""
        import onnxruntime as ort

        cache_dir = prepare_cache_dir(cache_dir)
        tensorrt = _uses_tensorrt_provider(device)
        graph_precision = precision if precision == "int8" or not tensorrt else "fp32"  # fp16: a provider flag
        providers = None if tensorrt else _providers(device, precision, None)  # TensorRT's need the graph first
        cpu_only = providers == ["CPUExecutionProvider"]
        self.low_resolution = onnx_path is None and sparse_head_used(card, head, outputs, cpu_only)
        self.graph_outputs = LOW_RESOLUTION_OUTPUTS if self.low_resolution else tuple(outputs)
        path = Path(onnx_path) if onnx_path else prepare_onnx(
            card, self.graph_outputs, graph_precision, cache_dir, calibration, net, for_tensorrt=tensorrt)
        if tensorrt:
            engine_cache = tensorrt_engine_folder(cache_dir, card, self.graph_outputs, precision, calibration, path)
            providers = _providers(device, precision, engine_cache)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or physical_cores()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # keep provider chatter out of the node's log
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise RailSegError(f"backend onnxruntime: cannot load {path} ({str(exc).splitlines()[0]})") from None
        used = self.session.get_providers()
        device_used = "cuda" if used and used[0] != "CPUExecutionProvider" else "cpu"
        super().__init__(precision, device_used, tuple(outputs), card.input_size)
        self.path = path
        self.provider = used[0] if used else "CPUExecutionProvider"

    def run_graph(self, images: np.ndarray) -> Dict[str, np.ndarray]:
        results = self.session.run(list(self.graph_outputs), {INPUT_NAME: np.ascontiguousarray(images)})
        return dict(zip(self.graph_outputs, results))

    def infer(self, images: np.ndarray) -> Dict[str, np.ndarray]:
        raw = self.run_graph(images)
        if self.low_resolution:
            return head_outputs(raw, self.outputs, self.input_size)
        if "labels" in raw and raw["labels"].dtype != np.uint8:  # int32 in the TensorRT form
            raw["labels"] = raw["labels"].astype(np.uint8)
        return raw

    def describe(self) -> str:
        head = f", sparse head ({'compiled' if head_module.COMPILED else 'numpy'})" if self.low_resolution else ""
        return f"{self.name} ({self.provider}, {self.precision}{head})"
