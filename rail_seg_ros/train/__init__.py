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

Modules: config (TrainConfig, recipes, checks, lr schedule), data (frames of every source, the loader's
dataset and sampler), augment, losses, weight_init (``--init``), artifacts (what a run writes and reads
back), loop (the run). The names below are the package's public interface.
"""

from .artifacts import LOG_COLUMNS, STATE_FORMAT, command_line, plot_curves, read_state, resume_config
from .augment import COLOR_JITTER, PAD_COLOR, augment_pair, color_jitter
from .config import (
    AUGMENTATIONS,
    DATA_FORMS,
    DATA_KINDS,
    DEVICES,
    LOSSES,
    OPTIMIZERS,
    RECIPE_NOTES,
    RECIPES,
    RUNTIME_FIELDS,
    SCHEDULES,
    TrainConfig,
    check_config,
    default_label_set,
    default_recipe,
    lr_at,
    make_config,
    parse_augment,
    parse_data_spec,
)
from .data import (
    SYNTH_VAL_SEED,
    EpochBatches,
    FileFrameSource,
    FrameSource,
    FrameSubset,
    MemoryFrameSource,
    TrainSet,
    bag_frames,
    build_datasets,
    build_frames,
    collate,
    dataset_frames,
    label_lut,
    resize_pair,
    split_frames,
    synth_frames,
    synth_val_count,
)
from .loop import TrainResult, evaluate, make_optimizer, train
from .losses import SegLoss, ohem_cross_entropy
from .weight_init import CHECKPOINT_SUFFIXES, InitReport, classifier_layers, init_weights

__all__ = [
    "AUGMENTATIONS", "CHECKPOINT_SUFFIXES", "COLOR_JITTER", "DATA_FORMS", "DATA_KINDS", "DEVICES", "LOG_COLUMNS",
    "LOSSES", "OPTIMIZERS", "PAD_COLOR", "RECIPES", "RECIPE_NOTES", "RUNTIME_FIELDS", "SCHEDULES", "STATE_FORMAT",
    "SYNTH_VAL_SEED", "EpochBatches", "FileFrameSource", "FrameSource", "FrameSubset", "InitReport", "MemoryFrameSource", "SegLoss",
    "TrainConfig", "TrainResult", "TrainSet", "augment_pair", "bag_frames", "build_datasets", "build_frames",
    "check_config", "classifier_layers", "collate", "color_jitter", "command_line", "dataset_frames",
    "default_label_set", "default_recipe", "evaluate", "init_weights", "label_lut", "lr_at", "make_config",
    "make_optimizer", "ohem_cross_entropy", "parse_augment", "parse_data_spec", "plot_curves", "read_state",
    "resize_pair", "resume_config", "split_frames", "synth_frames", "synth_val_count", "train",
]
