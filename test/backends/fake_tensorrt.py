"""A stand-in ``tensorrt`` module with the API surfaces of TensorRT 8.5, 10 and 11 (no GPU needed).

Only what rail_seg_ros's backend touches, with each version's differences as the Python bindings have
them: 8.5 needs EXPLICIT_BATCH for ONNX; 10 still has the flag (ignored) and the FP16/INT8 builder flags;
11 has neither (strongly typed networks). Engines are bytes starting with ENGINE_MAGIC.
"""

import enum
import types
from typing import List, Optional

ENGINE_MAGIC = b"FAKE-ENGINE:"


class Severity(enum.IntEnum):
    INTERNAL_ERROR = 0
    ERROR = 1
    WARNING = 2
    INFO = 3
    VERBOSE = 4


def make_module(version: str, fail_build_with: Optional[str] = None) -> types.ModuleType:
    """A fake tensorrt of ``version`` ("8.5.2.2", "10.3.0", "11.0.0"); ``fail_build_with``: the builder
    logs this error and returns None."""
    major = int(version.split(".")[0])
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.builds: List[dict] = []

    class ILogger:
        Severity = Severity

        def __init__(self):
            pass

    class Logger(ILogger):
        WARNING = Severity.WARNING

        def __init__(self, severity=Severity.WARNING):
            super().__init__()

        def log(self, level, message):
            pass

    creation_flags = {"EXPLICIT_BATCH": 0} if major < 11 else {}
    if major >= 10:
        creation_flags["STRONGLY_TYPED"] = 1
    builder_flags = {"FP16": 0, "INT8": 1, "REFIT": 2} if major < 11 else {"REFIT": 2}
    trt.NetworkDefinitionCreationFlag = enum.IntEnum("NetworkDefinitionCreationFlag", creation_flags)
    trt.BuilderFlag = enum.IntEnum("BuilderFlag", builder_flags)
    trt.MemoryPoolType = enum.IntEnum("MemoryPoolType", {"WORKSPACE": 0})
    trt.DataType = enum.IntEnum("DataType", {"FLOAT": 0, "HALF": 1, "INT8": 2, "INT32": 3, "UINT8": 4})

    class Network:
        def __init__(self, flags: int):
            self.flags = flags

    class TimingCache:
        def __init__(self, data: bytes):
            self.data = bytes(data)

        def serialize(self) -> bytes:
            return self.data + b"+timing"

    class Config:
        def __init__(self):
            self.flags: List = []
            self.timing: Optional[TimingCache] = None

        def set_memory_pool_limit(self, pool, size):
            self.workspace = size

        def set_flag(self, flag):
            self.flags.append(flag)

        def create_timing_cache(self, data: bytes):
            return TimingCache(data)

        def set_timing_cache(self, cache, ignore_mismatch):
            self.timing = cache
            return True

        def get_timing_cache(self):
            return self.timing

    class Builder:
        def __init__(self, logger):
            self.logger = logger

        def create_network(self, flags: int = 0):
            return Network(flags)

        def create_builder_config(self):
            return Config()

        def build_serialized_network(self, network, config):
            trt.builds.append({"network_flags": network.flags, "flags": list(config.flags),
                               "timing_in": config.timing.data if config.timing else None})
            if fail_build_with:
                self.logger.log(Severity.ERROR, fail_build_with)
                return None
            return ENGINE_MAGIC + version.encode()

    class OnnxParser:
        def __init__(self, network, logger):
            self.network = network
            self.errors: List[str] = []

        def parse(self, data: bytes) -> bool:
            explicit = getattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH", None)
            if major < 10 and (explicit is None or not self.network.flags & (1 << int(explicit))):
                self.errors.append("Network must have explicit batch dimension for ONNX")
            return not self.errors

        @property
        def num_errors(self) -> int:
            return len(self.errors)

        def get_error(self, i: int) -> str:
            return self.errors[i]

    class Runtime:
        def __init__(self, logger):
            self.logger = logger

        def deserialize_cuda_engine(self, data: bytes):
            if not data.startswith(ENGINE_MAGIC + version.encode()):
                return None
            return types.SimpleNamespace(data=data)

    trt.ILogger, trt.Logger, trt.Builder, trt.OnnxParser, trt.Runtime = ILogger, Logger, Builder, OnnxParser, Runtime
    if major < 11:  # calibrators: deprecated in 10, gone in 11 (rail_seg_ros does not use them)
        trt.IInt8EntropyCalibrator2 = type("IInt8EntropyCalibrator2", (), {})
    return trt
