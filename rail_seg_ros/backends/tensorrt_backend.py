"""TensorRT backend: an engine built from the card's ONNX graph (or with torch2trt where importable),
cached by model, input shape, precision, TensorRT version and GPU name.

One code path for TensorRT 8.5 (JetPack 5) and 10.x: the name-based tensor API
(``num_io_tensors``, ``set_tensor_address``, ``execute_async_v3``), which both have. Builder flags and
the int8 entropy calibrator are used where the version still has them. GPU buffers and the stream
come from torch, which every Jetson image with TensorRT also carries.
"""

import hashlib
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..errors import RailSegError
from ..graph_io import INPUT_NAME
from ..model_card import ModelCard
from .base import Backend

WORKSPACE_BYTES = 1 << 30


def tensorrt_available() -> bool:
    try:
        import tensorrt  # noqa: F401
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def engine_cache_key(card_key: str, input_size: Tuple[int, int], precision: str) -> str:
    """Engines only run on the TensorRT version and GPU they were built for: both are in the key."""
    import tensorrt as trt
    import torch

    gpu = torch.cuda.get_device_name(0)
    text = f"{card_key}|{input_size[0]}x{input_size[1]}|{precision}|trt{trt.__version__}|{gpu}"
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _major(trt) -> int:
    return int(trt.__version__.split(".")[0])


def _make_calibrator(trt, frames: List[np.ndarray], cache_file: Path):
    """An entropy calibrator fed from uint8 frames (TensorRT 8.5 / 10; removed in later versions)."""
    import torch

    class FramesCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            super().__init__()
            self.frames = list(frames)
            self.index = 0
            self.buffer: Optional[torch.Tensor] = None

        def get_batch_size(self) -> int:
            return 1

        def get_batch(self, names):  # noqa: ARG002 - TensorRT's signature
            if self.index >= len(self.frames):
                return None
            self.buffer = torch.from_numpy(self.frames[self.index][None]).cuda()
            self.index += 1
            return [int(self.buffer.data_ptr())]

        def read_calibration_cache(self):
            return cache_file.read_bytes() if cache_file.exists() else None

        def write_calibration_cache(self, cache: bytes) -> None:
            cache_file.write_bytes(bytes(cache))

    return FramesCalibrator()


def build_engine(onnx_path: Path, engine_path: Path, precision: str,
                 calibration: Optional[List[np.ndarray]] = None) -> Path:
    """Parse ``onnx_path`` with TensorRT's ONNX parser and serialise an engine to ``engine_path``."""
    import tensorrt as trt

    from ..fileio import atomic_write_bytes

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    if _major(trt) < 10:  # explicit batch is required for ONNX before 10 and implied after
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RailSegError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    if precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)
    if precision == "int8":
        if not hasattr(trt, "IInt8EntropyCalibrator2"):
            raise RailSegError("this TensorRT has no implicit int8 calibration: export an int8 QDQ ONNX "
                               "(rail-seg export --format onnx --precision int8) and build from it")
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = _make_calibrator(trt, calibration or [], engine_path.with_suffix(".calib"))
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RailSegError(f"TensorRT failed to build an engine from {onnx_path} ({precision})")
    atomic_write_bytes(engine_path, bytes(serialized))
    return engine_path


class TensorRTBackend(Backend):
    name = "tensorrt"

    def __init__(self, card: ModelCard, precision: str = "fp16", device: str = "cuda",
                 outputs: Tuple[str, ...] = ("labels",), cache_dir: Optional[Path] = None,
                 calibration: Optional[str] = None, engine_path: Optional[Path] = None):
        if not tensorrt_available():
            raise RailSegError("backend tensorrt: TensorRT or a CUDA GPU is not available on this machine")
        import tensorrt as trt
        import torch

        from ..export import card_digest, export_onnx
        from .onnxruntime_backend import DEFAULT_CACHE

        super().__init__(precision, "cuda", tuple(outputs), card.input_size)
        cache_dir = Path(cache_dir or DEFAULT_CACHE).expanduser()
        cache_dir.mkdir(parents=True, exist_ok=True)
        if engine_path is None:
            key = engine_cache_key(f"{card.name}-{card_digest(card)}-{'+'.join(outputs)}", card.input_size, precision)
            engine_path = cache_dir / f"{card.name}-{key}.engine"
            if not engine_path.exists():
                onnx_path = cache_dir / f"{card.name}-{key}-int32.onnx"
                # TensorRT 8.5 has no uint8 arithmetic: the engine returns int32 labels
                export_onnx(card, onnx_path, outputs, label_dtype="int32")
                frames = None
                if precision == "int8":
                    from ..calibration import calibration_frames

                    frames = calibration_frames(calibration, card)
                build_engine(onnx_path, engine_path, precision, frames)
        self.engine_path = engine_path
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
        if self.engine is None:
            raise RailSegError(f"TensorRT cannot load engine {engine_path} (built by another version or GPU?)")
        self.context = self.engine.create_execution_context()
        self.stream = torch.cuda.Stream()
        self.buffers: Dict[str, torch.Tensor] = {}
        dtypes = {trt.DataType.FLOAT: torch.float32, trt.DataType.HALF: torch.float16,
                  trt.DataType.INT32: torch.int32, trt.DataType.INT8: torch.int8}
        if hasattr(trt.DataType, "UINT8"):
            dtypes[trt.DataType.UINT8] = torch.uint8
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            shape = tuple(self.engine.get_tensor_shape(name))
            tensor = torch.empty(shape, dtype=dtypes[self.engine.get_tensor_dtype(name)], device="cuda")
            self.buffers[name] = tensor
            self.context.set_tensor_address(name, int(tensor.data_ptr()))

    def infer(self, images: np.ndarray) -> Dict[str, np.ndarray]:
        import torch

        with torch.cuda.stream(self.stream):
            source = torch.from_numpy(np.ascontiguousarray(images))
            self.buffers[INPUT_NAME].copy_(source.to(self.buffers[INPUT_NAME].dtype), non_blocking=True)
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise RailSegError(f"TensorRT engine {self.engine_path} failed to run")
            results = {}
            for name in self.outputs:
                out = self.buffers[name]
                results[name] = (out.to(torch.uint8) if name == "labels" else out).cpu().numpy()
        self.stream.synchronize()
        return results
