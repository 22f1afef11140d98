"""Label sets the networks are trained on: names, ids, colours, categories, ignore id.

Facts from RailSem19 (rs19-config.json) and the Cityscapes scripts; see docs/labels.md in shared.
"""

from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

import numpy as np

IGNORE_ID = 255


@dataclass(frozen=True)
class LabelSet:
    """A set of trainable classes 0..N-1 plus the ignore id."""

    name: str
    names: Tuple[str, ...]
    colors: Tuple[Tuple[int, int, int], ...]  # RGB, one per class
    categories: Optional[Tuple[str, ...]] = None  # category of each class, where the set has them
    ignore_id: int = IGNORE_ID
    _palette: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.names) != len(self.colors):
            raise ValueError(f"label set {self.name}: {len(self.names)} names but {len(self.colors)} colours")
        palette = np.zeros((256, 3), dtype=np.uint8)  # ids without a class (255 included) are black
        palette[: len(self.colors)] = np.asarray(self.colors, dtype=np.uint8)
        palette.setflags(write=False)
        object.__setattr__(self, "_palette", palette)

    @property
    def num_classes(self) -> int:
        return len(self.names)

    @property
    def palette(self) -> np.ndarray:
        """256x3 uint8 RGB lookup table: ``palette[labels]`` colours a label map."""
        return self._palette

    @property
    def category_names(self) -> Tuple[str, ...]:
        """Categories in order of first appearance (empty when the set has none)."""
        if not self.categories:
            return ()
        return tuple(dict.fromkeys(self.categories))

    def category_lut(self) -> np.ndarray:
        """256-entry uint8 table mapping class id to category id (ignore stays ignore)."""
        if not self.categories:
            raise ValueError(f"label set {self.name} has no categories")
        index = {name: i for i, name in enumerate(self.category_names)}
        lut = np.full(256, self.ignore_id, dtype=np.uint8)
        for class_id, category in enumerate(self.categories):
            lut[class_id] = index[category]
        return lut


RAILSEM19 = LabelSet(
    name="railsem19",
    names=(
        "road", "sidewalk", "construction", "tram-track", "fence", "pole", "traffic-light",
        "traffic-sign", "vegetation", "terrain", "sky", "human", "rail-track", "car", "truck",
        "trackbed", "on-rails", "rail-raised", "rail-embedded",
    ),
    colors=(
        (128, 64, 128), (244, 35, 232), (70, 70, 70), (192, 0, 128), (190, 153, 153),
        (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
        (70, 130, 180), (220, 20, 60), (230, 150, 140), (0, 0, 142), (0, 0, 70),
        (90, 40, 40), (0, 80, 100), (0, 254, 254), (0, 68, 63),
    ),
)

CITYSCAPES = LabelSet(
    name="cityscapes",
    names=(
        "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
        "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
        "motorcycle", "bicycle",
    ),
    colors=(
        (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
        (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
        (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
        (0, 80, 100), (0, 0, 230), (119, 11, 32),
    ),
    categories=(
        "flat", "flat", "construction", "construction", "construction", "object", "object",
        "object", "nature", "nature", "sky", "human", "human", "vehicle", "vehicle", "vehicle",
        "vehicle", "vehicle", "vehicle",
    ),
)

LABEL_SETS: Dict[str, LabelSet] = {s.name: s for s in (RAILSEM19, CITYSCAPES)}

# Cityscapes full label ids (gtFine_labelIds) to train ids; everything unlisted is ignored.
_CITYSCAPES_ID_TO_TRAIN_ID = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11,
    25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}
CITYSCAPES_ID_TO_TRAIN_ID = np.full(256, IGNORE_ID, dtype=np.uint8)
for _full_id, _train_id in _CITYSCAPES_ID_TO_TRAIN_ID.items():
    CITYSCAPES_ID_TO_TRAIN_ID[_full_id] = _train_id
CITYSCAPES_ID_TO_TRAIN_ID.setflags(write=False)


def get_label_set(name: str) -> LabelSet:
    """The label set called ``name`` (``railsem19`` or ``cityscapes``)."""
    try:
        return LABEL_SETS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown label set {name!r}; known: {', '.join(sorted(LABEL_SETS))}") from None


def colorize(labels: np.ndarray, label_set: LabelSet) -> np.ndarray:
    """HxW class ids to an HxWx3 RGB image (one table lookup, no per-pixel Python)."""
    return label_set.palette[labels]
