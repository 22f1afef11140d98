"""TensorRT backend: an engine built by TensorRT's own ONNX parser from the card's graph, kept in the cache.

torch2trt is not used: it is not on the package index, records only the ops it knows (others are frozen
as constants of the sample input) and has been dormant since 2024; the ONNX parser is the one path.

One code path for TensorRT 8.5 (JetPack 5), 10 and 11, gated on what the installed module offers, not
on its version string: the name-based tensor API (``num_io_tensors``, ``set_tensor_address``,
``execute_async_v3``) that all three have; the EXPLICIT_BATCH flag where it still exists; fp16 by the
FP16 builder flag where it exists (8.5, 10; 11 has strongly typed networks and builds fp16 only from an
fp16 graph); int8 always from the symmetric Q/DQ graph (explicit quantisation, which all three build;
the INT8 flag is set where it exists). Before a build the graph is checked (tensorrt_check) so a refusal
shows in seconds, not after minutes. Engines are cached by :func:`~rail_seg_ros.backends.cache.cache_key`
with the TensorRT version and the GPU's compute capability; a cached engine that will not load is
rebuilt once; a timing cache per TensorRT version and GPU makes later builds shorter. GPU buffers and
the stream come from torch, which every Jetson image with TensorRT also carries.
"""

import re
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from ..errors import RailSegError
from ..fileio import atomic_write_bytes
from ..graph_io import INPUT_NAME
from ..model_card import ModelCard
from .base import Backend
from .cache import cache_key, prepare_cache_dir, runtime_digest

WORKSPACE_BYTES = 1 << 30
_CUDA_DEVICE = re.compile(r"^cuda(:(\d+))?$")


def tensorrt_available() -> bool:
    """TensorRT importable and a CUDA GPU usable (a broken CUDA torch raises OSError: that is "no")."""
    try:
        import tensorrt  # noqa: F401
        import torch

        return bool(torch.cuda.is_available())
    except (ImportError, OSError):
        return False


def cuda_index(device: str) -> int:
    """``auto``/``cuda`` -> 0, ``cuda:N`` -> N; TensorRT runs on CUDA devices only."""
    if device == "auto":
        return 0
    match = _CUDA_DEVICE.match(device)
    if not match:
        raise RailSegError(f"backend tensorrt: device {device!r} is not a CUDA device (cuda or cuda:N)")
    return int(match.group(2) or 0)


def runtime_identity(trt, index: int = 0) -> List[str]:
    """What an engine is tied to: TensorRT version and compute capability (AGX and NX Xavier may share a
    name, not always a capability) plus the GPU's name."""
    import torch

    major, minor = torch.cuda.get_device_capability(index)
    return [f"tensorrt{trt.__version__}", f"sm{major}{minor}", torch.cuda.get_device_name(index)]


def builder_flags(trt, precision: str, graph_form: Optional[str]) -> list:
    """The builder flags for ``precision`` on this TensorRT, or a one-line error where it cannot build it.

    ``graph_form``: int8 for a Q/DQ graph, fp16 for an fp16 graph, None for fp32.
    """
    flags = trt.BuilderFlag
    has_fp16, has_int8 = hasattr(flags, "FP16"), hasattr(flags, "INT8")
    if precision == "fp32":
        return []
    if precision == "fp16":
        if has_fp16:
            return [flags.FP16]
        if graph_form == "fp16":  # strongly typed: the graph's types decide
            return []
        raise RailSegError(f"TensorRT {trt.__version__} has no fp16 builder flag (strongly typed networks): "
                           "fp16 needs an fp16 ONNX graph (--onnx FILE); TensorRT 8.5 and 10 build fp16 from "
                           "the fp32 graph; fp32 and int8 (Q/DQ) build on every version")
    if graph_form != "int8":
        raise RailSegError("int8 engines are built from a symmetric Q/DQ graph "
                           "(rail-seg export --precision int8 --check-tensorrt VERSION --out FILE, then --onnx FILE)")
    # FP16 too, so the layers left in float may run in half precision
    return [flag for flag, present in ((getattr(flags, "INT8", None), has_int8),
                                       (getattr(flags, "FP16", None), has_fp16)) if present]


def _network_flags(trt) -> int:
    creation = trt.NetworkDefinitionCreationFlag
    if hasattr(creation, "EXPLICIT_BATCH"):  # required for ONNX before 10, ignored in 10, gone later
        return 1 << int(creation.EXPLICIT_BATCH)
    return 0


def _recording_logger(trt):
    """A TensorRT logger that keeps the errors (so a failed build can say why) and prints warnings."""
    severity = trt.ILogger.Severity

    class RecordingLogger(trt.ILogger):
        def __init__(self):
            trt.ILogger.__init__(self)
            self.errors: List[str] = []

        def log(self, level, message) -> None:
            if level in (severity.INTERNAL_ERROR, severity.ERROR):
                self.errors.append(str(message).strip())
            if level in (severity.INTERNAL_ERROR, severity.ERROR, severity.WARNING):
                print(f"TensorRT: {message}", file=sys.stderr)

    return RecordingLogger()


def timing_cache_path(folder: Path, identity: List[str]) -> Path:
    """One timing cache per TensorRT version and GPU (timings do not carry over between them)."""
    return folder / f"timing-{runtime_digest(identity)}.cache"


def _attach_timing_cache(config, path: Optional[Path]):
    if path is None or not hasattr(config, "create_timing_cache"):
        return None
    cache = config.create_timing_cache(path.read_bytes() if path.exists() else b"")
    if cache is None:  # unreadable: start an empty one (it is only a speed-up)
        cache = config.create_timing_cache(b"")
    config.set_timing_cache(cache, False)
    return cache


def build_engine(onnx_path: Path, engine_path: Path, precision: str, timing_cache: Optional[Path] = None) -> Path:
    """Parse ``onnx_path`` with TensorRT's ONNX parser and serialise an engine to ``engine_path`` (atomically).

    ``timing_cache``: file of kernel timings kept between builds (read if present, written after).
    """
    import tensorrt as trt

    from .tensorrt_check import graph_precision

    logger = _recording_logger(trt)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RailSegError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    for flag in builder_flags(trt, precision, graph_precision(Path(onnx_path))):
        config.set_flag(flag)
    cache = _attach_timing_cache(config, timing_cache)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        reason = "; ".join(logger.errors[-3:]) or "TensorRT logged no error"
        raise RailSegError(f"TensorRT failed to build an engine from {onnx_path} ({precision}): {reason}")
    if cache is not None and timing_cache is not None:
        atomic_write_bytes(timing_cache, bytes(cache.serialize()))
    atomic_write_bytes(engine_path, bytes(serialized))
    return Path(engine_path)


def check_for_tensorrt(onnx_path: Path, trt_version: str, precision: str) -> None:
    """Refuse, before a long build, a graph the installed TensorRT's parser or builder would refuse."""
    from .tensorrt_check import check_graph, target_for_version

    target = target_for_version(trt_version)
    problems = check_graph(onnx_path, target, precision)
    if problems:
        shown = "; ".join(str(p) for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise RailSegError(f"{onnx_path}: TensorRT {target} would refuse {len(problems)} node(s): {shown}{more}")


def load_or_build(engine_path: Path, build: Optional[Callable[[], None]], deserialize: Callable[[bytes], object]):
    """The engine at ``engine_path``, built first if missing; one that will not load is rebuilt once.

    ``build`` None: the engine is the user's file, never rebuilt or overwritten.
    """
    if not engine_path.exists():
        if build is None:
            raise RailSegError(f"TensorRT engine {engine_path}: no such file")
        build()
    engine = _deserialize(deserialize, engine_path)
    if engine is None and build is not None:
        print(f"TensorRT: cached engine {engine_path} does not load; rebuilding it", file=sys.stderr)
        build()
        engine = _deserialize(deserialize, engine_path)
    if engine is None:
        raise RailSegError(f"TensorRT cannot load engine {engine_path} (built by another TensorRT version or GPU, "
                           "or damaged)")
    return engine


def _deserialize(deserialize: Callable[[bytes], object], path: Path):
    try:
        return deserialize(path.read_bytes())
    except Exception:  # TensorRT raises its own types (or returns None) for a bad engine
        return None


class TensorRTBackend(Backend):
    name = "tensorrt"

    def __init__(self, card: ModelCard, precision: str = "fp16", device: str = "cuda",
                 outputs: Tuple[str, ...] = ("labels",), cache_dir: Optional[Path] = None,
                 calibration: Optional[str] = None, engine_path: Optional[Path] = None,
                 onnx_path: Optional[Path] = None):
        if not tensorrt_available():
            raise RailSegError("backend tensorrt: TensorRT or a CUDA GPU is not available on this machine")
        import tensorrt as trt
        import torch

        index = cuda_index(device)
        super().__init__(precision, f"cuda:{index}", tuple(outputs), card.input_size)
        self.index = index
        with torch.cuda.device(index):
            self.runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
            build = None
            if engine_path is None:
                folder = prepare_cache_dir(cache_dir)
                identity = runtime_identity(trt, index)
                key = cache_key(card, self.outputs, precision, calibration, identity, graph_file=onnx_path)
                engine_path = folder / f"{key}.engine"
                timing = timing_cache_path(folder, identity)

                def build() -> None:
                    graph = Path(onnx_path) if onnx_path else self._export(card, folder / f"{key}.onnx", calibration)
                    check_for_tensorrt(graph, trt.__version__, precision)
                    build_engine(graph, engine_path, precision, timing)

            self.engine_path = Path(engine_path)
            self.engine = load_or_build(self.engine_path, build, self.runtime.deserialize_cuda_engine)
            self.context = self.engine.create_execution_context()
            self.stream = torch.cuda.Stream()
            self.buffers = self._bind_buffers(trt, torch)

    def _export(self, card: ModelCard, path: Path, calibration: Optional[str]) -> Path:
        from ..export import export_for_tensorrt

        if path.exists():
            return path
        frames: list = []
        if self.precision == "int8":
            from ..calibration import calibration_frames

            frames = calibration_frames(calibration, card)
        return export_for_tensorrt(card, path, self.outputs, self.precision, frames)

    def _bind_buffers(self, trt, torch) -> dict:
        dtypes = {trt.DataType.FLOAT: torch.float32, trt.DataType.HALF: torch.float16,
                  trt.DataType.INT32: torch.int32, trt.DataType.INT8: torch.int8}
        if hasattr(trt.DataType, "UINT8"):
            dtypes[trt.DataType.UINT8] = torch.uint8
        buffers = {}
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            shape = tuple(self.engine.get_tensor_shape(name))
            tensor = torch.empty(shape, dtype=dtypes[self.engine.get_tensor_dtype(name)], device=self.device)
            buffers[name] = tensor
            self.context.set_tensor_address(name, int(tensor.data_ptr()))
        return buffers

    def infer(self, images: np.ndarray) -> Dict[str, np.ndarray]:
        import torch

        if self.context is None:
            raise RailSegError(f"TensorRT engine {self.engine_path} was closed")
        with torch.cuda.device(self.index), torch.cuda.stream(self.stream):
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

    def close(self) -> None:
        """Release the execution context, the engine and the GPU buffers (safe to call twice)."""
        self.buffers = {}
        self.context = None
        self.engine = None
        self.runtime = None
        try:
            import torch

            torch.cuda.empty_cache()
        except (ImportError, RuntimeError):
            pass
