"""``rail-seg make-bag``: turn a dataset folder into a rosbag2 bag of camera frames and ground truth."""

import argparse
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

from rail_seg_ros import bag, datasets, image_codec, synth
from rail_seg_ros.errors import RailSegError
from rail_seg_ros.fileio import check_output_folder
from rail_seg_ros.ros_names import check_topic

DESCRIPTION = """\
Write the frames of a dataset folder into a rosbag2 bag (format version 9, as ROS 2 Kilted
writes): images on the image topic (sensor_msgs/Image, or CompressedImage with --compressed,
sensor-data QoS), label maps as mono8 Image on the ground-truth topic with the same header stamp,
optionally a pinhole sensor_msgs/CameraInfo beside the image topic. Where a label map has a
<stem>.track.json beside it (rail-seg synth writes one), it goes on /track_truth as JSON text.

Layouts:
  railsem19   ROOT/jpgs/<split>/*.jpg (or .png) + ROOT/uint8/<split>/<stem>.png   [split rs19_val]
  cityscapes  ROOT/leftImg8bit/<split>/<city>/*_leftImg8bit.png
              + ROOT/gtFine/<split>/<city>/*_gtFine_labelTrainIds.png (or *_labelIds.png,
              mapped to train ids)                                                  [split val]
  pairs       ROOT/images/ + ROOT/labels/ (or ROOT given as IMAGES_DIR:LABELS_DIR), matched by
              file stem; with --split, ROOT/images/<split>/ + ROOT/labels/<split>/
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add make-bag's options to ``parser``."""
    parser.description = DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--layout", required=True, choices=datasets.LAYOUTS,
                        help="how the dataset folder is organised (see above)")
    parser.add_argument("root", metavar="ROOT", help="dataset folder (pairs: also IMAGES_DIR:LABELS_DIR)")
    parser.add_argument("--split", metavar="NAME",
                        help="dataset split folder (default: rs19_val for railsem19, val for cityscapes)")
    parser.add_argument("--limit", type=int, metavar="N", help="write only the first N frames (sorted by name)")
    parser.add_argument("--fps", type=float, default=10.0,
                        help="frame rate: header stamps and log times are 1/FPS apart (default: 10)")
    parser.add_argument("--compressed", action="store_true",
                        help="write sensor_msgs/CompressedImage (jpeg) instead of raw sensor_msgs/Image")
    parser.add_argument("--camera-info", action="store_true",
                        help="also write a pinhole sensor_msgs/CameraInfo per frame, beside the image topic")
    parser.add_argument("--encoding", default="rgb8", choices=image_codec.ENCODINGS, metavar="ENC",
                        help="encoding of the image messages (default: rgb8); one of " + ", ".join(image_codec.ENCODINGS))
    parser.add_argument("--storage", default="sqlite3", choices=bag.STORAGES,
                        help="rosbag2 storage plugin (default: sqlite3)")
    parser.add_argument("--image-topic", default=bag.IMAGE_TOPIC, help=f"image topic (default: {bag.IMAGE_TOPIC})")
    parser.add_argument("--gt-topic", default=bag.GT_TOPIC, help=f"ground-truth topic (default: {bag.GT_TOPIC})")
    parser.add_argument("--out", required=True, metavar="BAG", help="bag directory to write")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    parser.add_argument("--no-progress", action="store_true", help="do not show a progress bar")


def run(args: argparse.Namespace) -> int:
    """Write the bag; print what was written. Returns the exit status."""
    out = Path(args.out)
    if out.exists() and not args.force:
        raise RailSegError(f"--out {out}: exists already; use --force to replace it")
    check_output_folder(out, "--out", force=True)  # a file, the current folder, an unwritable place
    for flag, topic in (("--image-topic", args.image_topic), ("--gt-topic", args.gt_topic)):
        problem = check_topic(topic, flag)
        if problem:
            raise RailSegError(problem)
    pairs = datasets.iter_dataset(args.layout, args.root, split=args.split, limit=args.limit)
    bag.write_frames_bag(
        out,
        _frames_with_truth(pairs, args.layout),
        fps=args.fps,
        storage=args.storage,
        compressed=args.compressed,
        camera_info=args.camera_info,
        encoding=args.encoding,
        image_topic=args.image_topic,
        gt_topic=args.gt_topic,
        progress=not args.no_progress,
        total=len(pairs),
    )
    _print_summary(out, args)
    return 0


def _frames_with_truth(pairs: List[datasets.Pair], layout: str) -> Iterator[Tuple[Any, Any, Optional[Dict]]]:
    """The dataset's frames, each with the track truth beside its label map where there is one."""
    for (_, label_path), (image, labels) in zip(pairs, datasets.iter_frames(pairs, layout)):
        yield image, labels, synth.load_track_truth(label_path) if label_path is not None else None


def _print_summary(out: Path, args: argparse.Namespace) -> None:
    with bag.open_bag(out) as written:
        frames = written.message_count(args.image_topic)
        with_gt = written.message_count(args.gt_topic) if args.gt_topic in written.topics else 0
        print(f"wrote {frames} frames ({with_gt} with ground truth, {written.duration_s:.1f} s) "
              f"to {out} [{args.storage}]")
        for topic, msgtype in written.topics.items():
            print(f"  {topic}  {msgtype}  {written.message_count(topic)} messages")
