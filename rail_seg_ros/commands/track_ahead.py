"""Find the ego track, its clearance envelope and the obstacles on it, with distances from a flat-ground
camera model.

Inputs: single-channel 8-bit PNGs holding only RailSem19 ids (0..18, 255) are label maps and are used as
they are; every other image is segmented first with --model (a RailSem19 card such as rail_default).
The camera: --camera-info (a CameraInfo YAML: camera_calibration's ost.yaml or a `ros2 topic echo`),
--camera-height above the rail heads, --camera-pitch (+ down) and --camera-roll (+ right side down).

--json prints one JSON object per input, in a list:
  {"image": path, "ego_track": {"left_rail": [[u, v], ...], "right_rail": [...], "centerline": [...],
   "polygon": [...], "source": "rails" | "track-classes", "length_m": m} or null,
   "obstacles": [{"class": name, "distance_m": m, "pixels": n, "bbox": [u0, v0, u1, v1], "lateral_m": m,
   "contact": [u, v]}], "clear": bool, "clear_distance_m": m, "status": text, "pitch_deg": deg,
   "pitch_estimate_deg": deg or null}
(pixels of the input; bbox u1/v1 exclusive; distances along the track from the camera's foot point).
--out DIR writes <stem>_track.png overlays (track, envelope, obstacles) and track_ahead.json; the folder
must not exist or be empty, and appears complete or not at all.

Examples:
  rail-seg track-ahead labels/*.png --camera-info cam.yaml --camera-height 2.4 --camera-pitch 3 --json
  rail-seg track-ahead frame.jpg --model rail_default --camera-info cam.yaml --camera-height 2.4 --out ahead/"""

import argparse
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import cv2
import numpy as np

from ..datasets import read_label_map, read_rgb
from ..errors import RailSegError
from ..fileio import atomic_path, check_writable
from ..labels import IGNORE_ID, RAILSEM19, colorize
from ..track import GroundCamera, Intrinsics, TrackAhead, TrackConfig, draw_track, load_camera_info
from ..track.config import DEFAULT_OBSTACLES, ENVELOPE_HALF_WIDTH_M, ENVELOPE_HEIGHT_M, STANDARD_GAUGE_M
from .model_args import add_model_arguments, segmenter_from_args

JSON_NAME = "track_ahead.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="LABELS_OR_IMAGES",
                        help="RailSem19 label maps (single-channel PNG ids) or images to segment with --model")
    # the model is needed only for inputs that are not label maps
    add_model_arguments(parser, required=False,
                        model_help="model card for inputs that are images (not needed for label maps)")
    parser.add_argument("--camera-info", required=True, metavar="YAML",
                        help="CameraInfo YAML of the camera (intrinsics; scaled when the labels have another size)")
    parser.add_argument("--camera-height", required=True, type=float, metavar="M",
                        help="height of the camera's centre above the rail heads, metres")
    parser.add_argument("--camera-pitch", type=float, default=0.0, metavar="DEG",
                        help="downward tilt of the optical axis, degrees (default 0: level)")
    parser.add_argument("--camera-roll", type=float, default=0.0, metavar="DEG",
                        help="roll about the direction of travel, + lowers the right side, degrees (default 0)")
    parser.add_argument("--gauge", type=float, default=STANDARD_GAUGE_M, metavar="M",
                        help=f"track gauge between the rails' centre lines, metres (default {STANDARD_GAUGE_M})")
    parser.add_argument("--envelope-half-width", type=float, default=ENVELOPE_HALF_WIDTH_M, metavar="M",
                        help=f"clearance envelope either side of the track centre, metres (default "
                             f"{ENVELOPE_HALF_WIDTH_M}, the standard-gauge kinematic gauge)")
    parser.add_argument("--envelope-height", type=float, default=ENVELOPE_HEIGHT_M, metavar="M",
                        help=f"clearance envelope height above the rails, metres (default {ENVELOPE_HEIGHT_M})")
    parser.add_argument("--obstacle-classes", default=",".join(DEFAULT_OBSTACLES), metavar="A,B",
                        help=f"RailSem19 classes that are obstacles (default {','.join(DEFAULT_OBSTACLES)})")
    parser.add_argument("--any-obstacle", action="store_true",
                        help="also count anything that is not track, trackbed, rail, road, sidewalk, terrain or sky")
    parser.add_argument("--refine-pitch", action="store_true",
                        help="measure distances with the pitch the rails' gauge implies (it is reported either way)")
    parser.add_argument("--json", action="store_true", help="print the results as a JSON list")
    parser.add_argument("--out", metavar="DIR", help="write overlays and track_ahead.json into this new folder")


def _config(args: argparse.Namespace) -> TrackConfig:
    classes = tuple(c.strip() for c in args.obstacle_classes.split(",") if c.strip())
    return TrackConfig(gauge_m=args.gauge, envelope_half_width_m=args.envelope_half_width,
                       envelope_height_m=args.envelope_height, obstacle_classes=classes,
                       any_obstacle=args.any_obstacle, refine_pitch=args.refine_pitch)


def _camera(args: argparse.Namespace) -> GroundCamera:
    intrinsics = Intrinsics.from_msg(load_camera_info(args.camera_info))
    return GroundCamera(intrinsics, args.camera_height, args.camera_pitch, args.camera_roll)


def _as_labels(path: Path) -> Optional[np.ndarray]:
    """The file's pixels when it is a RailSem19 label map (one 8-bit id per pixel, ids 0..18 or 255)."""
    try:
        labels = read_label_map(path)
    except RailSegError:
        return None   # a colour image (or one of 16 bits): an image to segment, or read_rgb says what is wrong
    ids = np.flatnonzero(np.bincount(labels.ravel(), minlength=256))
    return labels if all(i < RAILSEM19.num_classes or i == IGNORE_ID for i in ids) else None


def _check_out(out: Optional[str]) -> Optional[Path]:
    if out is None:
        return None
    path = Path(out)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise RailSegError(f"--out {path}: exists and is not an empty folder; choose a new one")
    check_writable(path, "--out")
    return path


def _inputs(args: argparse.Namespace) -> List[Tuple[Path, Optional[np.ndarray]]]:
    inputs = []
    for name in args.inputs:
        path = Path(name)
        if not path.is_file():
            raise RailSegError(f"input {path}: no such file")
        inputs.append((path, _as_labels(path)))
    stems = [p.stem for p, _ in inputs]
    if args.out and len(set(stems)) != len(stems):
        raise RailSegError("--out: two inputs have the same file stem; their overlays would overwrite each other")
    needs_model = [p for p, labels in inputs if labels is None]
    if needs_model and not args.model:
        raise RailSegError(f"input {needs_model[0]}: is an image, not a RailSem19 label map; give --model to segment it")
    return inputs


def run(args: argparse.Namespace) -> int:
    out = _check_out(args.out)
    stage, camera = TrackAhead(_config(args)), _camera(args)
    inputs = _inputs(args)
    segmenter = segmenter_from_args(args) if any(labels is None for _, labels in inputs) else None
    if segmenter is not None and segmenter.labels.name != RAILSEM19.name:
        raise RailSegError(f"--model {args.model}: predicts {segmenter.labels.name} classes; track-ahead needs "
                           f"a RailSem19 model (such as rail_default)")
    results: List[Dict[str, Any]] = []
    overlays: List[Tuple[str, np.ndarray]] = []
    for path, labels in inputs:
        base = None
        if labels is None:
            image = read_rgb(path)
            seg = segmenter.process(image, color=False, overlay=True)
            labels, base = seg.labels, seg.overlay
        result = stage.run(labels, camera)
        results.append(result.to_dict(str(path)))
        if out is not None:
            overlays.append((f"{path.stem}_track.png", draw_track(colorize(labels, RAILSEM19) if base is None
                                                                  else base, result)))
        if not args.json:
            print(f"{path}: {result.status}")
    if out is not None:
        _write(out, overlays, results)
    if args.json:
        print(json.dumps(results))
    return 0


def _write(out: Path, overlays: List[Tuple[str, np.ndarray]], results: List[Dict[str, Any]]) -> None:
    with atomic_path(out) as tmp:
        tmp.mkdir()
        for name, image in overlays:
            if not cv2.imwrite(str(tmp / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
                raise RailSegError(f"cannot write {out / name}")
        (tmp / JSON_NAME).write_text(json.dumps(results, indent=1) + "\n")
