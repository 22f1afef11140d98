"""The compiled sparse head (rail_seg_ros/_sparse_head.c) against the numpy fallback, torch-free (also
run under Python 3.8, the Jetson's): built by the install, the same labels, its buffers checked."""

import numpy as np
import pytest

from rail_seg_ros import head
from rail_seg_ros.head import sparse_labels


def blocky_logits(rng, channels: int, height: int, width: int, block: int = 6, noise: float = 0.2) -> np.ndarray:
    """Smooth-ish class regions (like a network's) with noise, so cells are mostly uniform, some mixed."""
    coarse = rng.normal(size=(channels, height // block + 1, width // block + 1)).astype(np.float32)
    logits = np.repeat(np.repeat(coarse, block, axis=1), block, axis=2)[:, :height, :width]
    return np.ascontiguousarray(logits + noise * rng.normal(size=logits.shape).astype(np.float32))


def test_the_compiled_loop_is_built():
    """The package's install (pip install -e ., make setup) builds rail_seg_ros/_sparse_head.c."""
    assert head._compiled is not None, ("rail_seg_ros._sparse_head is missing: the install did not compile it "
                                        "(a C compiler and the Python headers are needed; pip install -v -e . shows why)")


def test_both_implementations_give_the_same_labels():
    rng = np.random.default_rng(11)
    if head._compiled is None:
        pytest.skip("the compiled sparse head is not built here")
    for trial in range(40):  # small integer logits: ties everywhere; odd sizes, one-row and one-column maps
        channels, low_h, low_w = (int(v) for v in rng.integers(1, 20, size=3))
        logits = rng.integers(-2, 3, size=(channels, low_h, low_w)).astype(np.float32)
        out = tuple(int(v) for v in rng.integers(1, 60, size=2))
        extent = (low_h - 1) * float(rng.uniform(0.5, 1.0)), (low_w - 1) * float(rng.uniform(0.5, 1.0))
        compiled = sparse_labels(logits, out, extent, compiled=True)
        assert (compiled == sparse_labels(logits, out, extent, compiled=False)).all(), (trial, logits.shape, out)
    logits = blocky_logits(rng, 19, 128, 256)
    camera = (1080, 1920)
    assert (sparse_labels(logits, camera, compiled=True) == sparse_labels(logits, camera, compiled=False)).all()


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_any_number_of_threads_gives_the_same_labels(threads, monkeypatch):
    """Bands of output rows start where the cell row changes, so threads never share a cell."""
    if head._compiled is None:
        pytest.skip("the compiled sparse head is not built here")
    rng = np.random.default_rng(threads)
    for low, out in (((128, 256), (1080, 1920)), ((3, 5), (7, 9)), ((2, 40), (200, 33)), ((36, 64), (288, 512))):
        logits = blocky_logits(rng, 19, *low)
        monkeypatch.setattr(head, "THREADS", 1)
        one = sparse_labels(logits, out, compiled=True)
        monkeypatch.setattr(head, "THREADS", threads)
        assert (sparse_labels(logits, out, compiled=True) == one).all(), (threads, low, out)
        assert (one == sparse_labels(logits, out, compiled=False)).all()


def test_the_compiled_loop_checks_its_buffers():
    if head._compiled is None:
        pytest.skip("the compiled sparse head is not built here")
    logits, low = np.zeros((2, 2, 2), np.float32), np.zeros((2, 2), np.uint8)
    rows, cols = np.array([0, 1, 5]), np.array([0, 1, 1])  # row index 5 of a 2-row map
    weights, out = np.zeros(3, np.float32), np.zeros((3, 3), np.uint8)
    with pytest.raises(ValueError, match="y0"):
        head._compiled.labels(logits, low, rows, weights, cols, weights, out, 2, 2, 2)
    with pytest.raises(ValueError, match="logits"):
        head._compiled.labels(logits[:1], low, cols, weights, cols, weights, out, 2, 2, 2)
