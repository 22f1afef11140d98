"""Augmentation: labels padded with the ignore id, seeded, colour jitter of factors 1 a no-op."""

import numpy as np
import torch

from rail_seg_ros.train.augment import augment_pair, color_jitter
from rail_seg_ros.train.config import AUGMENTATIONS

from .conftest import SIZE, scene


def test_augmentation_pads_labels_with_ignore_and_is_seeded():
    image, labels = scene(0, *SIZE)
    a = augment_pair(image, labels, np.random.default_rng(5), AUGMENTATIONS, (0.5, 0.5))
    b = augment_pair(image, labels, np.random.default_rng(5), AUGMENTATIONS, (0.5, 0.5))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    rgb, lab, jitter = a
    assert rgb.shape == (*SIZE, 3) and lab.shape == SIZE
    assert (lab == 255).mean() >= 0.7  # zoomed out to a quarter of the area: the rest is padding
    assert set(np.unique(lab)) <= set(np.unique(labels)) | {255}
    assert not np.allclose(jitter, 1.0)
    same = color_jitter(torch.from_numpy(rgb[None]), torch.ones(1, 3))
    assert torch.equal(same[0], torch.from_numpy(rgb))
