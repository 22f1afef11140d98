"""ONNX Runtime's TensorRT provider: int8 gets the Q/DQ graph TensorRT builds, engines are kept by content.

No TensorRT here: the provider list is what this onnxruntime would have with it, and the session is
opened on the CPU with the same graph.
"""

from pathlib import Path

import onnxruntime as ort
import pytest

from rail_seg_ros.backends import onnxruntime_backend as ortb
from rail_seg_ros.backends.tensorrt_check import check_graph
from rail_seg_ros.model_card import load_card


@pytest.fixture
def with_tensorrt_provider(monkeypatch):
    """onnxruntime as built with TensorRT; records the providers each session asks for."""
    asked = []
    real_session = ort.InferenceSession

    def session(path, *args, providers=None, **kwargs):
        asked.append(providers)
        return real_session(path, *args, providers=["CPUExecutionProvider"], **kwargs)

    monkeypatch.setattr(ortb, "available_providers",
                        lambda: [ortb.TENSORRT_PROVIDER, "CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(ort, "InferenceSession", session)
    return asked


def test_int8_with_the_tensorrt_provider_runs_the_symmetric_qdq_graph(small_card, tmp_path, with_tensorrt_provider):
    card = load_card(str(small_card))
    backend = ortb.OnnxRuntimeBackend(card, "int8", "cuda", cache_dir=tmp_path)
    assert not check_graph(backend.path, "8.5", "int8") and not check_graph(backend.path, "10", "int8")
    name, options = with_tensorrt_provider[-1][0]
    assert name == ortb.TENSORRT_PROVIDER and options["trt_int8_enable"]
    assert Path(options["trt_engine_cache_path"]).is_dir()
    # the CPU's own int8 form (asymmetric, int32 biases) is a different cached file
    cpu = ortb.prepare_onnx(card, ("labels",), "int8", tmp_path)
    assert cpu != backend.path and check_graph(cpu, "8.5", "int8")


def test_fp16_with_the_tensorrt_provider_is_a_flag_on_the_fp32_graph(small_card, tmp_path, with_tensorrt_provider):
    card = load_card(str(small_card))
    backend = ortb.OnnxRuntimeBackend(card, "fp16", "cuda", cache_dir=tmp_path)
    options = with_tensorrt_provider[-1][0][1]
    assert options["trt_fp16_enable"] and not options["trt_int8_enable"]
    assert backend.path == ortb.prepare_onnx(card, ("labels",), "fp32", tmp_path, for_tensorrt=True)
    assert not check_graph(backend.path, "10", "fp16")


def test_engine_folder_follows_the_graph_content_not_its_file_name(small_card, tmp_path):
    card = load_card(str(small_card))
    graph = tmp_path / "model.onnx"
    graph.write_bytes(b"weights as trained first")
    first = ortb.tensorrt_engine_folder(tmp_path, card, ("labels",), "fp16", None, graph)
    graph.write_bytes(b"weights retrained, same file name")
    assert ortb.tensorrt_engine_folder(tmp_path, card, ("labels",), "fp16", None, graph) != first
