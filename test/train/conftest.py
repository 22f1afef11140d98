"""Helpers of the training tests: learnable scenes, a folder of them as pairs, a tiny config."""

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from rail_seg_ros.labels import RAILSEM19
from rail_seg_ros.train.config import TrainConfig, make_config

SIZE = (64, 128)


def scene(index: int, height: int = 80, width: int = 160):
    """An image whose colours follow its labels (learnable): bands of palette colours with noise."""
    rng = np.random.default_rng(index)
    ys, xs = np.mgrid[0:height, 0:width]
    labels = np.where(ys < height // 3, 10, np.where(xs < width // 2 + 8 * (index % 3), 12, 8)).astype(np.uint8)
    labels[height - 10:, : width // 4] = 3
    labels[:4, :4] = 255
    image = RAILSEM19.palette[labels].astype(np.int16) + rng.integers(-20, 21, size=(height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8), labels


@pytest.fixture(scope="module")
def pairs_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pairs")
    (root / "images").mkdir()
    (root / "labels").mkdir()
    for i in range(10):
        image, labels = scene(i)
        cv2.imwrite(str(root / "images" / f"f{i:02d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(root / "labels" / f"f{i:02d}.png"), labels)
    return root


def tiny_config(data: str, out: Path, **values) -> TrainConfig:
    settings = dict(data=data, out=str(out), size=SIZE, epochs=2, batch=4, seed=3, threads=2, device="cpu")
    settings.update(values)
    return make_config(settings.pop("model", "squeezenas_mac_small"), **settings)


def read_log(path: Path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
