"""``rail-seg synth``: write procedural rail scenes with exact RailSem19 labels (a folder or a bag)."""

import argparse
from pathlib import Path
from typing import Optional

from rail_seg_ros import synth
from rail_seg_ros.contract import MAX_PIXELS_DEFAULT
from rail_seg_ros.errors import RailSegError
from rail_seg_ros.fileio import check_output_folder
from rail_seg_ros.sizes import parse_size

DESCRIPTION = """\
Draw procedural rail scenes (main lines, level crossings, stations, street tramways) with exact
RailSem19 labels, the data the default model is trained on.

Folder output (RailSem19 layout, readable with --layout railsem19 elsewhere):
  OUT/jpgs/rs19_val/synNNNNN.jpg   images (jpeg quality 95)
  OUT/uint8/rs19_val/synNNNNN.png  label ids 0..18
  OUT/uint8/rs19_val/synNNNNN.track.json        track-ahead ground truth: ego rails, envelope,
                                                obstacles with distances, the exact camera
  OUT/uint8/rs19_val/synNNNNN.camera_info.yaml  that camera, for rail-seg track-ahead --camera-info
  OUT/synth.json                   how they were made
Bag output: when --out ends in .mcap, .db3 or .bag, or with --bag, the frames (and their labels as
ground truth, and the track-ahead ground truth as JSON on /track_truth) are written as a rosbag2 bag
instead; add --sequence for a bag that plays like video.

The same --seed, --size and --n give the same frames (and the same --track-obstacles, --obstacle-range
and --drab-clothes; without them the scenes are the default ones, the kind the default model is trained on).
"""

BAG_SUFFIXES = {".mcap": "mcap", ".db3": "sqlite3", ".bag": None}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add synth's options to ``parser``."""
    parser.description = DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--n", type=int, default=100, metavar="N", help="number of frames (default: 100)")
    parser.add_argument("--size", default="288x512", metavar="HxW",
                        help="frame size as HEIGHTxWIDTH in pixels (default: 288x512)")
    parser.add_argument("--seed", type=int, default=0, help="random seed, 0 or more (default: 0)")
    parser.add_argument("--sequence", action="store_true",
                        help="consecutive frames of one drive (the camera moves along the track) "
                             "instead of independent scenes")
    default_range = synth.SceneConfig().track_obstacle_range
    parser.add_argument("--track-obstacles", type=float, default=0.0, metavar="P",
                        help="share of the scenes with a person, car or truck standing on the ego track ahead, to "
                             "score the track-ahead stage's obstacles (default scenes have almost none; default 0)")
    parser.add_argument("--obstacle-range", default=f"{default_range[0]:g},{default_range[1]:g}", metavar="NEAR,FAR",
                        help="--track-obstacles: how far ahead they stand, metres "
                             f"(default {default_range[0]:g},{default_range[1]:g})")
    parser.add_argument("--drab-clothes", type=float, default=0.0, metavar="P",
                        help="share of the people dressed in the greys of ballast, asphalt and paving: hard cases, "
                             "which a network reads as the ground they stand on (default 0)")
    parser.add_argument("--out", required=True, metavar="PATH",
                        help="folder to write (RailSem19 layout), or a bag: a path ending in .mcap, .db3 or .bag")
    parser.add_argument("--bag", action="store_true", help="write a rosbag2 bag at --out whatever its name")
    parser.add_argument("--fps", type=float, default=10.0, help="bags: frame rate of the stamps (default: 10)")
    parser.add_argument("--storage", choices=("sqlite3", "mcap"),
                        help="bags: rosbag2 storage plugin (default: mcap for .mcap, else sqlite3)")
    parser.add_argument("--no-labels", action="store_true", help="bags: leave out the ground-truth label maps")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    parser.add_argument("--no-progress", action="store_true", help="do not show a progress bar")


def bag_storage(out: Path, bag: bool, storage: Optional[str]) -> Optional[str]:
    """The storage plugin when ``out`` is to be a bag, else None (a dataset folder)."""
    suffix = out.suffix.lower()
    if suffix not in BAG_SUFFIXES and not bag:
        if storage:
            raise RailSegError(f"--storage is for bags; --out {out} is a folder (name it .mcap/.db3/.bag or add --bag)")
        return None
    implied = BAG_SUFFIXES.get(suffix)
    if storage and implied and storage != implied:
        raise RailSegError(f"--storage {storage} does not match --out {out} ({suffix} is {implied})")
    return storage or implied or "sqlite3"


def scene_config(track_obstacles: float, obstacle_range: str, drab_clothes: float = 0.0) -> Optional[synth.SceneConfig]:
    """The scene configuration --track-obstacles, --obstacle-range and --drab-clothes ask for; None: the
    default scenes."""
    for option, value in (("--track-obstacles", track_obstacles), ("--drab-clothes", drab_clothes)):
        if not 0.0 <= value <= 1.0:
            raise RailSegError(f"{option} {value}: must be from 0 to 1")
    try:
        near, far = (float(v) for v in obstacle_range.split(","))
    except ValueError:
        raise RailSegError(f"--obstacle-range {obstacle_range}: expected NEAR,FAR in metres, e.g. 8,120") from None
    if not 0.0 < near < far:
        raise RailSegError(f"--obstacle-range {obstacle_range}: expected 0 < NEAR < FAR")
    if track_obstacles == 0.0 and drab_clothes == 0.0:
        return None
    return synth.SceneConfig(p_track_obstacle=track_obstacles, track_obstacle_range=(near, far),
                             p_drab_clothes=drab_clothes)


def run(args: argparse.Namespace) -> int:
    """Write the frames; print what was written. Returns the exit status."""
    height, width = parse_size(args.size, minimum=synth.MIN_SIZE, option="--size")
    if height * width > MAX_PIXELS_DEFAULT:  # 100000x100000 would be 30 GB per frame
        raise RailSegError(f"--size {args.size}: {height * width / 1e6:.0f} Mpx per frame is more than "
                           f"{MAX_PIXELS_DEFAULT / 1e6:g} Mpx")
    if args.n < 1:
        raise RailSegError(f"--n {args.n}: must be at least 1")
    if args.seed < 0:
        raise RailSegError(f"--seed {args.seed}: must be 0 or more")
    config = scene_config(args.track_obstacles, args.obstacle_range, args.drab_clothes)
    out = Path(args.out)
    storage = bag_storage(out, args.bag, args.storage)
    if out.exists() and not args.force:
        raise RailSegError(f"--out {out}: exists already; use --force to replace it")
    check_output_folder(out, "--out", force=True)  # a file, the current folder, an unwritable place
    kind = "drive" if args.sequence else "scenes"
    if storage is None:
        synth.write_dataset(out, args.n, height, width, args.seed, sequence=args.sequence,
                            progress=not args.no_progress, config=config)
        print(f"wrote {args.n} frames ({height}x{width}, {kind}, seed {args.seed}) to {out} [railsem19 layout]")
        return 0
    from rail_seg_ros import bag  # only bag output needs the rosbag2 writer

    frames = synth.iter_frames_with_truth(args.n, height, width, args.seed, sequence=args.sequence,
                                          config=config)
    if args.no_labels:
        frames = ((image, None, truth) for image, _, truth in frames)
    bag.write_frames_bag(out, frames, fps=args.fps, storage=storage, progress=not args.no_progress, total=args.n)
    print(f"wrote {args.n} frames ({height}x{width}, {kind}, seed {args.seed}) to {out} [{storage} bag]")
    return 0
