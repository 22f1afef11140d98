"""Model cards: what belongs with a set of weights (architecture, label set, input size, colour order,
normalisation, where the weights are and where they came from), read from config/models/*.yaml.
"""

import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import yaml

from .errors import RailSegError
from .labels import LabelSet, get_label_set
from .nets import ARCHITECTURES, get_architecture
from .resources import data_dirs
from .sizes import parse_size

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESIZE_POLICIES = ("stretch", "fit")
COLOR_ORDERS = ("rgb", "bgr")


@dataclass(frozen=True)
class ModelCard:
    name: str
    architecture: str
    label_set: str = "cityscapes"
    input_size: Tuple[int, int] = (1024, 2048)  # height, width the network runs at
    resize: str = "stretch"  # stretch to input_size, or fit: keep aspect and pad
    color_order: str = "rgb"  # channel order the weights expect
    mean: Tuple[float, float, float] = IMAGENET_MEAN  # on [0, 1] pixel values, in the card's colour order
    std: Tuple[float, float, float] = IMAGENET_STD
    weights: Optional[str] = None  # a checkpoint path (relative to the card's folder or models/)
    onnx: Optional[str] = None  # an exported graph shipped with the weights, if any
    source: str = ""  # where the weights come from, and their licence
    description: str = ""
    path: Optional[str] = field(default=None, compare=False)  # the YAML file it was read from

    @property
    def labels(self) -> LabelSet:
        return get_label_set(self.label_set)

    @property
    def num_classes(self) -> int:
        return self.labels.num_classes

    def resolve(self, relative: Optional[str]) -> Optional[Path]:
        """A weights or ONNX path of the card as it is on disk (None when it cannot be found)."""
        if not relative:
            return None
        candidates = [Path(os.path.expanduser(relative))]
        if not candidates[0].is_absolute():
            if self.path:
                candidates.append(Path(self.path).parent / relative)
            candidates += [d / relative for d in data_dirs("models")]
        for candidate in candidates:
            if candidate.exists():
                return candidate
        return None

    def weights_path(self) -> Path:
        """The card's checkpoint; a clear error saying where to get it when it is missing."""
        if not self.weights:
            raise RailSegError(f"model card {self.name} names no weights; give a weights path (--weights / -p weights:=PATH)")
        found = self.resolve(self.weights)
        if found is None:
            where = f" (get them from {self.source})" if self.source else ""
            raise RailSegError(f"model card {self.name}: weights {self.weights} not found{where}; "
                               f"put them there or give a weights path (--weights / -p weights:=PATH)")
        return found

    def to_yaml(self) -> str:
        data = asdict(self)
        data.pop("path")
        data["input_size"] = list(self.input_size)
        data["mean"] = list(self.mean)
        data["std"] = list(self.std)
        return yaml.safe_dump(data, sort_keys=False)


def available_cards() -> Dict[str, Path]:
    """Every shipped card by name (the first found wins, source tree last)."""
    cards: Dict[str, Path] = {}
    for directory in reversed(data_dirs("cards")):
        for path in sorted(directory.glob("*.yaml")):
            cards[path.stem] = path
    return cards


def _card_from_dict(data: Dict[str, Any], origin: str) -> ModelCard:
    known = {f for f in ModelCard.__dataclass_fields__ if f != "path"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise RailSegError(f"model card {origin}: unknown keys {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    if "architecture" not in data:
        raise RailSegError(f"model card {origin}: no architecture given")
    values = dict(data)
    if "input_size" in values:
        size = values["input_size"]
        values["input_size"] = parse_size(size, option=f"model card {origin}: input_size")
    for key in ("mean", "std"):
        if key in values:
            values[key] = tuple(float(v) for v in values[key])
            if len(values[key]) != 3:
                raise RailSegError(f"model card {origin}: {key} needs 3 values, got {len(values[key])}")
    values.setdefault("name", Path(origin).stem)
    return validate_card(ModelCard(**values))


def validate_card(card: ModelCard) -> ModelCard:
    """Check a card's values; one error naming the card and the value."""
    arch = ARCHITECTURES.get(card.architecture)
    if arch is None:
        raise RailSegError(f"model card {card.name}: unknown architecture {card.architecture!r}; "
                           f"known: {', '.join(sorted(ARCHITECTURES))}")
    try:
        get_label_set(card.label_set)
    except ValueError as exc:
        raise RailSegError(f"model card {card.name}: {exc}") from None
    if card.resize not in RESIZE_POLICIES:
        raise RailSegError(f"model card {card.name}: resize {card.resize!r} is not one of {', '.join(RESIZE_POLICIES)}")
    if card.color_order not in COLOR_ORDERS:
        raise RailSegError(f"model card {card.name}: color_order {card.color_order!r} is not rgb or bgr")
    height, width = card.input_size
    if height % arch.input_multiple or width % arch.input_multiple or min(height, width) < arch.min_size:
        raise RailSegError(f"model card {card.name}: input_size {height}x{width} does not suit {arch.name}, "
                           f"which takes {arch.note}, at least {arch.min_size}")
    if any(s <= 0 for s in card.std):
        raise RailSegError(f"model card {card.name}: std must be positive")
    return card


def read_card(path: Path) -> ModelCard:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise RailSegError(f"model card {path}: cannot be read ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise RailSegError(f"model card {path}: expected a mapping of keys to values")
    card = _card_from_dict(data, str(path))
    return replace(card, path=str(Path(path).resolve()))


def card_for_architecture(name: str, label_set: Optional[str] = None, input_size: Optional[Tuple[int, int]] = None,
                          color_order: Optional[str] = None) -> ModelCard:
    """A card for a bare architecture name: its public label set, 1024x2048, RGB, ImageNet normalisation."""
    arch = get_architecture(name)
    card = ModelCard(name=name, architecture=name, label_set=label_set or arch.public_label_set,
                     input_size=input_size or (1024, 2048), color_order=color_order or "rgb")
    return validate_card(card)


# What a card's shipped ONNX export has baked in: overriding any of them sets the export aside.
BAKED_INTO_EXPORT = ("weights", "color_order", "input_size")


def load_card(name_or_path: str, weights: Optional[str] = None, label_set: Optional[str] = None,
              color_order: Optional[str] = None, input_size: Optional[Tuple[int, int]] = None) -> ModelCard:
    """A card by path, by shipped card name, or by architecture name; keyword arguments override it."""
    text = str(name_or_path)
    path = Path(os.path.expanduser(text))
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise RailSegError(f"model card {path}: no such file")
        card = read_card(path)
    elif text in available_cards():
        card = read_card(available_cards()[text])
    elif text in ARCHITECTURES:
        card = card_for_architecture(text)
    else:
        known = sorted(available_cards()) + sorted(ARCHITECTURES)
        raise RailSegError(f"model {text!r} is neither a card file, a shipped card nor an architecture; known: "
                           f"{', '.join(known)}")
    overrides: Dict[str, Any] = {}
    if weights:
        overrides["weights"] = str(Path(os.path.expanduser(weights)).resolve())
    if label_set:
        overrides["label_set"] = label_set
    if color_order:
        overrides["color_order"] = color_order
    if input_size:
        overrides["input_size"] = tuple(input_size)
    if any(key in overrides and overrides[key] != getattr(card, key) for key in BAKED_INTO_EXPORT):
        overrides["onnx"] = None  # the shipped export belongs to the card's own values of these
    return validate_card(replace(card, **overrides)) if overrides else card


def build_network(card: ModelCard, load_weights: bool = True, aux: bool = False):
    """The card's torch network in eval mode, with its weights loaded strictly when ``load_weights``."""
    from .nets import build_model, require_torch

    require_torch(f"model card {card.name}: building its network")
    from .checkpoints import load_weights as load

    model = build_model(card.architecture, card.num_classes, aux=aux)
    if load_weights:
        load(model, card.weights_path())
    return model
