"""The exact sparse head: class ids at any output size straight from the network's low-resolution logits.

The networks end with a bilinear resize of C logit planes (align_corners=True) and an argmax. A bilinearly
interpolated logit vector is a convex combination of its cell's four low-resolution corners, so where
all four corners share one argmax the interpolated vector has it too (every pairwise difference is a
non-negative combination of non-negative differences). Only pixels of *mixed* cells are interpolated, and
there only the classes that can win: class c can be the argmax inside a cell only if its largest corner
value reaches the largest corner-minimum of any class (a class never falls below its smallest corner).
The labels equal a full upsample + argmax but for float ties (1 pixel of 2,097,152 on the reference frame).

The same rule samples any output grid, so labels come straight at the camera's resolution (one
resampling instead of a resize to the network's size and another to the camera's).

Sample positions follow torch's ``interpolate(..., align_corners=True)`` in float32: output pixel ``o``
of ``n`` reads source position ``o * extent / (n - 1)``. ``extent`` is ``size - 1`` for the whole map;
``resize: fit`` gives a smaller one, so the padding is cut away before sampling (``content_extent``).

Per frame only the mixed pixels (2-25 % of them at stride 8) times the classes that can win there (~2-3)
are interpolated: by a small C loop (``_sparse_head.c``, built by the package's install; a few ms at
1080x1920) or, where it was not built, by numpy one cell row at a time (5-10x slower).
Confidence (largest softmax probability) is computed exactly at the low-resolution grid
points and bilinearly interpolated between them (an approximation, see :func:`sparse_confidence`).
"""

import os
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

try:  # the C loop, built by the package's install (setup.py); numpy does the same where it is absent
    from . import _sparse_head as _compiled
except ImportError:
    _compiled = None

# whether sparse_labels uses the compiled loop by default
COMPILED = _compiled is not None
# threads of the compiled loop: it runs between inferences, when the runtime's threads are idle
THREADS = max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)))

# names of the low-resolution graph's outputs (graph.LowResolutionGraph exports them)
LOW_LOGITS = "low_logits"
LOW_LABELS = "low_labels"
LOW_RESOLUTION_OUTPUTS = (LOW_LOGITS, LOW_LABELS)

# Where the labels are computed: auto (the sparse head on the CPU, the graph's own full head on a GPU),
# sparse (this module), full (upsampling and argmax inside the graph).
HEADS = ("auto", "sparse", "full")


def content_extent(low_size: int, model_size: int, content_size: int) -> float:
    """Source extent, in low-resolution pixels, of the first ``content_size`` of ``model_size`` model pixels.

    The network's resize maps model pixel ``p`` to ``p * (low_size - 1) / (model_size - 1)``; the last
    content pixel ``content_size - 1`` is where the output grid must end (``resize: fit`` pads after it).
    """
    if model_size <= 1:
        return 0.0
    return (content_size - 1) * (low_size - 1) / (model_size - 1)


def sample_axis(out_size: int, low_size: int, extent: Optional[float] = None) -> Tuple[np.ndarray, np.ndarray,
                                                                                      np.ndarray]:
    """Per output index along one axis: the lower source index, the upper one and the upper one's weight.

    float32 as torch computes it (scale = extent / (out - 1); src = scale * o; i0 = floor(src)).
    """
    extent = float(low_size - 1) if extent is None else float(extent)
    scale = np.float32(extent / (out_size - 1)) if out_size > 1 else np.float32(0.0)
    src = np.arange(out_size, dtype=np.float32) * scale
    lower = np.minimum(src.astype(np.int64), low_size - 1)
    upper = np.minimum(lower + 1, low_size - 1)
    weight = (src - lower.astype(np.float32)).astype(np.float32)
    weight[upper == lower] = 0.0  # the last row or column: torch reads it with weight 1
    return lower, upper, weight


def _uniform_cells(low_labels: np.ndarray) -> np.ndarray:
    """h x w bool: cell (i, j) (corners i..i+1, j..j+1, the last row and column repeated) has one label."""
    padded = np.pad(low_labels, ((0, 1), (0, 1)), mode="edge")
    top_left = padded[:-1, :-1]
    return (top_left == padded[:-1, 1:]) & (top_left == padded[1:, :-1]) & (top_left == padded[1:, 1:])


def mixed_share(low_labels: np.ndarray) -> float:
    """The share of low-resolution cells whose corners disagree: what the sparse head's cost grows with."""
    return float(1.0 - _uniform_cells(np.asarray(low_labels, dtype=np.uint8)).mean())


def sparse_labels(logits: np.ndarray, out_size: Tuple[int, int], extent: Optional[Tuple[float, float]] = None,
                  low_labels: Optional[np.ndarray] = None, compiled: Optional[bool] = None) -> np.ndarray:
    """C x h x w float logits -> H x W uint8 class ids of their bilinear (align_corners) upsampling's argmax.

    ``extent`` (rows, columns) in low-resolution pixels: the part of the map the output covers (default the
    whole map; see :func:`content_extent`). ``low_labels``: the logits' argmax, if the graph computed it.
    ``compiled``: the C loop (default where it was built) or numpy; both give the same labels.
    """
    channels, low_h, low_w = logits.shape
    height, width = out_size
    extent_y, extent_x = extent if extent is not None else (low_h - 1, low_w - 1)
    y0, _, wy = sample_axis(height, low_h, extent_y)  # the upper neighbours are the cells' corners below
    x0, x1, wx = sample_axis(width, low_w, extent_x)
    if low_labels is None:
        low_labels = logits.argmax(axis=0)
    low_labels = np.ascontiguousarray(low_labels, dtype=np.uint8)
    use_compiled = COMPILED if compiled is None else compiled
    if use_compiled:
        if _compiled is None:
            raise RuntimeError("the compiled sparse head is not built (pip install -e . builds it)")
        labels = np.empty((height, width), np.uint8)
        _compiled.labels(np.ascontiguousarray(logits, dtype=np.float32), low_labels, y0, wy, x0, wx, labels,
                         channels, low_h, low_w, THREADS)
        return labels
    return _numpy_labels(logits, low_labels, (y0, wy), (x0, x1, wx))


def _numpy_labels(logits: np.ndarray, low_labels: np.ndarray, rows: Tuple[np.ndarray, ...],
                  cols: Tuple[np.ndarray, ...]) -> np.ndarray:
    """The numpy fallback: one cell row at a time, the mixed pixels of its output rows at once.

    Per cell row only the classes that can win in one of its mixed cells are interpolated (more than per
    cell, but whole rows vectorise): a class that cannot win stays below the winner, so the argmax and its
    first-index pick on ties are those of all classes.
    """
    (y0, wy), (x0, x1, wx) = rows, cols
    low_h = low_labels.shape[0]
    mixed = ~_uniform_cells(low_labels)
    # every pixel first gets its cell's top-left label: right wherever the cell is uniform
    # (np.take: several times faster than fancy indexing for these gathers)
    labels = np.take(np.take(low_labels, x0, axis=1), y0, axis=0)
    if not mixed.any():
        return labels
    padded = np.pad(logits, ((0, 0), (0, 1), (0, 1)), mode="edge")
    corners = np.stack([padded[:, :-1, :-1], padded[:, :-1, 1:], padded[:, 1:, :-1], padded[:, 1:, 1:]])
    floor = corners.min(axis=0).max(axis=0)  # h x w: the winner's value is at least this in the cell
    row_classes = ((corners.max(axis=0) >= floor) & mixed).any(axis=2)  # C x h
    first = np.searchsorted(y0, np.arange(low_h), side="left")
    last = np.searchsorted(y0, np.arange(low_h), side="right")
    mixed_columns = mixed[:, x0]  # h x W: output columns in mixed cells, per cell row
    wx0 = np.float32(1) - wx
    for i in np.flatnonzero(mixed.any(axis=1) & (last > first)):
        columns = np.flatnonzero(mixed_columns[i])
        classes = np.flatnonzero(row_classes[:, i])
        left, right, cx0, cx1 = x0[columns], x1[columns], wx0[columns], wx[columns]
        upper, lower = logits[classes, i], logits[classes, min(i + 1, low_h - 1)]  # m x w
        # torch's order of operations: columns inner, rows outer
        top = upper[:, left] * cx0 + upper[:, right] * cx1
        bottom = lower[:, left] * cx0 + lower[:, right] * cx1
        y1 = wy[first[i]:last[i], None, None]
        value = top * (np.float32(1) - y1) + bottom * y1  # rows x m x columns
        labels[first[i]:last[i], columns] = classes[value.argmax(axis=1)]
    return labels


def low_resolution_confidence(logits: np.ndarray) -> np.ndarray:
    """h x w float32: the largest softmax probability at each low-resolution grid point (exact there)."""
    top = logits.max(axis=0, keepdims=True)
    return (1.0 / np.exp(logits - top).sum(axis=0)).astype(np.float32)


def bilinear(plane: np.ndarray, out_size: Tuple[int, int], extent: Optional[Tuple[float, float]] = None) -> np.ndarray:
    """One h x w float plane resized like the networks' final resize (align_corners), separably."""
    low_h, low_w = plane.shape
    extent_y, extent_x = extent if extent is not None else (low_h - 1, low_w - 1)
    y0, y1, wy = sample_axis(out_size[0], low_h, extent_y)
    x0, x1, wx = sample_axis(out_size[1], low_w, extent_x)
    columns = plane[:, x0] * (np.float32(1) - wx) + plane[:, x1] * wx  # h x W
    return columns[y0] * (np.float32(1) - wy)[:, None] + columns[y1] * wy[:, None]


def sparse_confidence(logits: np.ndarray, out_size: Tuple[int, int],
                      extent: Optional[Tuple[float, float]] = None) -> np.ndarray:
    """H x W uint8 confidence x 255: exact at the low-resolution grid points, bilinear between them.

    The full head takes the softmax of interpolated logits instead; the two differ most across class
    borders, where the interpolated logits' maximum dips (the full head's confidence is lower there).
    """
    confidence = bilinear(low_resolution_confidence(logits), out_size, extent)
    return np.round(confidence * 255.0).astype(np.uint8)


def head_outputs(raw: Dict[str, np.ndarray], outputs: Sequence[str], out_size: Tuple[int, int],
                 extent: Optional[Tuple[float, float]] = None) -> Dict[str, np.ndarray]:
    """The low-resolution graph's outputs (N frames) -> ``labels`` / ``confidence`` (N x H x W uint8)."""
    logits, low_labels = raw[LOW_LOGITS], raw.get(LOW_LABELS)
    results: Dict[str, np.ndarray] = {}
    if "labels" in outputs:
        results["labels"] = np.stack([
            sparse_labels(logits[i], out_size, extent, None if low_labels is None else low_labels[i])
            for i in range(logits.shape[0])])
    if "confidence" in outputs:
        results["confidence"] = np.stack([sparse_confidence(logits[i], out_size, extent)
                                          for i in range(logits.shape[0])])
    return results
