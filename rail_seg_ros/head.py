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

Pure numpy: per frame only the mixed pixels (~10 % at stride 8) times the surviving classes (~2-3) are
interpolated. Confidence (largest softmax probability) is computed exactly at the low-resolution grid
points and bilinearly interpolated between them (an approximation, see :func:`sparse_confidence`).
"""

from typing import Dict, Optional, Sequence, Tuple

import numpy as np

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


def _candidates(flat_logits: np.ndarray, corners: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For K mixed cells: the classes that can win there (ascending, padded by repeats) and their corners.

    ``corners`` is 4 x K flat indices (top-left, top-right, bottom-left, bottom-right). Returns classes
    (K x M), values (K x 4 x M) and the number of candidates per cell (K), M the largest of them.
    Cells are the leading axis so that gathering them per pixel copies contiguous rows.
    """
    values = np.ascontiguousarray(flat_logits[:, corners].transpose(2, 1, 0))  # K x 4 x C
    floor = values.min(axis=1).max(axis=1)  # K: the winner's value is at least this everywhere in the cell
    possible = values.max(axis=1) >= floor[:, None]  # K x C
    count = possible.sum(axis=1)
    order = np.argsort(~possible, axis=1, kind="stable")[:, : int(count.max())]  # candidates first, ascending
    padding = np.arange(order.shape[1])[None, :] >= count[:, None]
    order = np.where(padding, order[:, :1], order)  # a repeat never changes argmax's first-index pick
    return order, np.ascontiguousarray(np.take_along_axis(values, order[:, None, :], axis=2)), count


def sparse_labels(logits: np.ndarray, out_size: Tuple[int, int], extent: Optional[Tuple[float, float]] = None,
                  low_labels: Optional[np.ndarray] = None) -> np.ndarray:
    """C x h x w float logits -> H x W uint8 class ids of their bilinear (align_corners) upsampling's argmax.

    ``extent`` (rows, columns) in low-resolution pixels: the part of the map the output covers (default the
    whole map; see :func:`content_extent`). ``low_labels``: the logits' argmax, if the graph computed it.
    """
    channels, low_h, low_w = logits.shape
    height, width = out_size
    extent_y, extent_x = extent if extent is not None else (low_h - 1, low_w - 1)
    y0, _, wy = sample_axis(height, low_h, extent_y)  # the upper neighbours are the cells' corners below
    x0, _, wx = sample_axis(width, low_w, extent_x)
    if low_labels is None:
        low_labels = logits.argmax(axis=0)
    low_labels = low_labels.astype(np.uint8, copy=False)
    uniform = _uniform_cells(low_labels)
    # every pixel first gets its cell's top-left label: right wherever the cell is uniform
    # (np.take: several times faster than fancy indexing for these gathers)
    labels = np.take(np.take(low_labels, x0, axis=1), y0, axis=0)
    rows, cols, cell_rows, cell_cols = _mixed_pixels(uniform, y0, x0)
    if rows.size == 0:
        return labels
    cells = np.flatnonzero(~uniform)
    cell_y, cell_x = np.divmod(cells, low_w)
    below, right = np.minimum(cell_y + 1, low_h - 1), np.minimum(cell_x + 1, low_w - 1)
    corners = np.stack([cell_y * low_w + cell_x, cell_y * low_w + right, below * low_w + cell_x,
                        below * low_w + right])
    classes, values, count = _candidates(logits.reshape(channels, -1), corners)
    slot = np.empty(low_h * low_w, np.int64)
    slot[cells] = np.arange(cells.size)
    pixel_cell = slot[cell_rows * low_w + cell_cols]
    labels[rows, cols] = _interpolated_argmax(classes, values, count, pixel_cell, wy[rows], wx[cols])
    return labels


# Mixed pixels are interpolated in chunks of this many (bounded memory when a small network's labels are
# sampled at a much larger frame), grouped by how many classes can win in their cell.
CHUNK_PIXELS = 1 << 16
CANDIDATE_GROUPS = ((2, 2), (3, 4), (5, 8), (9, 1 << 30))


def _interpolated_argmax(classes: np.ndarray, values: np.ndarray, count: np.ndarray, pixel_cell: np.ndarray,
                         wy1: np.ndarray, wx1: np.ndarray) -> np.ndarray:
    """The argmax of the bilinearly interpolated candidate logits at every mixed pixel."""
    result = np.empty(pixel_cell.size, np.uint8)
    deepest = values.shape[2]
    if deepest <= CANDIDATE_GROUPS[1][1]:  # few candidates anywhere: one group, no selection pass
        groups = [np.arange(pixel_cell.size)]
        depths = [deepest]
    else:
        pixel_count = count[pixel_cell]
        groups = [np.flatnonzero((pixel_count >= least) & (pixel_count <= most)) for least, most in CANDIDATE_GROUPS]
        depths = [min(most, deepest) for _, most in CANDIDATE_GROUPS]
    for group, depth in zip(groups, depths):  # candidates come first, padded by repeats: depth columns suffice
        for start in range(0, group.size, CHUNK_PIXELS):
            chosen = group[start:start + CHUNK_PIXELS]
            cell = pixel_cell[chosen]
            v = np.take(values, cell, axis=0)[:, :, :depth]  # pixels x 4 x depth
            x1, y1 = wx1[chosen, None], wy1[chosen, None]
            x0, y0 = np.float32(1) - x1, np.float32(1) - y1
            # torch's order of operations: rows outer, columns inner
            interpolated = (v[:, 0] * x0 + v[:, 1] * x1) * y0 + (v[:, 2] * x0 + v[:, 3] * x1) * y1
            result[chosen] = classes.reshape(-1)[cell * deepest + interpolated.argmax(axis=1)]
    return result


def _mixed_pixels(uniform: np.ndarray, y0: np.ndarray, x0: np.ndarray) -> Tuple[np.ndarray, ...]:
    """Output rows and columns of the pixels in mixed cells, and their cells' rows and columns.

    Built from the cell rows (output rows of one cell row are consecutive, y0 being sorted), so no
    scan of the whole output image is needed.
    """
    cell_row, col = np.nonzero(~uniform[:, x0])  # per cell row, the output columns in mixed cells
    first_row = np.searchsorted(y0, np.arange(uniform.shape[0]), side="left")
    row_count = np.searchsorted(y0, np.arange(uniform.shape[0]), side="right") - first_row
    repeats = row_count[cell_row]
    total = int(repeats.sum())
    offsets = np.arange(total) - np.repeat(np.cumsum(repeats) - repeats, repeats)
    rows = np.repeat(first_row[cell_row], repeats) + offsets
    cell_rows = np.repeat(cell_row, repeats)
    cols = np.repeat(col, repeats)
    return rows, cols, cell_rows, x0[cols]


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
