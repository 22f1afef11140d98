"""Dataset folders as (image, labels) pairs, shared by make-bag and the training tool.

Layouts (``ROOT`` is the folder given on the command line):

* ``railsem19``: ``ROOT/jpgs/<split>/*.jpg`` with labels ``ROOT/uint8/<split>/<stem>.png``
  (split ``rs19_val`` unless given; ``.png`` images are accepted too, as the synthetic
  generator writes them).
* ``cityscapes``: ``ROOT/leftImg8bit/<split>/<city>/<prefix>_leftImg8bit.png`` with labels
  ``ROOT/gtFine/<split>/<city>/<prefix>_gtFine_labelTrainIds.png``, or where that is absent
  ``<prefix>_gtFine_labelIds.png`` mapped to train ids (split ``val`` unless given).
* ``pairs``: ``ROOT/images/`` and ``ROOT/labels/`` (``ROOT/images/<split>/`` and
  ``ROOT/labels/<split>/`` when a split is given), or ``ROOT`` written as
  ``IMAGES_DIR:LABELS_DIR``; images and label maps are matched by file stem.

Label maps are single-channel 8-bit images of train ids (255 = ignore). Images without a label
map are listed with label path None.
"""

import os
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple, Union

import cv2
import numpy as np

from rail_seg_ros.contract import MAX_PIXELS_DEFAULT
from rail_seg_ros.errors import RailSegError
from rail_seg_ros.image_codec import decode_image_bytes
from rail_seg_ros.labels import CITYSCAPES_ID_TO_TRAIN_ID

PathLike = Union[str, "os.PathLike[str]"]
Pair = Tuple[Path, Optional[Path]]

LAYOUTS = ("railsem19", "cityscapes", "pairs")
DEFAULT_SPLITS: Dict[str, Optional[str]] = {"railsem19": "rs19_val", "cityscapes": "val", "pairs": None}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")

_CS_IMAGE_SUFFIX = "_leftImg8bit.png"
_CS_TRAIN_IDS = "_gtFine_labelTrainIds.png"
_CS_LABEL_IDS = "_gtFine_labelIds.png"


def _check_layout(layout: str) -> str:
    if layout not in LAYOUTS:
        raise RailSegError(f"dataset layout {layout!r} is unknown; choose one of {', '.join(LAYOUTS)}")
    return layout


def _image_files(folder: Path) -> List[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _by_stem(folder: Path) -> Dict[str, Path]:
    """Label files of a folder by stem, a .png winning over other suffixes."""
    found: Dict[str, Path] = {}
    for path in _image_files(folder):
        if path.stem not in found or path.suffix.lower() == ".png":
            found[path.stem] = path
    return found


def _railsem19(root: Path, split: str) -> Tuple[List[Pair], str]:
    image_dir, label_dir = root / "jpgs" / split, root / "uint8" / split
    labels = _by_stem(label_dir)
    pairs = [(image, labels.get(image.stem)) for image in _image_files(image_dir)]
    return pairs, f"{image_dir}/*.jpg (or *.png)"


def _cityscapes_label(gt_dir: Path, prefix: str) -> Optional[Path]:
    for suffix in (_CS_TRAIN_IDS, _CS_LABEL_IDS):
        candidate = gt_dir / (prefix + suffix)
        if candidate.is_file():
            return candidate
    return None


def _cityscapes(root: Path, split: str) -> Tuple[List[Pair], str]:
    pattern = f"*/*{_CS_IMAGE_SUFFIX}"
    pairs = []
    for image in sorted((root / "leftImg8bit" / split).glob(pattern)):
        prefix = image.name[: -len(_CS_IMAGE_SUFFIX)]
        gt_dir = root / "gtFine" / split / image.parent.name
        pairs.append((image, _cityscapes_label(gt_dir, prefix)))
    return pairs, f"{root / 'leftImg8bit' / split}/{pattern}"


def _pair_dirs(root: PathLike, split: Optional[str]) -> Tuple[Path, Path]:
    text = os.fspath(root)
    if not Path(text).is_dir() and ":" in text:
        images, labels = (Path(part) for part in text.split(":", 1))
    else:
        images, labels = Path(text) / "images", Path(text) / "labels"
    if split:
        images, labels = images / split, labels / split
    return images, labels


def _pairs(root: PathLike, split: Optional[str]) -> Tuple[List[Pair], str]:
    image_dir, label_dir = _pair_dirs(root, split)
    labels = _by_stem(label_dir)
    pairs = [(image, labels.get(image.stem)) for image in _image_files(image_dir)]
    return pairs, f"{image_dir}/*{{{','.join(IMAGE_SUFFIXES)}}}"


def iter_dataset(
    layout: str, root: PathLike, split: Optional[str] = None, limit: Optional[int] = None
) -> List[Pair]:
    """(image path, label path or None) of every frame of a dataset folder, sorted, at most ``limit``."""
    _check_layout(layout)
    if limit is not None and limit < 1:
        raise RailSegError(f"dataset limit must be at least 1, got {limit}")
    split = split or DEFAULT_SPLITS[layout]
    if layout == "pairs":
        pairs, looked_for = _pairs(root, split)
    else:
        base = Path(root)
        if not base.is_dir():
            raise RailSegError(f"dataset folder {base} does not exist or is not a folder")
        finder = _railsem19 if layout == "railsem19" else _cityscapes
        pairs, looked_for = finder(base, split or "")
    if not pairs:
        raise RailSegError(f"dataset {root} ({layout}): no frames found at {looked_for}")
    return pairs[:limit] if limit is not None else pairs


def _read_bytes(path: Path, what: str) -> np.ndarray:
    try:
        return np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise RailSegError(f"{what} {path}: cannot be read ({exc.strerror or exc})") from None


def read_rgb(path: PathLike, max_pixels: int = MAX_PIXELS_DEFAULT) -> np.ndarray:
    """An image file as HxWx3 uint8 RGB; one claiming more than ``max_pixels`` is refused before decoding."""
    path = Path(path)
    image = decode_image_bytes(_read_bytes(path, "image"), cv2.IMREAD_COLOR, f"image {path}", max_pixels)
    if image is None:
        raise RailSegError(f"image {path}: cannot be decoded (not an image, or damaged)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_label_map(path: PathLike) -> np.ndarray:
    """A label image as HxW uint8 ids (a grey image saved with three equal channels is accepted)."""
    path = Path(path)
    labels = decode_image_bytes(_read_bytes(path, "label map"), cv2.IMREAD_UNCHANGED, f"label map {path}")
    if labels is None:
        raise RailSegError(f"label map {path}: cannot be decoded (not an image, or damaged)")
    if labels.dtype != np.uint8:
        raise RailSegError(f"label map {path}: has {labels.dtype} pixels, expected one 8-bit id per pixel")
    if labels.ndim == 3:
        first = labels[:, :, 0]
        if not all(np.array_equal(first, labels[:, :, c]) for c in range(1, labels.shape[2])):
            raise RailSegError(f"label map {path}: is a colour image, expected one 8-bit id per pixel")
        labels = first
    return np.ascontiguousarray(labels)


def load_pair(
    image_path: PathLike, label_path: Optional[PathLike], layout: str
) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """(HxWx3 RGB uint8 image, HxW uint8 train ids or None) of one frame."""
    _check_layout(layout)
    image = read_rgb(image_path)
    if label_path is None:
        return image, None
    labels = read_label_map(label_path)
    if layout == "cityscapes" and Path(label_path).name.endswith(_CS_LABEL_IDS):
        labels = CITYSCAPES_ID_TO_TRAIN_ID[labels]
    if labels.shape != image.shape[:2]:
        raise RailSegError(
            f"label map {label_path}: is {labels.shape[1]}x{labels.shape[0]}, "
            f"its image {image.shape[1]}x{image.shape[0]}"
        )
    return image, labels


def iter_frames(pairs: List[Pair], layout: str) -> Iterator[Tuple[np.ndarray, Optional[np.ndarray]]]:
    """Load the pairs of ``iter_dataset`` one after the other."""
    for image_path, label_path in pairs:
        yield load_pair(image_path, label_path, layout)
