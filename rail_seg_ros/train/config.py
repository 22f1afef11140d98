"""What a training run computes from: :class:`TrainConfig`, the recipes, the checks and the lr schedule."""
# Python 3.8 target: typing.List/Dict/Optional/Tuple stay (no builtin generics, no X | Y).

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Dict, Optional, Tuple

from ..errors import RailSegError
from ..labels import LABEL_SETS
from ..nets import get_architecture
from ..sizes import parse_size

DATA_KINDS = ("railsem19", "cityscapes", "pairs", "bag", "synth")
DATA_FORMS = "railsem19:ROOT, cityscapes:ROOT, pairs:ROOT, bag:PATH or synth:N"
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("poly", "cosine", "step")
LOSSES = ("ce", "ohem")
AUGMENTATIONS = ("flip", "scale", "crop", "color")
DEVICES = ("auto", "cpu", "cuda")
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
    # loss weight of the pixels of a class (label set names; the others weigh 1): rare classes that matter
    class_weights: Dict[str, float] = field(default_factory=dict)
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
    synth_track_obstacles: float = 0.0  # share of synth:N training scenes with an obstacle on the ego track
    synth_drab_clothes: float = 0.0  # share of synth:N training people dressed in the ground's greys
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
    if "size" in merged:  # "HxW" from the command line, [H, W] from a YAML config
        merged["size"] = parse_size(merged["size"], option="--size")
    if isinstance(merged.get("augment"), str):
        merged["augment"] = parse_augment(merged["augment"])
    if isinstance(merged.get("class_weights"), str):
        merged["class_weights"] = parse_class_weights(merged["class_weights"])
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


def parse_class_weights(text: str) -> Dict[str, float]:
    """``"human=4,car=3"`` -> {"human": 4.0, "car": 3.0} (names are checked against the label set later)."""
    weights: Dict[str, float] = {}
    for item in (i.strip() for i in str(text).split(",") if i.strip()):
        name, sep, value = item.partition("=")
        try:
            weights[name.strip()] = float(value)   # above 0: check_config, for YAML configs too
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise RailSegError(f"--class-weight {text!r}: expected NAME=W,... with weights above 0, e.g. human=4,car=3")
    return weights


def class_weight_vector(config: "TrainConfig") -> Optional[Tuple[float, ...]]:
    """One loss weight per class of the run's label set (None when every class weighs 1)."""
    if not config.class_weights:
        return None
    names = LABEL_SETS[config.label_set].names
    return tuple(float(config.class_weights.get(name, 1.0)) for name in names)


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
    unknown = sorted(set(config.class_weights) - set(LABEL_SETS[config.label_set].names))
    if unknown:
        raise RailSegError(f"--class-weight: {', '.join(unknown)} not in the {config.label_set} classes "
                           f"({', '.join(LABEL_SETS[config.label_set].names)})")
    if not all(w > 0 for w in config.class_weights.values()):
        raise RailSegError(f"--class-weight {config.class_weights}: weights must be above 0")
    if not 0 <= config.val_fraction < 1:
        raise RailSegError(f"val_fraction {config.val_fraction}: must be in [0, 1)")
    for option, value in (("--synth-track-obstacles", config.synth_track_obstacles),
                          ("--synth-drab-clothes", config.synth_drab_clothes)):
        if not 0 <= value <= 1:
            raise RailSegError(f"{option} {value}: must be from 0 to 1")
        if value > 0 and parse_data_spec(config.data)[0] != "synth":
            raise RailSegError(f"{option} is for synth:N data, not --data {config.data}")
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
