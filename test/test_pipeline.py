"""The core pipeline and its backends: sizes, resize policies, outputs, and backends agreeing."""

import cv2
import numpy as np
import pytest
from conftest import shared_path, write_small_card

from rail_seg_ros.backends import create_backend, resolve_backend_name
from rail_seg_ros.contract import PIPELINE_STAGES
from rail_seg_ros.errors import RailSegError
from rail_seg_ros.model_card import load_card
from rail_seg_ros.pipeline import ResizePlan, Segmenter


def test_resize_plans():
    assert ResizePlan.make((1080, 1920), (128, 256), "stretch").content == (128, 256)
    fit = ResizePlan.make((1080, 1920), (128, 256), "fit")
    assert fit.content == (128, 228)  # 1920/1080 keeps its aspect inside 128x256
    assert ResizePlan.make((1000, 500), (128, 256), "fit").content == (128, 64)


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_camera_frame_comes_back_at_its_own_resolution(backend, small_card, cache_dir, frame):
    card = load_card(str(small_card))
    segmenter = Segmenter(card, create_backend(card, backend, cache_dir=cache_dir, outputs=("labels", "confidence")))
    result = segmenter.process(frame)
    assert result.labels.shape == (1080, 1920) and result.labels.dtype == np.uint8
    assert result.labels.max() < 19
    assert result.color.shape == result.overlay.shape == (1080, 1920, 3)
    assert np.array_equal(result.color, card.labels.palette[result.labels])
    expected_overlay = cv2.addWeighted(frame, 0.5, result.color, 0.5, 0)
    assert np.array_equal(result.overlay, expected_overlay)
    assert result.confidence.shape == (1080, 1920) and result.confidence.min() >= 255 // 19
    assert set(result.timings_ms) == set(PIPELINE_STAGES)


def test_model_resolution_output(small_card, cache_dir, frame):
    card = load_card(str(small_card))
    segmenter = Segmenter(card, create_backend(card, "torch"), output_resolution="model")
    result = segmenter.process(frame)
    assert result.labels.shape == (128, 256) and result.overlay.shape == (128, 256, 3)


@pytest.mark.needs_torch
def test_fit_pads_and_crops_back(tmp_path, frame):
    card = load_card(str(write_small_card(tmp_path, resize="fit")))
    segmenter = Segmenter(card, create_backend(card, "torch"), output_resolution="model")
    batch, plan = segmenter.preprocess(frame)
    assert batch.shape == (1, 128, 256, 3) and plan.content == (128, 228)
    mean_rgb = np.round(np.asarray(card.mean) * 255).astype(np.uint8)
    assert (batch[0, :, 228:] == mean_rgb).all()  # padding normalises to zero
    assert segmenter.process(frame).labels.shape == (128, 228)
    assert Segmenter(card, segmenter.backend).process(frame).labels.shape == (1080, 1920)


@pytest.mark.needs_torch
def test_bilinear_upsampling_of_logits(reference_input):
    weights = str(shared_path("squeezenas", "weights", "mac_small.pth"))
    card = load_card("squeezenas_mac_small_cityscapes", weights=weights, input_size=(256, 512))
    frame = cv2.resize(reference_input, (1000, 500), interpolation=cv2.INTER_AREA)
    nearest = Segmenter(card, create_backend(card, "torch", outputs=("labels", "logits")))
    bilinear = Segmenter(card, nearest.backend, upsampling="bilinear")
    a, b = nearest.process(frame).labels, bilinear.process(frame).labels
    assert a.shape == b.shape == (500, 1000)
    assert 0.9 < (a == b).mean() < 1.0  # the same classes, with smoother borders
    with pytest.raises(RailSegError, match="logits"):
        Segmenter(card, create_backend(card, "torch"), upsampling="bilinear")


def test_size_change_mid_stream(small_card, frame):
    segmenter = Segmenter.from_options(str(small_card), backend="torch")
    assert segmenter.process(frame).labels.shape == (1080, 1920)
    assert segmenter.process(frame[:480, :640]).labels.shape == (480, 640)


def test_bad_frames_are_refused(small_card):
    segmenter = Segmenter.from_options(str(small_card), backend="torch")
    with pytest.raises(RailSegError, match="expected H x W x 3 uint8"):
        segmenter.process(np.zeros((100, 100), np.uint8))
    with pytest.raises(RailSegError, match="smaller than"):
        segmenter.process(np.zeros((10, 300, 3), np.uint8))


@pytest.mark.needs_torch
def test_onnxruntime_agrees_with_torch(tmp_path, cache_dir, frame):
    card = load_card(str(write_small_card(tmp_path, architecture="fast_scnn", size=(128, 256), seed=2)))
    torch_labels = Segmenter(card, create_backend(card, "torch")).process(frame).labels
    ort_labels = Segmenter(card, create_backend(card, "onnxruntime", cache_dir=cache_dir)).process(frame).labels
    assert (torch_labels == ort_labels).mean() >= 0.999


def test_auto_picks_onnxruntime_on_a_cpu_machine():
    pytest.importorskip("onnxruntime")
    from rail_seg_ros.backends.tensorrt_backend import tensorrt_available

    expected = "tensorrt" if tensorrt_available() else "onnxruntime"
    assert resolve_backend_name("auto") == expected
    assert resolve_backend_name("auto", device="cpu") == "onnxruntime"


def test_unknown_backend_and_precision(small_card):
    card = load_card(str(small_card))
    with pytest.raises(RailSegError, match="backend 'tvm'"):
        create_backend(card, "tvm")
    with pytest.raises(RailSegError, match="precision"):
        create_backend(card, "torch", "fp8")
    with pytest.raises(RailSegError, match="int8"):
        create_backend(card, "torch", "int8")


@pytest.mark.needs_torch
def test_int8_agrees_with_fp32_on_the_reference_input(reference_input, cache_dir):
    """Issue 3: int8 onnxruntime agrees with fp32 on >= 97 % of the reference input's pixels."""
    weights = str(shared_path("squeezenas", "weights", "lat_small.pth"))
    card = load_card("squeezenas_lat_small_cityscapes", weights=weights)
    fp32 = Segmenter(card, create_backend(card, "onnxruntime", "fp32", cache_dir=cache_dir)).process(reference_input)
    int8 = Segmenter(card, create_backend(card, "onnxruntime", "int8", cache_dir=cache_dir)).process(reference_input)
    assert (fp32.labels == int8.labels).mean() >= 0.97


def test_tensorrt_backend_agrees_with_torch(small_card, cache_dir, frame):
    from rail_seg_ros.backends.tensorrt_backend import tensorrt_available

    if not tensorrt_available():
        pytest.skip("TensorRT and a CUDA GPU are not available")
    card = load_card(str(small_card))
    reference = Segmenter(card, create_backend(card, "torch", device="cpu")).process(frame).labels
    for precision in ("fp32", "fp16"):
        engine = Segmenter(card, create_backend(card, "tensorrt", precision, cache_dir=cache_dir))
        assert (engine.process(frame).labels == reference).mean() >= 0.99
