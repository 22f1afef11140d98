"""The TensorRT backend against stand-in modules with the 8.5, 10 and 11 API surfaces (no GPU, no TensorRT).

What only a Jetson shows (the engine builds, runs and agrees with torch) is in test_tensorrt_gpu below,
which skips without TensorRT and a GPU.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

from backends.fake_tensorrt import ENGINE_MAGIC, make_module
from rail_seg_ros.backends import resolve_backend_name
from rail_seg_ros.backends import tensorrt_backend as backend
from rail_seg_ros.errors import RailSegError

VERSIONS = ("8.5.2.2", "10.3.0", "11.0.0")


def _tiny_onnx(path: Path, qdq: bool = False) -> Path:
    """A two-node float graph, or its Q/DQ form (symmetric int8, zero point 0)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    source = "x"
    if qdq:
        inits += [numpy_helper.from_array(np.array(0.1, np.float32), "s"),
                  numpy_helper.from_array(np.array(0, np.int8), "z")]
        nodes += [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="q"),
                  helper.make_node("DequantizeLinear", ["q", "s", "z"], ["dq"], name="dq")]
        source = "dq"
    nodes.append(helper.make_node("Relu", [source], ["y"], name="relu"))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


@pytest.fixture(params=VERSIONS)
def trt(request, monkeypatch):
    module = make_module(request.param)
    monkeypatch.setitem(sys.modules, "tensorrt", module)
    return module


def _names(flags) -> list:
    return sorted(flag.name for flag in flags)


def test_precision_flags_follow_what_the_module_offers(trt):
    strongly_typed = not hasattr(trt.BuilderFlag, "FP16")
    assert backend.builder_flags(trt, "fp32", None) == []
    assert _names(backend.builder_flags(trt, "int8", "int8")) == ([] if strongly_typed else ["FP16", "INT8"])
    if strongly_typed:  # TensorRT 11: one clear line, not an AttributeError
        with pytest.raises(RailSegError, match="no fp16 builder flag.*8.5 and 10 build fp16"):
            backend.builder_flags(trt, "fp16", None)
        assert backend.builder_flags(trt, "fp16", "fp16") == []
    else:
        assert _names(backend.builder_flags(trt, "fp16", None)) == ["FP16"]
    with pytest.raises(RailSegError, match="int8 engines are built from a symmetric Q/DQ graph"):
        backend.builder_flags(trt, "int8", None)


def test_build_engine_on_each_version(trt, tmp_path):
    fp16_ok = hasattr(trt.BuilderFlag, "FP16")
    graph = _tiny_onnx(tmp_path / "g.onnx")
    engine = backend.build_engine(graph, tmp_path / "e.engine", "fp16" if fp16_ok else "fp32")
    assert engine.read_bytes().startswith(ENGINE_MAGIC)
    build = trt.builds[-1]
    explicit = getattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH", None)
    assert build["network_flags"] == (1 << int(explicit) if explicit is not None else 0)
    assert _names(build["flags"]) == (["FP16"] if fp16_ok else [])


def test_int8_builds_from_the_qdq_graph_on_each_version(trt, tmp_path):
    graph = _tiny_onnx(tmp_path / "qdq.onnx", qdq=True)
    backend.build_engine(graph, tmp_path / "e.engine", "int8")
    assert _names(trt.builds[-1]["flags"]) == (["FP16", "INT8"] if hasattr(trt.BuilderFlag, "INT8") else [])


def test_timing_cache_is_read_and_written(trt, tmp_path):
    graph, timing = _tiny_onnx(tmp_path / "g.onnx"), tmp_path / "timing.cache"
    backend.build_engine(graph, tmp_path / "a.engine", "fp32", timing)
    assert trt.builds[-1]["timing_in"] == b"" and timing.read_bytes() == b"+timing"
    backend.build_engine(graph, tmp_path / "b.engine", "fp32", timing)
    assert trt.builds[-1]["timing_in"] == b"+timing"  # the second build starts from the first's timings


def test_a_failed_build_says_why_and_writes_nothing(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorrt", make_module("10.3.0", fail_build_with="out of memory in tactic X"))
    with pytest.raises(RailSegError, match="failed to build.*out of memory in tactic X"):
        backend.build_engine(_tiny_onnx(tmp_path / "g.onnx"), tmp_path / "e.engine", "fp32")
    assert not (tmp_path / "e.engine").exists()


def test_parse_errors_are_reported(monkeypatch, tmp_path):
    module = make_module("8.5.2.2")
    module.NetworkDefinitionCreationFlag = type("Flags", (), {})  # as if EXPLICIT_BATCH were missing
    monkeypatch.setitem(sys.modules, "tensorrt", module)
    with pytest.raises(RailSegError, match="cannot parse.*explicit batch"):
        backend.build_engine(_tiny_onnx(tmp_path / "g.onnx"), tmp_path / "e.engine", "fp32")


def _deserializer(trt):
    return trt.Runtime(None).deserialize_cuda_engine


def test_a_corrupt_cached_engine_is_rebuilt_once(trt, tmp_path):
    engine = tmp_path / "cached.engine"
    engine.write_bytes(b"truncated")
    builds = []

    def build():
        builds.append(1)
        engine.write_bytes(ENGINE_MAGIC + trt.__version__.encode())

    loaded = backend.load_or_build(engine, build, _deserializer(trt))
    assert loaded.data.startswith(ENGINE_MAGIC) and len(builds) == 1


def test_an_engine_that_never_loads_fails_after_one_rebuild(trt, tmp_path):
    engine = tmp_path / "cached.engine"
    builds = []

    def build():
        builds.append(1)
        engine.write_bytes(b"still broken")

    with pytest.raises(RailSegError, match="cannot load engine"):
        backend.load_or_build(engine, build, _deserializer(trt))
    assert len(builds) == 2  # built because missing, rebuilt once because unloadable, then stop


def test_a_users_engine_is_never_rebuilt_or_overwritten(trt, tmp_path):
    engine = tmp_path / "mine.engine"
    engine.write_bytes(b"built elsewhere")
    with pytest.raises(RailSegError, match="cannot load engine"):
        backend.load_or_build(engine, None, _deserializer(trt))
    assert engine.read_bytes() == b"built elsewhere"


def test_the_graph_is_checked_before_a_build(trt, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    # the old graph order: the uint8 input transposed before its cast
    graph = helper.make_graph(
        [helper.make_node("Transpose", ["image"], ["t"], name="transpose_uint8", perm=[0, 3, 1, 2]),
         helper.make_node("Cast", ["t"], ["y"], name="cast", to=TensorProto.FLOAT)], "g",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, [1, 8, 8, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])])
    path = tmp_path / "old.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(RailSegError, match="transpose_uint8"):
        backend.check_for_tensorrt(path, trt.__version__, "fp32")


def test_tensorrt_available_treats_a_broken_cuda_as_absent(monkeypatch):
    import torch

    monkeypatch.setitem(sys.modules, "tensorrt", make_module("8.5.2.2"))

    def broken():
        raise OSError("libcuda.so.1: cannot open shared object file")

    monkeypatch.setattr(torch.cuda, "is_available", broken)
    assert backend.tensorrt_available() is False
    assert resolve_backend_name("auto", "auto") != "tensorrt"


def test_cuda_device_index():
    assert backend.cuda_index("cuda") == 0 and backend.cuda_index("auto") == 0
    assert backend.cuda_index("cuda:1") == 1
    with pytest.raises(RailSegError, match="not a CUDA device"):
        backend.cuda_index("cpu")


def test_docstring_says_torch2trt_is_not_used():
    assert "torch2trt is not used" in backend.__doc__


@pytest.mark.skipif(not backend.tensorrt_available(), reason="needs TensorRT and a CUDA GPU (run on the Jetson)")
def test_tensorrt_gpu_engine_matches_torch(tmp_path):
    import torch

    from rail_seg_ros.graph import SegmentationGraph
    from rail_seg_ros.model_card import build_network, load_card

    card = load_card("rail_default")
    engine = backend.TensorRTBackend(card, "fp32", "cuda:0", ("labels",), cache_dir=tmp_path)
    frame = np.random.default_rng(0).integers(0, 255, (1, *card.input_size, 3), dtype=np.uint8)
    expected = SegmentationGraph(card, build_network(card)).eval()(torch.from_numpy(frame))[0].numpy()
    assert np.mean(engine.infer(frame)["labels"] == expected) > 0.99
    engine.close()
    engine.close()  # twice is harmless


def test_create_backend_passes_the_cuda_device(monkeypatch):
    from rail_seg_ros.backends import create_backend
    from rail_seg_ros.model_card import load_card

    seen = {}

    class Recorder:
        def __init__(self, card, precision, device, outputs, cache_dir, calibration):
            seen.update(device=device, calibration=calibration)

    monkeypatch.setattr(backend, "tensorrt_available", lambda: True)
    monkeypatch.setattr(backend, "TensorRTBackend", Recorder)
    create_backend(load_card("rail_default"), "tensorrt", "int8", "cuda:1", calibration="bags/sample")
    assert seen == {"device": "cuda:1", "calibration": "bags/sample"}


def test_close_releases_the_engine_and_is_safe_twice():
    engine = backend.TensorRTBackend.__new__(backend.TensorRTBackend)  # no GPU: the state a built one has
    engine.engine, engine.context, engine.runtime = object(), object(), object()
    engine.buffers, engine.engine_path = {"image": object()}, Path("e.engine")
    engine.close()
    engine.close()
    assert engine.engine is None and engine.context is None and engine.buffers == {}
    with pytest.raises(RailSegError, match="was closed"):
        engine.infer(np.zeros((1, 4, 4, 3), np.uint8))
