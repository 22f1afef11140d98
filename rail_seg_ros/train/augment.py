"""Augmentation of one training pair (zoom, crop, flip, colour factors) and the batched colour jitter."""
# Python 3.8 target: typing.List/Dict/Optional/Tuple stay (no builtin generics, no X | Y).

from typing import Optional, Sequence, Tuple

import cv2
import numpy as np
import torch

from ..labels import IGNORE_ID
from ..model_card import IMAGENET_MEAN

COLOR_JITTER = 0.25  # brightness, contrast and saturation factors drawn from 1 +- this


def _window(n: int, target: int, rng: Optional[np.random.Generator]) -> Tuple[slice, slice]:
    """(source slice, destination slice) of one axis: crop when n > target, pad when n < target."""
    if n >= target:
        start = int(rng.integers(0, n - target + 1)) if rng is not None else (n - target) // 2
        return slice(start, start + target), slice(0, target)
    start = int(rng.integers(0, target - n + 1)) if rng is not None else (target - n) // 2
    return slice(0, n), slice(start, start + n)


PAD_COLOR = tuple(int(round(m * 255)) for m in IMAGENET_MEAN)  # normalises to zero


def augment_pair(rgb: np.ndarray, labels: np.ndarray, rng: np.random.Generator, augment: Sequence[str],
                 scale_range: Tuple[float, float] = (0.75, 1.25)) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random zoom and crop (labels padded with 255), flip; returns (rgb, labels, colour jitter factors).

    scale: zoom by a factor from ``scale_range``, cut or pad back to the size about the centre; crop: at a
    random place instead (alone: zoom 1..high so there is something to cut). color: brightness, contrast
    and saturation factors for :func:`color_jitter` (all 1 without it).
    """
    height, width = labels.shape
    low, high = scale_range
    factor = 1.0
    if "scale" in augment:
        factor = float(rng.uniform(low, high))
    elif "crop" in augment:
        factor = float(rng.uniform(1.0, max(1.0, high)))
    if factor != 1.0:
        new_h, new_w = max(1, int(round(height * factor))), max(1, int(round(width * factor)))
        rgb = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        labels = cv2.resize(labels, (new_w, new_h), interpolation=cv2.INTER_NEAREST)
        place = rng if "crop" in augment else None
        (src_y, dst_y), (src_x, dst_x) = _window(new_h, height, place), _window(new_w, width, place)
        out_rgb = np.empty((height, width, 3), np.uint8)
        out_rgb[...] = PAD_COLOR
        out_labels = np.full((height, width), IGNORE_ID, np.uint8)
        out_rgb[dst_y, dst_x] = rgb[src_y, src_x]
        out_labels[dst_y, dst_x] = labels[src_y, src_x]
        rgb, labels = out_rgb, out_labels
    if "flip" in augment and rng.random() < 0.5:
        rgb, labels = rgb[:, ::-1], labels[:, ::-1]
    jitter = np.ones(3, np.float32)
    if "color" in augment:
        jitter = rng.uniform(1.0 - COLOR_JITTER, 1.0 + COLOR_JITTER, size=3).astype(np.float32)
    return np.ascontiguousarray(rgb), np.ascontiguousarray(labels), jitter


_GREY = (0.299, 0.587, 0.114)


def color_jitter(images: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """N x H x W x 3 uint8 RGB, N x 3 (brightness, contrast, saturation) factors -> jittered uint8, batched."""
    x = images.to(torch.float32)
    b, c, s = (factors[:, i].to(x).view(-1, 1, 1, 1) for i in range(3))
    weights = torch.tensor(_GREY, dtype=x.dtype, device=x.device)
    x = x * b
    mean = (x * weights).sum(dim=3, keepdim=True).mean(dim=(1, 2), keepdim=True)
    x = (x - mean) * c + mean
    grey = (x * weights).sum(dim=3, keepdim=True)
    x = (x - grey) * s + grey
    return x.clamp_(0, 255).round_().to(torch.uint8)
