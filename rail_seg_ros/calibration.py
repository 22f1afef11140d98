"""Frames for int8 calibration at a card's input size: an image folder, a bag, or synthetic rail scenes."""

from pathlib import Path
from typing import List, Optional

import cv2
import numpy as np

from .datasets import read_rgb
from .errors import RailSegError
from .model_card import ModelCard

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def _fit(image: np.ndarray, card: ModelCard) -> np.ndarray:
    height, width = card.input_size
    if image.shape[:2] == (height, width):
        return np.ascontiguousarray(image)
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)


def _from_folder(folder: Path, count: int) -> List[np.ndarray]:
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise RailSegError(f"calibration folder {folder}: no images ({', '.join(IMAGE_SUFFIXES)})")
    step = max(1, len(paths) // count)
    return [read_rgb(path) for path in paths[::step][:count]]


def _from_bag(bag: Path, count: int) -> List[np.ndarray]:
    from .bag import IMAGE_TOPIC, read_frames

    frames = []
    for frame in read_frames(bag, IMAGE_TOPIC, gt_topic=None):
        frames.append(frame.image)
        if len(frames) >= count:
            break
    if not frames:
        raise RailSegError(f"calibration bag {bag}: no frames on {IMAGE_TOPIC}")
    return frames


def calibration_frames(source: Optional[str], card: ModelCard, count: int = 8) -> List[np.ndarray]:
    """``count`` RGB uint8 frames at the card's input size.

    ``source`` is an image folder, a rosbag2 (directory with metadata.yaml, or .mcap/.db3), or None for
    synthetic rail scenes (good for rail models; give real frames for Cityscapes models).
    """
    if source is None:
        from .synth import render_scene

        height, width = card.input_size
        return [render_scene(height, width, seed=10_000 + i)[0] for i in range(count)]
    path = Path(source)
    if not path.exists():
        raise RailSegError(f"calibration source {path}: no such file or folder")
    is_bag = (path / "metadata.yaml").exists() or path.suffix in (".mcap", ".db3")
    frames = _from_bag(path, count) if is_bag else _from_folder(path, count)
    return [_fit(f, card) for f in frames]
