"""Frame sources: each yields (H x W x 3 uint8 RGB, H x W uint8 ids) at the training size.

Synthetic scenes, bags with ground truth and dataset folders; the held-out split, and the dataset and
batch sampler the loader draws epochs from (keyed by (epoch, frame), so a seeded run repeats).
"""
# Python 3.8 target: typing.List/Dict/Optional/Tuple stay (no builtin generics, no X | Y).

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch

from ..errors import RailSegError
from ..labels import IGNORE_ID, get_label_set
from .augment import augment_pair
from .config import TrainConfig, parse_data_spec

SYNTH_VAL_SEED = 1_000_000  # synthetic validation frames use seeds from here on, never the training seeds


class FrameSource:
    """The frames of one source (synthetic scenes, a bag, a dataset folder) at the training size."""

    name = ""

    def __len__(self) -> int:
        raise NotImplementedError

    def get(self, index: int) -> Tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def batch(self, indices: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
        pairs = [self.get(i) for i in indices]
        return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


class MemoryFrameSource(FrameSource):
    """Frames held as two stacked arrays (N x H x W x 3 and N x H x W)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, name: str = ""):
        self.images, self.labels, self.name = images, labels, name

    def __len__(self) -> int:
        return len(self.images)

    def get(self, index: int) -> Tuple[np.ndarray, np.ndarray]:
        return self.images[index], self.labels[index]

    def batch(self, indices: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
        idx = np.asarray(indices)
        return self.images[idx], self.labels[idx]


class FileFrameSource(FrameSource):
    """Frames decoded from files on each access (for sets larger than the cache budget)."""

    def __init__(self, pairs: List[Tuple[Path, Path]], layout: str, size: Tuple[int, int], lut: np.ndarray,
                 name: str = ""):
        self.pairs, self.layout, self.size, self.lut, self.name = pairs, layout, size, lut, name

    def __len__(self) -> int:
        return len(self.pairs)

    def get(self, index: int) -> Tuple[np.ndarray, np.ndarray]:
        from ..datasets import load_pair

        image_path, label_path = self.pairs[index]
        rgb, labels = load_pair(image_path, label_path, self.layout)
        return resize_pair(rgb, labels, self.size, self.lut)


class FrameSubset(FrameSource):
    """Some frames of another source, by index."""

    def __init__(self, base: FrameSource, indices: Sequence[int], name: str = ""):
        self.base, self.indices, self.name = base, [int(i) for i in indices], name or base.name

    def __len__(self) -> int:
        return len(self.indices)

    def get(self, index: int) -> Tuple[np.ndarray, np.ndarray]:
        return self.base.get(self.indices[index])

    def batch(self, indices: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
        return self.base.batch([self.indices[i] for i in indices])


def label_lut(num_classes: int) -> np.ndarray:
    """256-entry table that keeps ids 0..num_classes-1 and maps everything else to the ignore id."""
    lut = np.full(256, IGNORE_ID, dtype=np.uint8)
    lut[:num_classes] = np.arange(num_classes, dtype=np.uint8)
    return lut


def resize_pair(rgb: np.ndarray, labels: np.ndarray, size: Tuple[int, int],
                lut: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Image bilinear, labels nearest, to ``size`` (height, width); ids outside the label set -> 255."""
    height, width = size
    if rgb.shape[:2] != (height, width):
        rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_LINEAR)
    if labels.shape[:2] != (height, width):
        labels = cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST)
    if lut is not None:
        labels = lut[labels]
    return np.ascontiguousarray(rgb), np.ascontiguousarray(labels)


def _stack(pairs: List[Tuple[np.ndarray, np.ndarray]], name: str) -> MemoryFrameSource:
    return MemoryFrameSource(np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs]), name)


def _bar(iterable: Any, total: Optional[int], desc: str, progress: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="frame", disable=not progress, leave=False,
                dynamic_ncols=True)


def synth_frames(count: int, size: Tuple[int, int], first_seed: int = 0, progress: bool = False,
                 name: str = "", track_obstacles: float = 0.0, drab_clothes: float = 0.0) -> MemoryFrameSource:
    """``count`` synthetic scenes rendered at ``size`` with seeds ``first_seed``..``first_seed + count - 1``;
    ``track_obstacles`` > 0: that share of them has a person, car or truck on the ego track ahead
    (``SceneConfig.p_track_obstacle``; the rest of each scene is the default one of its seed);
    ``drab_clothes`` > 0: that share of the people wear greys (``SceneConfig.p_drab_clothes``)."""
    try:
        from ..synth import SceneConfig, render_scene
    except ImportError as exc:
        raise RailSegError(f"synthetic scenes are not available ({exc})") from None
    height, width = size
    seeds = range(first_seed, first_seed + count)
    scene = SceneConfig(p_track_obstacle=track_obstacles, p_drab_clothes=drab_clothes)  # at 0, 0: the default scenes
    desc = f"rendering {name or 'synth'}"
    processes = min(_cpu_count(), 8, count // 24)
    if processes < 2:
        scenes = _bar((render_scene(height, width, seed, scene) for seed in seeds), count, desc, progress)
        return _stack([resize_pair(rgb, labels, size) for rgb, labels in scenes], name or f"synth:{count}")
    # Scenes are drawn in Python (the GIL): render in processes. "spawn" starts clean interpreters that
    # import only rail_seg_ros.synth, safe beside torch's threads.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        scenes = pool.map(render_scene, [height] * count, [width] * count, seeds, [scene] * count, chunksize=8)
        pairs = [resize_pair(rgb, labels, size) for rgb, labels in _bar(scenes, count, desc, progress)]
    return _stack(pairs, name or f"synth:{count}")


def bag_frames(path: str, size: Tuple[int, int], lut: np.ndarray, progress: bool = False,
               warn: Callable[[str], None] = print) -> MemoryFrameSource:
    """The frames of a bag that have ground truth (``/camera/labels_gt``), resized to ``size``."""
    from ..bag import read_frames

    pairs, without = [], 0
    for frame in _bar(read_frames(path), None, f"reading {Path(path).name}", progress):
        if frame.gt is None:
            without += 1
            continue
        pairs.append(resize_pair(frame.image, frame.gt, size, lut))
    if without:
        warn(f"bag {path}: {without} frames without ground truth left out")
    if not pairs:
        raise RailSegError(f"bag {path}: no frame has ground truth on /camera/labels_gt; it cannot be trained on")
    return _stack(pairs, f"bag:{path}")


def dataset_frames(layout: str, root: str, size: Tuple[int, int], lut: np.ndarray, split: Optional[str] = None,
                   cache_gb: float = 4.0, progress: bool = False, workers: int = 2,
                   warn: Callable[[str], None] = print) -> FrameSource:
    """The labelled frames of a dataset folder; decoded once into memory when they fit ``cache_gb``."""
    from ..datasets import iter_dataset, load_pair

    listed = iter_dataset(layout, root, split=split)
    pairs = [(image, label) for image, label in listed if label is not None]
    if len(pairs) < len(listed):
        warn(f"dataset {root}: {len(listed) - len(pairs)} images without a label map left out")
    if not pairs:
        raise RailSegError(f"dataset {root} ({layout}): no image has a label map; it cannot be trained on")
    name = f"{layout}:{root}"
    if len(pairs) * size[0] * size[1] * 4 > cache_gb * 2 ** 30:
        return FileFrameSource(pairs, layout, size, lut, name)

    def load(pair: Tuple[Path, Path]) -> Tuple[np.ndarray, np.ndarray]:
        rgb, labels = load_pair(pair[0], pair[1], layout)
        return resize_pair(rgb, labels, size, lut)

    with ThreadPoolExecutor(max(1, workers)) as pool:  # decoding and resizing release the GIL
        loaded = list(_bar(pool.map(load, pairs), len(pairs), f"loading {Path(root).name}", progress))
    return _stack(loaded, name)


def build_frames(spec: str, config: TrainConfig, role: str = "train", progress: bool = False,
                 warn: Callable[[str], None] = print) -> FrameSource:
    """The frames of a ``--data`` / ``--val`` spec at the config's size.

    synth:N renders seeds 0..N-1 for training (``config.synth_track_obstacles`` of them with an obstacle on
    the ego track, ``config.synth_drab_clothes`` of their people in greys) and 1_000_000.. for validation (default scenes, so validation mIoU stays comparable).
    """
    kind, arg = parse_data_spec(spec, "--val" if role == "val" else "--data")
    size = tuple(config.size)
    lut = label_lut(get_label_set(config.label_set).num_classes)
    if kind == "synth":
        first = SYNTH_VAL_SEED if role == "val" else 0
        train = role != "val"
        return synth_frames(int(arg), size, first, progress, name=f"{role} synth:{arg}",
                            track_obstacles=config.synth_track_obstacles if train else 0.0,
                            drab_clothes=config.synth_drab_clothes if train else 0.0)
    arg = os.path.expanduser(arg)  # railsem19:~/data is not expanded by the shell
    if kind == "bag":
        return bag_frames(arg, size, lut, progress, warn)
    split = config.val_split if role == "val" else config.split
    if split is None and kind == "cityscapes":
        split = "val" if role == "val" else "train"
    workers = max(1, config.threads or _cpu_count())
    return dataset_frames(kind, arg, size, lut, split, config.cache_gb, progress, workers, warn)


def split_frames(frames: FrameSource, fraction: float, seed: int) -> Tuple[FrameSource, FrameSource]:
    """(train, val) views: a seeded random ``fraction`` (at least one frame) held out for validation."""
    n = len(frames)
    if n < 2:
        raise RailSegError(f"{frames.name}: {n} frame cannot be split into training and validation; "
                           f"give more frames or --val")
    order = np.random.default_rng([seed, 991]).permutation(n)
    n_val = min(n - 1, max(1, int(round(n * fraction))))
    val = sorted(order[:n_val].tolist())
    train = sorted(order[n_val:].tolist())
    return FrameSubset(frames, train), FrameSubset(frames, val, f"{frames.name} (held out)")


def synth_val_count(train_count: int) -> int:
    """Synthetic validation frames for a synth:N run: a fifth of N, between 8 and 100."""
    return max(8, min(100, train_count // 5))


def build_datasets(config: TrainConfig, progress: bool = False,
                   warn: Callable[[str], None] = print) -> Tuple[FrameSource, FrameSource]:
    """(training frames, validation frames) of a config."""
    train = build_frames(config.data, config, "train", progress, warn)
    if config.val:
        return train, build_frames(config.val, config, "val", progress, warn)
    kind, arg = parse_data_spec(config.data)
    if kind == "synth":
        count = synth_val_count(int(arg))
        return train, synth_frames(count, tuple(config.size), SYNTH_VAL_SEED, progress, f"val synth:{count}")
    if config.val_fraction <= 0:
        raise RailSegError(f"--data {config.data}: no validation set; give --val or a val_fraction above 0")
    return split_frames(train, config.val_fraction, config.seed)


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class TrainSet(torch.utils.data.Dataset):
    """Items keyed by (epoch, frame): augmentation drawn from a generator seeded by (seed, epoch, frame)."""

    def __init__(self, frames: FrameSource, augment: Sequence[str], scale_range: Tuple[float, float], seed: int):
        self.frames, self.augment, self.scale_range, self.seed = frames, tuple(augment), scale_range, seed

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, key: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        epoch, index = key
        rgb, labels = self.frames.get(index)
        rng = np.random.default_rng([self.seed, epoch, index])
        return augment_pair(rgb, labels, rng, self.augment, self.scale_range)


def collate(items: Sequence[Tuple[np.ndarray, ...]]) -> Tuple[torch.Tensor, ...]:
    """Stack with numpy: torch.stack of uint8 images is many times slower on the CPU."""
    return tuple(torch.from_numpy(np.stack(column)) for column in zip(*items))


class EpochBatches:
    """Batch sampler: a seeded permutation per epoch (set ``epoch`` before iterating), full batches only
    unless the set is smaller than one batch."""

    def __init__(self, count: int, batch: int, seed: int):
        self.count, self.batch, self.seed, self.epoch = count, batch, seed, 0

    def __len__(self) -> int:
        return max(1, self.count // self.batch)

    def __iter__(self) -> Iterator[List[Tuple[int, int]]]:
        order = np.random.default_rng([self.seed, self.epoch, 7]).permutation(self.count).tolist()
        size = min(self.batch, self.count)
        for i in range(len(self)):
            yield [(self.epoch, j) for j in order[i * size:(i + 1) * size]]
