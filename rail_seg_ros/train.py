"""Training and fine-tuning of the segmentation networks, on real datasets, bags or synthetic scenes.

Everything a run depends on is a :class:`TrainConfig` (saved as ``config.yaml`` in the output folder).
The recipes of the field are presets of it (:data:`RECIPES`):

* ``squeezenas`` - SqueezeNAS fine-tuning: SGD with momentum 0.9, lr 1e-3 falling to 1e-5 along a
  poly schedule, cross-entropy ignoring 255;
* ``fast_scnn`` - Fast-SCNN as its public training code: SGD with momentum 0.9, lr 1e-2 with poly
  decay (power 0.9), OHEM cross-entropy (pixels with probability < 0.7, at least ``ohem_min_kept``)
  and the auxiliary head's loss with weight 0.4;
* ``synth`` - from scratch on synthetic scenes in minutes on a CPU: Adam, lr 2e-3, cosine decay.

A run writes into its output folder: ``best.pt`` (plain state_dict of the best validation mIoU) with
its model card ``best.yaml``, ``last.pt`` (the whole training state, loadable with
``weights_only=True``, for ``--resume``), ``log.csv``, ``curves.png`` and ``config.yaml``.

The learning rate is a function of the global step (:func:`lr_at`), so a resumed run follows the
schedule of the uninterrupted one; data order, augmentation and dropout are drawn from generators
seeded by (seed, epoch, frame), so a seeded run repeats exactly on the CPU, resumed or not.
"""
# Python 3.8 target: typing.List/Dict/Optional/Tuple stay (no builtin generics, no X | Y).

import contextlib
import csv
import io
import math
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F
import yaml
from torch import nn

from .checkpoints import read_checkpoint
from .errors import RailSegError
from .fileio import atomic_path, atomic_write_bytes, atomic_write_text
from .labels import IGNORE_ID, LABEL_SETS, get_label_set
from .metrics import ConfusionMatrix
from .model_card import IMAGENET_MEAN, IMAGENET_STD, ModelCard, load_card, parse_size, validate_card
from .nets import build_model, get_architecture

DATA_KINDS = ("railsem19", "cityscapes", "pairs", "bag", "synth")
DATA_FORMS = "railsem19:ROOT, cityscapes:ROOT, pairs:ROOT, bag:PATH or synth:N"
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("poly", "cosine", "step")
LOSSES = ("ce", "ohem")
AUGMENTATIONS = ("flip", "scale", "crop", "color")
DEVICES = ("auto", "cpu", "cuda")
SYNTH_VAL_SEED = 1_000_000  # synthetic validation frames use seeds from here on, never the training seeds
STATE_FORMAT = "rail_seg_ros.train/1"
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".tar", ".bin")
COLOR_JITTER = 0.25  # brightness, contrast and saturation factors drawn from 1 +- this
# Fields that may differ when a run is resumed: where and how it runs, not what it computes.
RUNTIME_FIELDS = ("out", "resume", "device", "workers", "threads", "cache_gb")

# The recipes: values a preset sets; anything given explicitly wins.
RECIPES: Dict[str, Dict[str, Any]] = {
    "squeezenas": dict(optimizer="sgd", lr=1e-3, lr_end=1e-5, momentum=0.9, weight_decay=4e-5, schedule="poly",
                       power=0.9, loss="ce", aux=False),
    "fast_scnn": dict(optimizer="sgd", lr=1e-2, lr_end=0.0, momentum=0.9, weight_decay=1e-4, schedule="poly",
                      power=0.9, loss="ohem", ohem_thresh=0.7, ohem_min_kept=100_000, aux=True, aux_weight=0.4),
    "synth": dict(optimizer="adam", lr=2e-3, lr_end=0.0, momentum=0.9, weight_decay=0.0, schedule="cosine",
                  loss="ce", aux=False),
}
RECIPE_NOTES = {
    "squeezenas": "SqueezeNAS fine-tuning: SGD momentum 0.9, lr 1e-3 -> 1e-5 poly (power 0.9), "
                  "weight decay 4e-5, cross-entropy ignoring 255",
    "fast_scnn": "Fast-SCNN public training: SGD momentum 0.9, lr 1e-2 poly (power 0.9), weight decay 1e-4, "
                 "OHEM (prob < 0.7, at least 100000 pixels a batch), auxiliary loss weight 0.4",
    "synth": "from scratch on synthetic scenes: Adam lr 2e-3, cosine to 0, no weight decay, cross-entropy",
}


def default_recipe(model: str) -> str:
    """The recipe an architecture trains with unless told otherwise."""
    return "fast_scnn" if model == "fast_scnn" else "squeezenas"


@dataclass
class TrainConfig:
    """Every hyperparameter and input of a training run (defaults: the SqueezeNAS fine-tuning recipe)."""

    model: str = "squeezenas_mac_small"  # architecture name
    data: str = "synth:400"  # railsem19:ROOT | cityscapes:ROOT | pairs:ROOT | bag:PATH | synth:N
    out: str = "out/train"
    val: Optional[str] = None  # same forms; None: synthetic seeds 1_000_000+ for synth, else a held-out part
    init: Optional[str] = None  # a model card (its weights) or a checkpoint to start from
    recipe: str = "squeezenas"  # the preset the values came from (recorded, not applied here)
    epochs: int = 10
    batch: int = 8
    optimizer: str = "sgd"
    lr: float = 1e-3
    lr_end: float = 1e-5  # poly / cosine end value
    momentum: float = 0.9  # SGD momentum, Adam beta1
    weight_decay: float = 4e-5
    schedule: str = "poly"
    power: float = 0.9  # poly exponent
    milestones: Tuple[float, ...] = (0.5, 0.75)  # step schedule: fractions of the run where lr *= gamma
    gamma: float = 0.1
    loss: str = "ce"
    ohem_thresh: float = 0.7  # OHEM keeps pixels whose true-class probability is below this ...
    ohem_min_kept: int = 100_000  # ... and at least this many pixels of each batch
    aux: bool = False  # Fast-SCNN auxiliary head and loss
    aux_weight: float = 0.4
    size: Tuple[int, int] = (256, 512)  # height, width frames are resized to (and the card's input size)
    augment: Tuple[str, ...] = AUGMENTATIONS
    scale_range: Tuple[float, float] = (0.75, 1.25)
    label_set: str = "railsem19"
    reinit_classifier: bool = False  # with init: start the classifier afresh even when the class count matches
    split: Optional[str] = None  # dataset split of --data (default: the layout's; cityscapes: train)
    val_split: Optional[str] = None  # dataset split of --val (cityscapes: val)
    val_fraction: float = 0.1  # held out of --data for validation when there is no --val (not for synth)
    seed: int = 0
    workers: int = 0  # DataLoader worker processes (0: load in the training process)
    threads: int = 0  # torch CPU threads (0: torch's default, one per physical core)
    device: str = "auto"
    amp: bool = False  # mixed precision (CUDA only)
    channels_last: bool = True  # NHWC activations: faster on CPU and on tensor cores
    cache_gb: float = 4.0  # frames of files are decoded once and kept in memory up to this size
    resume: Optional[str] = None  # a run folder whose last.pt to continue

    def to_dict(self) -> Dict[str, Any]:
        """Plain values only (lists, no tuples): for YAML, JSON and ``weights_only`` checkpoints."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise RailSegError(f"training config: unknown keys {', '.join(unknown)}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**values)


def make_config(model: str, recipe: Optional[str] = None, **values: Any) -> TrainConfig:
    """A config for ``model`` from a recipe (the architecture's own by default), ``values`` winning.

    ``values`` left None are not set; ``size`` may be given as ``"HxW"`` and ``augment`` as ``"flip,scale"``.
    """
    recipe = recipe or default_recipe(model)
    if recipe not in RECIPES:
        raise RailSegError(f"recipe {recipe!r} is unknown; known: {', '.join(RECIPES)}")
    merged: Dict[str, Any] = dict(RECIPES[recipe])
    merged.update({k: v for k, v in values.items() if v is not None})
    if isinstance(merged.get("size"), str):
        merged["size"] = parse_size(merged["size"])
    if isinstance(merged.get("augment"), str):
        merged["augment"] = parse_augment(merged["augment"])
    if "label_set" not in merged and "data" in merged:
        merged["label_set"] = default_label_set(merged["data"])
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(merged) - known)
    if unknown:
        raise RailSegError(f"training config: unknown keys {', '.join(unknown)}")
    merged = {k: tuple(v) if isinstance(v, list) else v for k, v in merged.items()}
    return check_config(TrainConfig(model=model, recipe=recipe, **merged))


def parse_augment(text: str) -> Tuple[str, ...]:
    """``"flip,scale,crop,color"`` (or ``none``) -> the tuple of augmentations."""
    names = [n.strip().lower() for n in str(text).split(",") if n.strip()]
    if names in ([], ["none"]):
        return ()
    bad = [n for n in names if n not in AUGMENTATIONS]
    if bad:
        raise RailSegError(f"augmentation {', '.join(bad)} is unknown; use a comma list of "
                           f"{', '.join(AUGMENTATIONS)}, or none")
    return tuple(dict.fromkeys(names))


def parse_data_spec(spec: str, option: str = "--data") -> Tuple[str, str]:
    """``KIND:ARG`` -> (kind, arg), checked; a one-line error for anything else."""
    kind, sep, arg = str(spec).partition(":")
    kind = kind.strip().lower()
    if not sep or kind not in DATA_KINDS or not arg:
        raise RailSegError(f"{option} {spec!r}: expected {DATA_FORMS}")
    if kind == "synth":
        try:
            count = int(arg)
        except ValueError:
            count = 0
        if count < 1:
            raise RailSegError(f"{option} {spec!r}: synth:N needs a frame count N >= 1")
    return kind, arg


def default_label_set(data: str) -> str:
    """Cityscapes train ids for cityscapes data, RailSem19 for everything else."""
    kind = str(data).partition(":")[0].strip().lower()
    return "cityscapes" if kind == "cityscapes" else "railsem19"


def check_config(config: TrainConfig) -> TrainConfig:
    """Check every value; one error naming the option and what is wrong."""
    arch = get_architecture(config.model)
    parse_data_spec(config.data, "--data")
    if config.val:
        parse_data_spec(config.val, "--val")
    choices = (("optimizer", OPTIMIZERS), ("schedule", SCHEDULES), ("loss", LOSSES), ("device", DEVICES))
    for name, allowed in choices:
        if getattr(config, name) not in allowed:
            raise RailSegError(f"--{name} {getattr(config, name)!r}: choose one of {', '.join(allowed)}")
    if config.label_set not in LABEL_SETS:
        raise RailSegError(f"--label-set {config.label_set!r}: known label sets are {', '.join(sorted(LABEL_SETS))}")
    for name in ("epochs", "batch"):
        if int(getattr(config, name)) < 1:
            raise RailSegError(f"--{name} must be at least 1, got {getattr(config, name)}")
    if not config.lr > 0 or config.lr_end < 0 or config.lr_end > config.lr:
        raise RailSegError(f"--lr {config.lr} / lr_end {config.lr_end}: need lr > 0 and 0 <= lr_end <= lr")
    if not 0 < config.ohem_thresh <= 1 or config.ohem_min_kept < 0:
        raise RailSegError("OHEM needs 0 < ohem_thresh <= 1 and ohem_min_kept >= 0")
    if not 0 <= config.val_fraction < 1:
        raise RailSegError(f"val_fraction {config.val_fraction}: must be in [0, 1)")
    if config.workers < 0 or config.threads < 0:
        raise RailSegError("--workers and --threads must not be negative")
    low, high = config.scale_range
    if not 0 < low <= high:
        raise RailSegError(f"scale_range {config.scale_range}: need 0 < low <= high")
    parse_augment(",".join(config.augment) or "none")
    height, width = config.size
    if height % arch.input_multiple or width % arch.input_multiple or min(height, width) < arch.min_size:
        raise RailSegError(f"--size {height}x{width} does not suit {arch.name}, which takes {arch.note}, "
                           f"at least {arch.min_size}")
    return config


# ------------------------------------------------------------------------------------------------
# Learning rate


def lr_at(step: int, total_steps: int, config: TrainConfig) -> float:
    """The learning rate of global step ``step`` (0-based) of a ``total_steps`` run.

    poly: ``lr_end + (lr - lr_end) * (1 - t) ** power``; cosine: ``lr_end + (lr - lr_end) * (1 + cos(pi t)) / 2``;
    step: ``lr * gamma ** (milestones passed)``, with ``t = step / total_steps`` and milestones as fractions of t.
    """
    t = min(max(step, 0), total_steps) / float(max(total_steps, 1))
    if config.schedule == "poly":
        return config.lr_end + (config.lr - config.lr_end) * (1.0 - t) ** config.power
    if config.schedule == "cosine":
        return config.lr_end + (config.lr - config.lr_end) * 0.5 * (1.0 + math.cos(math.pi * t))
    if config.schedule == "step":
        passed = sum(1 for m in config.milestones if step >= int(round(m * total_steps)))
        return config.lr * config.gamma ** passed
    raise RailSegError(f"--schedule {config.schedule!r}: choose one of {', '.join(SCHEDULES)}")


# ------------------------------------------------------------------------------------------------
# Losses


def ohem_cross_entropy(logits: torch.Tensor, target: torch.Tensor, ignore_index: int = IGNORE_ID,
                       thresh: float = 0.7, min_kept: int = 100_000) -> torch.Tensor:
    """Online hard example mining cross-entropy (as Fast-SCNN's public training code).

    Of the pixels not equal to ``ignore_index``, keeps those whose true-class probability is below
    ``thresh``; when fewer than ``min_kept`` are, keeps the ``min_kept`` hardest (all, when there are fewer
    valid pixels). Returns the mean cross-entropy of the kept pixels.
    """
    pixel = F.cross_entropy(logits.float(), target.long(), ignore_index=ignore_index, reduction="none").flatten()
    valid = target.flatten() != ignore_index
    losses = pixel[valid]
    count = losses.numel()
    if count == 0:
        return logits.sum() * 0.0  # keeps the graph: a batch of ignore pixels contributes nothing
    if count <= min_kept:
        return losses.mean()
    with torch.no_grad():
        hard = losses > -math.log(thresh)  # p = exp(-CE) < thresh
        kept = int(hard.sum())
    if kept >= min_kept:
        return losses[hard].mean()
    return torch.topk(losses, min_kept, sorted=False).values.mean()


class SegLoss(nn.Module):
    """Cross-entropy or OHEM on the main output, plus ``aux_weight`` times the same on the auxiliary one."""

    def __init__(self, kind: str = "ce", ignore_index: int = IGNORE_ID, thresh: float = 0.7,
                 min_kept: int = 100_000, aux_weight: float = 0.4):
        super().__init__()
        if kind not in LOSSES:
            raise RailSegError(f"--loss {kind!r}: choose one of {', '.join(LOSSES)}")
        self.kind, self.ignore_index, self.thresh, self.min_kept = kind, ignore_index, thresh, min_kept
        self.aux_weight = aux_weight

    def single(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.kind == "ohem":
            return ohem_cross_entropy(logits, target, self.ignore_index, self.thresh, self.min_kept)
        return F.cross_entropy(logits.float(), target.long(), ignore_index=self.ignore_index)

    def forward(self, outputs: Any, target: torch.Tensor) -> torch.Tensor:
        if isinstance(outputs, (tuple, list)):
            loss = self.single(outputs[0], target)
            for aux in outputs[1:]:
                loss = loss + self.aux_weight * self.single(aux, target)
            return loss
        return self.single(outputs, target)


# ------------------------------------------------------------------------------------------------
# Frames: every source yields (H x W x 3 uint8 RGB, H x W uint8 ids) at the training size


class Frames:
    """Frames of one source at the training size."""

    name = ""

    def __len__(self) -> int:
        raise NotImplementedError

    def get(self, index: int) -> Tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def batch(self, indices: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
        pairs = [self.get(i) for i in indices]
        return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


class MemoryFrames(Frames):
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


class FileFrames(Frames):
    """Frames decoded from files on each access (for sets larger than the cache budget)."""

    def __init__(self, pairs: List[Tuple[Path, Path]], layout: str, size: Tuple[int, int], lut: np.ndarray,
                 name: str = ""):
        self.pairs, self.layout, self.size, self.lut, self.name = pairs, layout, size, lut, name

    def __len__(self) -> int:
        return len(self.pairs)

    def get(self, index: int) -> Tuple[np.ndarray, np.ndarray]:
        from .datasets import load_pair

        image_path, label_path = self.pairs[index]
        rgb, labels = load_pair(image_path, label_path, self.layout)
        return resize_pair(rgb, labels, self.size, self.lut)


class FrameView(Frames):
    """Some frames of another source, by index."""

    def __init__(self, base: Frames, indices: Sequence[int], name: str = ""):
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


def _stack(pairs: List[Tuple[np.ndarray, np.ndarray]], name: str) -> MemoryFrames:
    return MemoryFrames(np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs]), name)


def _bar(iterable: Any, total: Optional[int], desc: str, progress: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="frame", disable=not progress, leave=False,
                dynamic_ncols=True)


def synth_frames(count: int, size: Tuple[int, int], first_seed: int = 0, progress: bool = False,
                 name: str = "") -> MemoryFrames:
    """``count`` synthetic scenes rendered at ``size`` with seeds ``first_seed``..``first_seed + count - 1``."""
    try:
        from .synth import render_scene
    except ImportError as exc:
        raise RailSegError(f"synthetic scenes are not available ({exc})") from None
    height, width = size
    seeds = range(first_seed, first_seed + count)
    desc = f"rendering {name or 'synth'}"
    processes = min(_cpu_count(), 8, count // 24)
    if processes < 2:
        scenes = _bar((render_scene(height, width, seed) for seed in seeds), count, desc, progress)
        return _stack([resize_pair(rgb, labels, size) for rgb, labels in scenes], name or f"synth:{count}")
    # Scenes are drawn in Python (the GIL): render in processes. "spawn" starts clean interpreters that
    # import only rail_seg_ros.synth, safe beside torch's threads.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        scenes = pool.map(render_scene, [height] * count, [width] * count, seeds, chunksize=8)
        pairs = [resize_pair(rgb, labels, size) for rgb, labels in _bar(scenes, count, desc, progress)]
    return _stack(pairs, name or f"synth:{count}")


def bag_frames(path: str, size: Tuple[int, int], lut: np.ndarray, progress: bool = False,
               warn: Callable[[str], None] = print) -> MemoryFrames:
    """The frames of a bag that have ground truth (``/camera/labels_gt``), resized to ``size``."""
    from .bag import read_frames

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
                   warn: Callable[[str], None] = print) -> Frames:
    """The labelled frames of a dataset folder; decoded once into memory when they fit ``cache_gb``."""
    from .datasets import iter_dataset, load_pair

    listed = iter_dataset(layout, root, split=split)
    pairs = [(image, label) for image, label in listed if label is not None]
    if len(pairs) < len(listed):
        warn(f"dataset {root}: {len(listed) - len(pairs)} images without a label map left out")
    if not pairs:
        raise RailSegError(f"dataset {root} ({layout}): no image has a label map; it cannot be trained on")
    name = f"{layout}:{root}"
    if len(pairs) * size[0] * size[1] * 4 > cache_gb * 2 ** 30:
        return FileFrames(pairs, layout, size, lut, name)

    def load(pair: Tuple[Path, Path]) -> Tuple[np.ndarray, np.ndarray]:
        rgb, labels = load_pair(pair[0], pair[1], layout)
        return resize_pair(rgb, labels, size, lut)

    with ThreadPoolExecutor(max(1, workers)) as pool:  # decoding and resizing release the GIL
        loaded = list(_bar(pool.map(load, pairs), len(pairs), f"loading {Path(root).name}", progress))
    return _stack(loaded, name)


def build_frames(spec: str, config: TrainConfig, role: str = "train", progress: bool = False,
                 warn: Callable[[str], None] = print) -> Frames:
    """The frames of a ``--data`` / ``--val`` spec at the config's size.

    synth:N renders seeds 0..N-1 for training and 1_000_000.. for validation.
    """
    kind, arg = parse_data_spec(spec, "--val" if role == "val" else "--data")
    size = tuple(config.size)
    lut = label_lut(get_label_set(config.label_set).num_classes)
    if kind == "synth":
        first = SYNTH_VAL_SEED if role == "val" else 0
        return synth_frames(int(arg), size, first, progress, name=f"{role} synth:{arg}")
    arg = os.path.expanduser(arg)  # railsem19:~/data is not expanded by the shell
    if kind == "bag":
        return bag_frames(arg, size, lut, progress, warn)
    split = config.val_split if role == "val" else config.split
    if split is None and kind == "cityscapes":
        split = "val" if role == "val" else "train"
    workers = max(1, config.threads or _cpu_count())
    return dataset_frames(kind, arg, size, lut, split, config.cache_gb, progress, workers, warn)


def split_frames(frames: Frames, fraction: float, seed: int) -> Tuple[Frames, Frames]:
    """(train, val) views: a seeded random ``fraction`` (at least one frame) held out for validation."""
    n = len(frames)
    if n < 2:
        raise RailSegError(f"{frames.name}: {n} frame cannot be split into training and validation; "
                           f"give more frames or --val")
    order = np.random.default_rng([seed, 991]).permutation(n)
    n_val = min(n - 1, max(1, int(round(n * fraction))))
    val = sorted(order[:n_val].tolist())
    train = sorted(order[n_val:].tolist())
    return FrameView(frames, train), FrameView(frames, val, f"{frames.name} (held out)")


def synth_val_count(train_count: int) -> int:
    """Synthetic validation frames for a synth:N run: a fifth of N, between 8 and 100."""
    return max(8, min(100, train_count // 5))


def build_datasets(config: TrainConfig, progress: bool = False,
                   warn: Callable[[str], None] = print) -> Tuple[Frames, Frames]:
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


# ------------------------------------------------------------------------------------------------
# Augmentation


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


class TrainSet(torch.utils.data.Dataset):
    """Items keyed by (epoch, frame): augmentation drawn from a generator seeded by (seed, epoch, frame)."""

    def __init__(self, frames: Frames, augment: Sequence[str], scale_range: Tuple[float, float], seed: int):
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


# ------------------------------------------------------------------------------------------------
# Model set-up


def classifier_layers(model: nn.Module) -> List[str]:
    """Module names of the convolutions that output class scores (re-initialised for a new label set)."""
    from .nets.fast_scnn import FastSCNN
    from .nets.squeezenas import SqueezeNAS

    if isinstance(model, FastSCNN):
        names = ["classifier.conv.1"] + (["auxlayer.4"] if getattr(model, "aux", False) else [])
    elif isinstance(model, SqueezeNAS):
        names = ["decoder._1x1_TR", "decoder._1x1_BR"] if model.config.decoder == "lr_aspp" else ["logits3"]
    else:
        n = getattr(model, "num_classes", None)
        names = [k for k, m in model.named_modules() if isinstance(m, nn.Conv2d) and m.out_channels == n]
    return names


@dataclass
class InitReport:
    """What ``--init`` loaded."""

    source: str
    loaded: int = 0  # tensors copied
    reinitialised: List[str] = field(default_factory=list)  # classifier layers started afresh
    fresh: List[str] = field(default_factory=list)  # layers the checkpoint lacks (the auxiliary head)
    ignored: List[str] = field(default_factory=list)  # checkpoint layers the model lacks (the auxiliary head)
    label_set: Optional[str] = None  # the label set of the card the weights came from, if known

    def lines(self) -> List[str]:
        out = [f"init: {self.loaded} tensors from {self.source}"]
        if self.reinitialised:
            out.append(f"init: classifier re-initialised: {', '.join(self.reinitialised)}")
        else:
            known = f" trained on {self.label_set}" if self.label_set else ""
            out.append(f"init: classifier kept{known} (same class count; --reinit-classifier starts it afresh)")
        if self.fresh:
            out.append(f"init: not in the checkpoint, initialised afresh: {', '.join(self.fresh)}")
        if self.ignored:
            out.append(f"init: in the checkpoint but not used: {', '.join(self.ignored)}")
        return out


def _layer(key: str) -> str:
    return key.rsplit(".", 1)[0]


def init_weights(model: nn.Module, init: str, model_name: str, reinit_classifier: bool = False) -> InitReport:
    """Load ``init`` (a model card with weights, or a checkpoint) into ``model``.

    Every tensor of matching name and shape is loaded; the classifier convolutions are re-initialised when
    their shape differs (another class count) or ``reinit_classifier``; the auxiliary head may be missing on
    either side. Anything else that does not fit means another architecture: an error.
    """
    path = Path(os.path.expanduser(init))
    card = None
    if path.suffix.lower() in (".yaml", ".yml") or not (path.is_file() or path.suffix.lower() in CHECKPOINT_SUFFIXES):
        card = load_card(init)
        if card.architecture != model_name:
            raise RailSegError(f"--init {init}: the card is for {card.architecture}, not --model {model_name}")
        try:
            path = card.weights_path()
        except RailSegError as exc:
            message = str(exc).replace("pass --weights PATH", "pass the checkpoint itself as --init PATH")
            raise RailSegError(f"--init: {message}") from None
    state = read_checkpoint(path)
    own = model.state_dict()
    heads = tuple(h + "." for h in classifier_layers(model))
    report = InitReport(str(path), label_set=card.label_set if card is not None else None)
    take: Dict[str, torch.Tensor] = {}
    misshaped: List[str] = []
    missing: List[str] = []
    for key, value in own.items():
        is_head = key.startswith(heads)
        if key not in state:
            (report.fresh if key.startswith("auxlayer.") or is_head else missing).append(key)
        elif state[key].shape != value.shape and not is_head:
            misshaped.append(f"{key} {tuple(state[key].shape)} != {tuple(value.shape)}")
        elif is_head and (reinit_classifier or state[key].shape != value.shape):
            report.reinitialised.append(key)
        else:
            tensor = state[key]
            take[key] = tensor.to(value.dtype) if tensor.is_floating_point() else tensor
    unexpected = [k for k in state if k not in own]
    report.ignored = sorted({_layer(k) for k in unexpected if k.startswith("auxlayer.")})
    unexpected = [k for k in unexpected if not k.startswith("auxlayer.")]
    problems = []
    for what, keys in (("mis-shaped", misshaped), ("missing", missing), ("unexpected", unexpected)):
        if keys:
            shown = ", ".join(keys[:4]) + (f", ... ({len(keys)} in all)" if len(keys) > 4 else "")
            problems.append(f"{what}: {shown}")
    if problems:
        raise RailSegError(f"--init {init} does not fit {model_name} beyond its classifier: " + "; ".join(problems))
    model.load_state_dict(take, strict=False)
    fresh_heads = {_layer(k) for k in report.reinitialised}
    for name, module in model.named_modules():
        if name in fresh_heads and hasattr(module, "reset_parameters"):
            module.reset_parameters()
    report.loaded = len(take)
    report.reinitialised = sorted(fresh_heads)
    report.fresh = sorted({_layer(k) for k in report.fresh})
    return report


def _guard_batchnorm(model: nn.Module) -> List[Any]:
    """BatchNorm on one value per channel (batch 1 through a 1x1 map) uses its running statistics
    instead of failing; every other call trains normally."""

    def before(module: nn.Module, inputs: Tuple[torch.Tensor, ...]) -> None:
        x = inputs[0]
        if module.training and x.numel() <= x.shape[1]:
            module._rail_seg_frozen = True  # type: ignore[assignment]
            module.training = False

    def after(module: nn.Module, _inputs: Any, _output: Any) -> None:
        if getattr(module, "_rail_seg_frozen", False):
            module._rail_seg_frozen = False  # type: ignore[assignment]
            module.training = True

    handles = []
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            handles.append(module.register_forward_pre_hook(before))
            handles.append(module.register_forward_hook(after))
    return handles


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RailSegError("--device cuda: torch sees no CUDA device here (use --device cpu)")
    return torch.device(name)


def _grad_scaler(enabled: bool) -> Any:
    scaler_cls = getattr(torch.amp, "GradScaler", None)
    if scaler_cls is not None:  # torch >= 2.3
        return scaler_cls("cuda", enabled=enabled)
    return torch.cuda.amp.GradScaler(enabled=enabled)  # JetPack 5's torch 2.0/2.1


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    return torch.optim.Adam(params, lr=config.lr, betas=(config.momentum, 0.999), weight_decay=config.weight_decay)


# ------------------------------------------------------------------------------------------------
# The run


@dataclass
class TrainResult:
    best_miou: float  # on [0, 1]
    best_epoch: int  # 1-based
    best_path: Path
    card_path: Path
    last_path: Path
    out: Path
    history: List[Dict[str, float]]  # one row of log.csv per epoch, the resumed part included
    step_lrs: List[float] = field(default_factory=list)  # learning rate of each step this call ran
    step_losses: List[float] = field(default_factory=list)
    first_step: int = 0  # global step of step_lrs[0]
    init: Optional[InitReport] = None
    warnings: List[str] = field(default_factory=list)


LOG_COLUMNS = ("epoch", "step", "lr", "train_loss", "val_miou", "val_pixel_acc", "seconds")


def command_line(config: TrainConfig) -> str:
    """The ``rail-seg train`` command that reproduces ``config`` (recorded in the card's source)."""
    parts = ["rail-seg train", f"--model {config.model}"]
    if config.init:
        parts.append(f"--init {config.init}")
    parts.append(f"--data {config.data}")
    if config.val:
        parts.append(f"--val {config.val}")
    parts += [f"--recipe {config.recipe}", f"--epochs {config.epochs}", f"--batch {config.batch}",
              f"--lr {config.lr:g}", f"--lr-end {config.lr_end:g}", f"--optimizer {config.optimizer}",
              f"--momentum {config.momentum:g}", f"--weight-decay {config.weight_decay:g}",
              f"--schedule {config.schedule}", f"--loss {config.loss}"]
    if config.aux:
        parts.append("--aux")
    parts += [f"--size {config.size[0]}x{config.size[1]}", f"--augment {','.join(config.augment) or 'none'}",
              f"--label-set {config.label_set}", f"--seed {config.seed}"]
    return " ".join(parts)


def _write_log(path: Path, history: List[Dict[str, float]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(LOG_COLUMNS)
    for row in history:
        writer.writerow([int(row["epoch"]), int(row["step"]), f"{row['lr']:.6g}", f"{row['train_loss']:.5f}",
                         f"{row['val_miou']:.5f}", f"{row['val_pixel_acc']:.5f}", f"{row['seconds']:.2f}"])
    atomic_write_text(path, buffer.getvalue())


def plot_curves(path: Path, history: List[Dict[str, float]], step_losses: Sequence[float],
                steps_per_epoch: int, title: str = "") -> None:
    """Training loss (per step and per epoch) on the left, validation mIoU and pixel accuracy on the right."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

    fig = Figure(figsize=(11, 4), dpi=100)
    FigureCanvasAgg(fig)
    loss_ax, val_ax = fig.subplots(1, 2)
    epochs = [row["epoch"] for row in history]
    if len(step_losses):
        x = np.arange(1, len(step_losses) + 1) / float(max(steps_per_epoch, 1))
        loss_ax.plot(x, step_losses, color="tab:blue", alpha=0.3, linewidth=0.8, label="per step")
    loss_ax.plot(epochs, [row["train_loss"] for row in history], "o-", color="tab:blue", label="epoch mean")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("training loss")
    if len(step_losses) and min(step_losses) > 0:
        loss_ax.set_yscale("log")
        plain = FuncFormatter(lambda value, _pos: f"{value:g}")
        loss_ax.yaxis.set_major_formatter(plain)
        # minor ticks labelled within a decade only, where the majors are too few to read values off
        loss_ax.yaxis.set_minor_formatter(plain if max(step_losses) < 10 * min(step_losses) else NullFormatter())
    loss_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    loss_ax.grid(True, alpha=0.3)
    loss_ax.legend(loc="upper right")
    val_ax.plot(epochs, [100 * row["val_miou"] for row in history], "o-", color="tab:green", label="mIoU")
    val_ax.plot(epochs, [100 * row["val_pixel_acc"] for row in history], "s--", color="tab:gray",
                label="pixel accuracy")
    if history:
        best = max(history, key=lambda r: r["val_miou"])
        val_ax.annotate(f"best {100 * best['val_miou']:.1f} %", (best["epoch"], 100 * best["val_miou"]),
                        textcoords="offset points", xytext=(0, -14), ha="center", fontsize=8)
    val_ax.set_xlabel("epoch")
    val_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    val_ax.set_ylabel("validation (%)")
    val_ax.set_ylim(0, 100)
    val_ax.grid(True, alpha=0.3)
    val_ax.legend(loc="lower right")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())


def _save(path: Path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, str(tmp))


def _plain_state(model: nn.Module, drop_aux: bool = False) -> Dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()
            if not (drop_aux and k.startswith("auxlayer."))}


def _best_card(config: TrainConfig, out: Path, miou: float, epoch: int) -> ModelCard:
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in out.resolve().name) or "trained"
    card = ModelCard(
        name=name, architecture=config.model, label_set=config.label_set, input_size=tuple(config.size),
        resize="stretch", color_order="rgb", mean=IMAGENET_MEAN, std=IMAGENET_STD, weights="best.pt",
        source=command_line(config),
        description=f"{config.model} trained on {config.data}: validation mIoU {100 * miou:.2f} % "
                    f"at epoch {epoch} ({config.size[0]}x{config.size[1]})")
    return validate_card(card)


def read_state(run_dir: str) -> Dict[str, Any]:
    """The training state ``last.pt`` of a run folder (read with ``weights_only=True``)."""
    path = Path(os.path.expanduser(run_dir))
    if path.is_dir():
        path = path / "last.pt"
    if not path.is_file():
        raise RailSegError(f"--resume {run_dir}: no last.pt there (a run writes it after its first epoch)")
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RailSegError(f"--resume {path}: not a readable training state ({first})") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise RailSegError(f"--resume {path}: not a rail-seg training state")
    return state


def resume_config(run_dir: str, **runtime: Any) -> TrainConfig:
    """The config of the run in ``run_dir``, set to resume it; only :data:`RUNTIME_FIELDS` may be changed."""
    bad = sorted(set(runtime) - set(RUNTIME_FIELDS))
    if bad:
        raise RailSegError(f"--resume continues the run as it was configured; {', '.join(bad)} cannot change "
                           f"(start a new run with --init {run_dir}/last.pt instead)")
    config = TrainConfig.from_dict(read_state(run_dir)["config"])
    values = {k: v for k, v in runtime.items() if v is not None}
    values.setdefault("out", config.out if Path(config.out).resolve() == Path(run_dir).resolve() else run_dir)
    return check_config(replace(config, resume=run_dir, **values))


class _Reporter:
    def __init__(self, verbose: bool):
        self.verbose = verbose
        self.warnings: List[str] = []

    def info(self, message: str) -> None:
        if self.verbose:
            from tqdm.auto import tqdm

            tqdm.write(message, file=sys.stderr)

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        print(f"warning: {message}", file=sys.stderr)


@contextlib.contextmanager
def _threads(count: int) -> Iterator[None]:
    """torch's CPU threads set to ``count`` for the block (0: torch's default, one per physical core)."""
    before = torch.get_num_threads()
    torch.set_num_threads(count or before)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.default_rng([seed, epoch, 13]).integers(0, 2 ** 62))


def evaluate(model: nn.Module, preprocess: nn.Module, frames: Frames, num_classes: int, device: torch.device,
             batch: int = 8, amp: bool = False, channels_last: bool = False) -> ConfusionMatrix:
    """Confusion matrix of ``model`` (eval mode) over ``frames``."""
    matrix = ConfusionMatrix(num_classes)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(frames), batch):
                images, labels = frames.batch(range(start, min(len(frames), start + batch)))
                x = preprocess(torch.from_numpy(images).to(device))
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast(device.type, enabled=amp):
                    out = model(x)
                if isinstance(out, (tuple, list)):
                    out = out[0]
                matrix.update(out.argmax(dim=1).to(torch.uint8).cpu().numpy(), labels)
    finally:
        model.train(was_training)
    return matrix


def train(config: TrainConfig, progress: bool = True, stop_after_epochs: Optional[int] = None,
          verbose: bool = True) -> TrainResult:
    """Train (or with ``config.resume``, continue) a run; see the module docstring for what it writes.

    ``progress``: tqdm bars (rendering, loading, each epoch with loss and lr); ``verbose``: a line per epoch
    and what was loaded, on stderr (warnings are printed either way). ``stop_after_epochs`` ends the call
    after that many epochs in all while the schedule still plans for ``config.epochs`` (a run split in
    parts; continue it with ``resume``).
    """
    config = check_config(config)
    with _threads(config.threads):
        return _train(config, progress, verbose, stop_after_epochs)


def _train(config: TrainConfig, progress: bool, verbose: bool, stop_after_epochs: Optional[int]) -> TrainResult:
    from tqdm.auto import tqdm

    from .graph import Preprocess

    report = _Reporter(verbose)
    out = Path(os.path.expanduser(config.out))
    state: Optional[Dict[str, Any]] = None
    if config.resume:
        state = read_state(config.resume)
        saved = TrainConfig.from_dict(state["config"])
        changed = [f.name for f in fields(TrainConfig)
                   if f.name not in RUNTIME_FIELDS and getattr(saved, f.name) != getattr(config, f.name)]
        if changed:
            raise RailSegError(f"--resume {config.resume}: the run was configured with other {', '.join(changed)}; "
                               f"resume with the same settings or start a new run")
    device = _device(config.device)
    amp = bool(config.amp)
    if amp and device.type != "cuda":
        report.warn("--amp needs CUDA; training in float32 on the CPU")
        amp = False
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    arch = get_architecture(config.model)
    use_aux = bool(config.aux)
    if use_aux and config.model != "fast_scnn":
        report.warn(f"--aux: {arch.name} has no auxiliary head; training without")
        use_aux = False
    labels = get_label_set(config.label_set)
    kind = parse_data_spec(config.data)[0]
    if kind in ("railsem19", "cityscapes") and kind != config.label_set:
        report.warn(f"--data is {kind} but --label-set {config.label_set}: ids are taken as {config.label_set} ids")

    torch.manual_seed(config.seed)
    model = build_model(config.model, labels.num_classes, aux=use_aux)
    init_report = None
    if config.init and state is None:  # before the data: a missing checkpoint shows at once
        init_report = init_weights(model, config.init, config.model, config.reinit_classifier)

    train_frames, val_frames = build_datasets(config, progress, report.warn)
    report.info(f"data: {len(train_frames)} training frames ({train_frames.name}), "
                f"{len(val_frames)} validation frames ({val_frames.name}), at {config.size[0]}x{config.size[1]}")
    for line in init_report.lines() if init_report else []:
        report.info(line)
    if len(train_frames) < config.batch:
        report.warn(f"{len(train_frames)} training frames are fewer than --batch {config.batch}: "
                    f"one batch of {len(train_frames)} an epoch")
    if min(config.batch, len(train_frames)) == 1:
        report.warn("batch of 1: BatchNorm layers that would see a single value use their running statistics")
    model.to(device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    card_for_norm = ModelCard(name="train", architecture=config.model, label_set=config.label_set,
                              input_size=tuple(config.size), color_order="rgb")
    preprocess = Preprocess(card_for_norm).to(device)
    optimizer = make_optimizer(model, config)
    scaler = _grad_scaler(amp)
    criterion = SegLoss(config.loss, IGNORE_ID, config.ohem_thresh, config.ohem_min_kept, config.aux_weight)

    batches = EpochBatches(len(train_frames), config.batch, config.seed)
    steps_per_epoch = len(batches)
    total_steps = steps_per_epoch * config.epochs
    start_epoch, step, best_miou, best_epoch = 0, 0, -1.0, 0
    history: List[Dict[str, float]] = []
    all_losses: List[float] = []
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        start_epoch, step = int(state["epoch"]), int(state["step"])
        best_miou, best_epoch = float(state["best_miou"]), int(state["best_epoch"])
        history = [dict(row) for row in state["history"]]
        all_losses = [float(v) for v in state.get("step_losses", [])]
        if int(state["total_steps"]) != total_steps:
            report.warn(f"the data now gives {total_steps} steps, the run planned {int(state['total_steps'])}; "
                        f"keeping the planned schedule")
            total_steps = int(state["total_steps"])
            steps_per_epoch = int(state["steps_per_epoch"])
        report.info(f"resuming {config.resume} after epoch {start_epoch} (step {step}, best mIoU "
                    f"{100 * max(best_miou, 0):.2f} %)")
    out.mkdir(parents=True, exist_ok=True)
    config_text = yaml.safe_dump(replace(config, resume=None, out=str(out)).to_dict(), sort_keys=False)
    atomic_write_text(out / "config.yaml", config_text)

    dataset = TrainSet(train_frames, config.augment, tuple(config.scale_range), config.seed)
    loader = torch.utils.data.DataLoader(
        dataset, batch_sampler=batches, collate_fn=collate, num_workers=config.workers, pin_memory=device.type == "cuda",
        persistent_workers=config.workers > 0)
    hooks = _guard_batchnorm(model)
    result = TrainResult(best_miou, best_epoch, out / "best.pt", out / "best.yaml", out / "last.pt", out, history,
                         first_step=step, init=init_report, warnings=report.warnings)
    last_epoch = config.epochs if stop_after_epochs is None else min(config.epochs, stop_after_epochs)
    use_jitter = "color" in config.augment
    model.train()
    try:
        for epoch in range(start_epoch, last_epoch):
            started = time.perf_counter()
            batches.epoch = epoch
            torch.manual_seed(_epoch_seed(config.seed, epoch))
            losses: List[float] = []
            lr = lr_at(step, total_steps, config)
            bar = tqdm(loader, total=steps_per_epoch, desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch",
                       disable=not progress, leave=False, dynamic_ncols=True)
            for images, target, jitter in bar:
                lr = lr_at(step, total_steps, config)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                images = images.to(device, non_blocking=True)
                target = target.to(device, non_blocking=True).long()
                if use_jitter:
                    images = color_jitter(images, jitter.to(device))
                x = preprocess(images)
                if config.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast(device.type, enabled=amp):
                    outputs = model(x)
                loss = criterion(outputs, target)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise RailSegError(f"training diverged at step {step} (loss {value}); lower --lr")
                losses.append(value)
                result.step_lrs.append(lr)
                result.step_losses.append(value)
                step += 1
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}", lr=f"{lr:.2e}", refresh=False)
            bar.close()
            all_losses += losses
            matrix = evaluate(model, preprocess, val_frames, labels.num_classes, device, max(1, config.batch),
                              amp, config.channels_last)
            miou, accuracy = matrix.miou(), matrix.pixel_accuracy()
            miou = 0.0 if math.isnan(miou) else miou
            row = {"epoch": epoch + 1, "step": step, "lr": lr, "train_loss": float(np.mean(losses)),
                   "val_miou": miou, "val_pixel_acc": accuracy, "seconds": time.perf_counter() - started}
            history.append(row)
            improved = miou > best_miou
            if improved:
                best_miou, best_epoch = miou, epoch + 1
                _save(out / "best.pt", _plain_state(model, drop_aux=True))
                atomic_write_text(out / "best.yaml", _best_card(config, out, miou, epoch + 1).to_yaml())
            _save(out / "last.pt", {
                "format": STATE_FORMAT, "config": config.to_dict(), "model": _plain_state(model),
                "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict() if amp else {},
                "epoch": epoch + 1, "step": step, "total_steps": total_steps, "steps_per_epoch": steps_per_epoch,
                "lr": lr, "next_lr": lr_at(step, total_steps, config), "best_miou": best_miou,
                "best_epoch": best_epoch, "seed": config.seed, "history": history, "step_losses": all_losses})
            _write_log(out / "log.csv", history)
            plot_curves(out / "curves.png", history, all_losses, steps_per_epoch,
                        f"{config.model} on {config.data}, {config.size[0]}x{config.size[1]}")
            report.info(f"epoch {epoch + 1}/{config.epochs}: loss {row['train_loss']:.4f}, lr {lr:.2e}, "
                        f"val mIoU {100 * miou:.2f} %, pixel acc {100 * accuracy:.2f} %"
                        f"{' (best)' if improved else ''}, {row['seconds']:.1f} s")
    finally:
        for handle in hooks:
            handle.remove()
    result.best_miou, result.best_epoch = best_miou, best_epoch
    return result
