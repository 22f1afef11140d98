"""ONNX Runtime backend: the CPU provider with full graph optimisation, CUDA and TensorRT providers when present.

The graph comes from the card's shipped export when it has the outputs asked for, otherwise it is
exported once into the engine cache (keyed by weights, input size, outputs and precision).
"""

import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import RailSegError
from ..graph_io import INPUT_NAME
from ..model_card import ModelCard
from .base import Backend

DEFAULT_CACHE = Path(os.environ.get("RAIL_SEG_CACHE", "~/.cache/rail_seg_ros")).expanduser()


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


def _providers(device: str, precision: str, cache_dir: Path) -> List:
    have = available_providers()
    chosen: List = []
    if device in ("auto", "cuda") or device.startswith("cuda"):
        if "TensorrtExecutionProvider" in have:
            chosen.append(("TensorrtExecutionProvider", {
                "trt_fp16_enable": precision == "fp16", "trt_int8_enable": precision == "int8",
                "trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache_dir),
                "trt_timing_cache_enable": True}))
        if "CUDAExecutionProvider" in have:
            chosen.append("CUDAExecutionProvider")
        if device != "auto" and not chosen:
            raise RailSegError(f"device {device}: this onnxruntime has no CUDA or TensorRT provider "
                               f"(available: {', '.join(have)})")
    chosen.append("CPUExecutionProvider")
    return chosen


def graph_outputs(onnx_path: Path) -> Tuple[str, ...]:
    import onnx

    return tuple(o.name for o in onnx.load(str(onnx_path), load_external_data=False).graph.output)


def prepare_onnx(card: ModelCard, outputs: Sequence[str], precision: str, cache_dir: Path,
                 calibration: Optional[str] = None, net=None) -> Path:
    """The ONNX file to run for ``card``: shipped, cached, or exported now (int8: quantised now)."""
    shipped = card.resolve(card.onnx) if card.onnx else None
    if shipped is not None and precision == "fp32" and set(outputs) <= set(graph_outputs(shipped)):
        return shipped  # needs no torch: the shipped export runs where only onnxruntime is installed
    from ..nets import require_torch

    require_torch(f"backend onnxruntime: model card {card.name} has no shipped ONNX export for this run "
                  f"({precision}, outputs {', '.join(outputs)}); exporting one")
    from ..export import card_digest, export_onnx, quantize_int8

    key = f"{card.name}-{card_digest(card)}-{'+'.join(outputs)}"
    fp32_path = cache_dir / f"{key}-fp32.onnx"
    if not fp32_path.exists():
        export_onnx(card, fp32_path, outputs, net=net)
    if precision == "fp32":
        return fp32_path
    if precision != "int8":
        raise RailSegError(f"backend onnxruntime: precision {precision} on the CPU is not supported (fp32 or int8)")
    calib_key = Path(calibration).name if calibration else "synthetic"
    int8_path = cache_dir / f"{key}-int8-{calib_key}.onnx"
    if not int8_path.exists():
        from ..calibration import calibration_frames

        quantize_int8(fp32_path, int8_path, calibration_frames(calibration, card))
    return int8_path


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"

    def __init__(self, card: ModelCard, precision: str = "fp32", device: str = "cpu",
                 outputs: Tuple[str, ...] = ("labels",), cache_dir: Optional[Path] = None,
                 threads: Optional[int] = None, calibration: Optional[str] = None,
                 onnx_path: Optional[Path] = None, net=None):
        import onnxruntime as ort

        cache_dir = Path(cache_dir or DEFAULT_CACHE).expanduser()
        cache_dir.mkdir(parents=True, exist_ok=True)
        providers = _providers(device, precision, cache_dir)
        gpu_precision = precision if isinstance(providers[0], tuple) else None
        path = Path(onnx_path) if onnx_path else prepare_onnx(
            card, outputs, "fp32" if gpu_precision else precision, cache_dir, calibration, net)
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

    def infer(self, images: np.ndarray) -> Dict[str, np.ndarray]:
        results = self.session.run(list(self.outputs), {INPUT_NAME: np.ascontiguousarray(images)})
        return dict(zip(self.outputs, results))

    def describe(self) -> str:
        return f"{self.name} ({self.provider}, {self.precision})"
