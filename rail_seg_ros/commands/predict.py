"""Segment image files with a model card and write, per image, <stem>_labels.png (uint8 class ids at the
image's resolution), <stem>_color.png (palette) and <stem>_overlay.png (image blended with the palette).

Nothing is written unless every image succeeds; a --out folder holding files is refused unless --force, and
two images with the same file stem are refused before any work. Examples:
  rail-seg predict --model squeezenas_lat_small_cityscapes --weights lat_small.pth frame.png --out out/
  rail-seg predict --model squeezenas_mac_small --weights ft.pth --labels railsem19 --color-order bgr *.jpg --out out/"""

import argparse
import os
import shutil
import tempfile
from pathlib import Path
from typing import Dict, List

import cv2
import numpy as np
from tqdm import tqdm

from ..contract import MAX_PIXELS_DEFAULT
from ..datasets import read_rgb
from ..errors import RailSegError
from ..fileio import atomic_path, check_output_folder
from ..pipeline import Segmenter
from .model_args import add_input_size_argument, add_model_arguments, segmenter_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    add_input_size_argument(parser)
    parser.add_argument("--alpha", type=float, default=0.5, help="overlay opacity of the palette (default 0.5)")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (png, jpg, ...)")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="output folder, new or empty (created if missing); one holding files is refused")
    parser.add_argument("--force", action="store_true",
                        help="write into a --out folder that holds files already (same-named outputs are replaced, "
                             "nothing else is touched)")
    parser.add_argument("--max-pixels", type=int, default=MAX_PIXELS_DEFAULT, metavar="N",
                        help=f"refuse images of more than N pixels, read from the file's header before decoding "
                             f"(default {MAX_PIXELS_DEFAULT})")


def _check_output_names(paths: List[Path]) -> None:
    """Two images with one stem would write the same output files: refused before any work."""
    seen: Dict[str, Path] = {}
    for path in paths:
        earlier = seen.setdefault(path.stem, path)
        if earlier is not path:
            raise RailSegError(f"images {earlier} and {path} would both be written as {path.stem}_labels.png "
                               f"(and _color, _overlay); rename one or segment them in separate runs")


def _write_png(path: Path, image: np.ndarray, rgb: bool) -> None:
    if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if rgb else image):
        raise RailSegError(f"cannot write {path}")


def _segment_into(folder: Path, segmenter: Segmenter, paths: List[Path], max_pixels: int) -> None:
    for path in tqdm(paths, desc="predict", unit="image", disable=len(paths) < 2):
        image = read_rgb(path, max_pixels)  # the datasets' reader: one place decodes image files
        result = segmenter.process(image)
        _write_png(folder / f"{path.stem}_labels.png", result.labels, rgb=False)
        _write_png(folder / f"{path.stem}_color.png", result.color, rgb=True)
        _write_png(folder / f"{path.stem}_overlay.png", result.overlay, rgb=True)


def run(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.images]
    for path in paths:  # fail before loading the model when a file is plainly missing or not an image
        if not path.is_file():
            raise RailSegError(f"image {path}: no such file")
        if not cv2.haveImageReader(str(path)):
            raise RailSegError(f"image {path}: cannot be read as an image")
    _check_output_names(paths)
    if not 0.0 <= args.alpha <= 1.0:
        raise RailSegError(f"--alpha {args.alpha} is not between 0 and 1")
    if args.max_pixels < 1:
        raise RailSegError(f"--max-pixels {args.max_pixels} must be at least 1")
    out = Path(args.out)
    check_output_folder(out, "--out", force=args.force)
    segmenter = segmenter_from_args(args, overlay_alpha=args.alpha)
    if not out.is_dir():  # a new folder appears whole or not at all
        with atomic_path(out) as tmp:
            tmp.mkdir()
            _segment_into(tmp, segmenter, paths, args.max_pixels)
    else:  # an empty folder, or --force: staged inside it, then moved in file by file
        staging = Path(tempfile.mkdtemp(prefix=".rail-seg-predict-", dir=out))
        try:
            _segment_into(staging, segmenter, paths, args.max_pixels)
            for staged in sorted(staging.iterdir()):
                os.replace(staged, out / staged.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    print(f"{len(paths)} image(s) segmented with {segmenter.describe()}; {3 * len(paths)} files in {out}")
    return 0
