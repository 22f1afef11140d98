"""The sparse head (rail_seg_ros/head.py) against the full upsample + argmax: random logits with ties and
one-class frames, and the reference frame through ONNX Runtime for SqueezeNAS and Fast-SCNN; every test
for both implementations (the compiled loop and the numpy fallback)."""

from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import shared_path, write_small_card
from test_head_compiled import blocky_logits

from rail_seg_ros import head
from rail_seg_ros.backends.onnxruntime_backend import OnnxRuntimeBackend
from rail_seg_ros.head import LOW_LABELS, LOW_LOGITS, content_extent, sparse_confidence, sparse_labels
from rail_seg_ros.model_card import card_for_architecture, load_card
from rail_seg_ros.pipeline import DIRECT_PIXELS_PER_CELL, Segmenter

CAMERA = (1080, 1920)
EXACT_ENOUGH = 0.99999  # float ties only


@pytest.fixture(autouse=True, params=["compiled", "numpy"])
def implementation(request, monkeypatch):
    """Runs each test with the compiled loop and with the numpy fallback as sparse_labels' default."""
    if request.param == "compiled" and head._compiled is None:
        pytest.skip("the compiled sparse head is not built here (test_head_compiled.py says why)")
    monkeypatch.setattr(head, "COMPILED", request.param == "compiled")
    return request.param


def full_head(logits: np.ndarray, size) -> np.ndarray:
    """What the networks' last resize and the graph's argmax give."""
    up = F.interpolate(torch.from_numpy(logits)[None], size=size, mode="bilinear", align_corners=True)
    return up[0].argmax(dim=0).numpy().astype(np.uint8)


@pytest.mark.parametrize("low,out", [((32, 64), (256, 512)), ((32, 64), CAMERA), ((17, 23), (100, 77)),
                                     ((5, 7), (5, 7)), ((1, 9), (4, 40)), ((12, 20), (12, 20))])
def test_random_logits_match_the_full_head(low, out):
    rng = np.random.default_rng(sum(low) + sum(out))
    logits = blocky_logits(rng, 19, *low)
    labels = sparse_labels(logits, out)
    assert labels.shape == out and labels.dtype == np.uint8
    assert (labels == full_head(logits, out)).mean() >= EXACT_ENOUGH


def test_ties_are_broken_like_argmax():
    rng = np.random.default_rng(3)
    # small integer logits: exact ties between classes at corners and inside cells
    logits = rng.integers(0, 3, size=(5, 24, 40)).astype(np.float32)
    logits = np.repeat(np.repeat(logits[:, ::3, ::4], 3, axis=1), 4, axis=2)
    out = (96, 160)
    assert (sparse_labels(logits, out) == full_head(logits, out)).mean() >= 0.9999
    equal = np.zeros((19, 8, 8), np.float32)  # every class tied everywhere: argmax takes the first
    assert (sparse_labels(equal, CAMERA) == 0).all()


@pytest.mark.parametrize("winner", [0, 7, 18])
def test_one_class_frames(winner):
    rng = np.random.default_rng(winner)
    logits = rng.normal(size=(19, 16, 32)).astype(np.float32)
    logits[winner] += 100.0
    labels = sparse_labels(logits, CAMERA)
    assert (labels == winner).all()
    assert (sparse_labels(logits, (64, 128), low_labels=np.full((16, 32), winner, np.uint8)) == winner).all()


def test_fit_cuts_the_padding_before_sampling():
    """Labels of the content only, sampled from the low-resolution logits, equal the full head cropped."""
    rng = np.random.default_rng(5)
    model, content, low = (128, 256), (128, 228), (16, 32)
    logits = blocky_logits(rng, 19, *low, block=3)
    extent = tuple(content_extent(lo, m, c) for lo, m, c in zip(low, model, content))
    cropped = full_head(logits, model)[: content[0], : content[1]]
    assert (sparse_labels(logits, content, extent) == cropped).mean() >= EXACT_ENOUGH
    padded_too = sparse_labels(logits, content)  # sampling the whole map instead stretches the padding in
    assert (padded_too == cropped).mean() < (sparse_labels(logits, content, extent) == cropped).mean()


def test_confidence_is_exact_at_the_grid_points_and_close_between():
    rng = np.random.default_rng(6)
    logits = blocky_logits(rng, 19, 16, 32, block=4, noise=0.05)
    out = (151, 311)  # (16 - 1) * 10 + 1: every 10th output row and column is a grid point
    up = F.interpolate(torch.from_numpy(logits)[None], size=out, mode="bilinear", align_corners=True)[0]
    exact = torch.round(255.0 / torch.exp(up - up.amax(dim=0)).sum(dim=0)).numpy()
    approx = sparse_confidence(logits, out).astype(np.float64)
    assert np.abs(approx[::10, ::10] - exact[::10, ::10]).max() <= 1
    assert np.abs(approx - exact).mean() < 5.0


# ---- the reference frame through ONNX Runtime ---------------------------------------------------------

def _ort_pair(card, cache_dir):
    sparse = OnnxRuntimeBackend(card, "fp32", "cpu", ("labels",), cache_dir)
    full = OnnxRuntimeBackend(card, "fp32", "cpu", ("labels",), cache_dir, head="full")
    assert sparse.low_resolution and not full.low_resolution
    return sparse, full


def _check_reference_frame(card, frame, cache_dir):
    sparse, full = _ort_pair(card, cache_dir)
    batch = frame[None]
    expected = full.infer(batch)["labels"][0]
    raw = sparse.run_graph(batch)
    logits, low_labels = raw[LOW_LOGITS][0], raw[LOW_LABELS][0]
    assert (low_labels == logits.argmax(axis=0)).all()
    at_network = sparse.infer(batch)["labels"][0]
    assert at_network.shape == expected.shape == card.input_size
    assert (at_network == expected).mean() >= EXACT_ENOUGH
    assert len(np.unique(expected)) > 3  # a real scene, not one class
    at_camera = sparse_labels(logits, CAMERA, low_labels=low_labels)
    assert (at_camera == full_head(logits, CAMERA)).mean() >= EXACT_ENOUGH


def test_squeezenas_reference_frame(reference_input, cache_dir):
    weights = shared_path("squeezenas", "weights", "lat_small.pth")
    card = replace(card_for_architecture("squeezenas_lat_small", input_size=(1024, 2048)), weights=str(weights),
                   name="lat_small_reference")
    _check_reference_frame(card, reference_input, cache_dir)


def test_fast_scnn_reference_frame(reference_input, cache_dir, tmp_path):
    # no public Fast-SCNN weights here: seeded ones with spread-out BN statistics (varied labels)
    card = load_card(str(write_small_card(tmp_path, "fast_scnn", "cityscapes", size=(1024, 2048), seed=1)))
    _check_reference_frame(card, reference_input, cache_dir)


def test_pipeline_labels_at_the_frame_resolution(small_card, cache_dir):
    card = load_card(str(small_card))
    segmenter = Segmenter(card, OnnxRuntimeBackend(card, "fp32", "cpu", ("labels", "confidence"), cache_dir))
    rng = np.random.default_rng(7)
    for frame_size in [(240, 480), CAMERA]:
        frame = rng.integers(0, 256, frame_size + (3,), dtype=np.uint8)
        result = segmenter.process(frame)
        assert result.labels.shape == result.confidence.shape == frame_size
        assert result.color.shape == result.overlay.shape == frame_size + (3,)
        batch, _ = segmenter.preprocess(frame)
        logits = segmenter.backend.run_graph(batch)[LOW_LOGITS][0]
        cells = logits.shape[1] * logits.shape[2]
        if frame_size[0] * frame_size[1] <= DIRECT_PIXELS_PER_CELL * cells:  # sampled straight at the frame's size
            expected = full_head(logits, frame_size)
        else:  # mixed cells too large: at the network's size, then nearest neighbour
            expected = cv2.resize(full_head(logits, card.input_size), frame_size[::-1], interpolation=cv2.INTER_NEAREST)
        assert (result.labels == expected).mean() >= EXACT_ENOUGH, frame_size
    model = Segmenter(card, segmenter.backend, output_resolution="model").process(frame)
    assert model.labels.shape == card.input_size
