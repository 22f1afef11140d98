"""Segment image files with a model card and write, per image, <stem>_labels.png (uint8 class ids at the
image's resolution), <stem>_color.png (palette) and <stem>_overlay.png (image blended with the palette).

Nothing is written unless every image succeeds. Examples:
  rail-seg predict --model squeezenas_lat_small_cityscapes --weights lat_small.pth frame.png --out out/
  rail-seg predict --model squeezenas_mac_small --weights ft.pth --labels railsem19 --color-order bgr *.jpg --out out/"""

import argparse
import os
import shutil
import tempfile
from pathlib import Path
from typing import List

import cv2
import numpy as np
from tqdm import tqdm

from ..datasets import read_rgb
from ..errors import RailSegError
from .model_args import add_input_size_argument, add_model_arguments, segmenter_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    add_input_size_argument(parser)
    parser.add_argument("--alpha", type=float, default=0.5, help="overlay opacity of the palette (default 0.5)")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (png, jpg, ...)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")


def _write_png(path: Path, image: np.ndarray, rgb: bool) -> None:
    if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if rgb else image):
        raise RailSegError(f"cannot write {path}")


def run(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.images]
    for path in paths:  # fail before loading the model when a file is plainly missing or not an image
        if not path.is_file():
            raise RailSegError(f"image {path}: no such file")
        if not cv2.haveImageReader(str(path)):
            raise RailSegError(f"image {path}: cannot be read as an image")
    if not 0.0 <= args.alpha <= 1.0:
        raise RailSegError(f"--alpha {args.alpha} is not between 0 and 1")
    segmenter = segmenter_from_args(args, overlay_alpha=args.alpha)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".rail-seg-predict-", dir=out))
    written: List[Path] = []
    try:
        for path in tqdm(paths, desc="predict", unit="image", disable=len(paths) < 2):
            image = read_rgb(path)  # the datasets' reader: one place decodes image files
            result = segmenter.process(image)
            _write_png(staging / f"{path.stem}_labels.png", result.labels, rgb=False)
            _write_png(staging / f"{path.stem}_color.png", result.color, rgb=True)
            _write_png(staging / f"{path.stem}_overlay.png", result.overlay, rgb=True)
        for staged in sorted(staging.iterdir()):
            os.replace(staged, out / staged.name)
            written.append(out / staged.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"{len(paths)} image(s) segmented with {segmenter.describe()}; {len(written)} files in {out}")
    return 0
