"""Replay a bag through the model and score it: mIoU against the bag's ground truth, latency, fps.

  offline  frames run through the pipeline in this process; stages decode, preprocess, infer,
           postprocess are timed per frame
  live     segmentation_node runs as its own process (or --use-running-node); the frames are
           preloaded, published over DDS at the recorded rate (--rate R times it, --max-rate back to
           back), matched to the node's ~/labels by header stamp; latency = receive - publish time

The report folder (--out, default bench-<bag>-<mode>) holds report.json, report.md, PNG plots and
sample overlays. A bag without ground truth gives a latency-only report. Where the bag has track-ahead
truth (--track-topic, std_msgs/String JSON per frame) and the model predicts RailSem19 classes, the
track-ahead stage is scored on the model's labels and on the ground truth's, with the scene's camera:
ego-path IoU, rail position error, obstacle recall and precision, distance error (report section
"Track ahead"); otherwise the report says "no track truth in bag". Ctrl-C writes a partial
report (marked so) and stops the node. DDS stays on this machine unless ROS_AUTOMATIC_DISCOVERY_RANGE
/ ROS_LOCALHOST_ONLY say otherwise; ROS_DOMAIN_ID is used as set.

Examples:
  rail-seg bench drive.bag --model squeezenas_lat_small_cityscapes --weights lat_small.pth
  rail-seg bench drive.bag --model my_card.yaml --mode live --rate 2 --iterations 5
  rail-seg bench drive.bag --model my_card.yaml --mode live --find-max-rate --record outputs.bag
  rail-seg bench drive.bag --model my_card.yaml --mode live --use-running-node --node-namespace /front"""

import argparse
import sys
from pathlib import Path

from .. import bag as bagmod
from .. import bench
from ..contract import NODE_NAME
from ..errors import RailSegError
from ..report import check_report_target
from ..ros_names import check_namespace, check_node_name, check_topic
from .model_args import add_model_arguments, segmenter_from_args

LIVE_ONLY = (("rate", 1.0, "--rate"), ("max_rate", False, "--max-rate"), ("find_max_rate", False, "--find-max-rate"),
             ("iterations", 1, "--iterations"), ("record", None, "--record"),
             ("use_running_node", False, "--use-running-node"), ("node_namespace", None, "--node-namespace"),
             ("input_topic", None, "--input-topic"), ("node_param", None, "--node-param"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", metavar="BAG", help="rosbag2 folder, .db3 or .mcap with camera frames (and ground truth)")
    add_model_arguments(parser)
    parser.add_argument("--image-topic", default=bagmod.IMAGE_TOPIC,
                        help=f"image topic, Image or CompressedImage (default {bagmod.IMAGE_TOPIC})")
    parser.add_argument("--gt-topic", default=bagmod.GT_TOPIC,
                        help=f"ground-truth topic, mono8 train ids; '' for none (default {bagmod.GT_TOPIC})")
    parser.add_argument("--track-topic", default=bagmod.TRACK_TRUTH_TOPIC,
                        help=f"track-ahead truth topic, std_msgs/String JSON per frame; '' for none "
                             f"(default {bagmod.TRACK_TRUTH_TOPIC})")
    parser.add_argument("--typestore", metavar="NAME",
                        help="message types for bags that do not store them (default ros2_humble)")
    parser.add_argument("--mode", choices=("offline", "live"), default="offline",
                        help=f"offline: the pipeline in this process; live: through {NODE_NAME} over DDS "
                             "(default offline)")
    parser.add_argument("--warmup", type=int, default=3, metavar="N",
                        help="untimed warm-up runs of the first frame (live: frames sent and waited for, at least 1) "
                             "(default 3)")
    parser.add_argument("--samples", type=int, default=4, metavar="K", help="overlay samples in the report (default 4)")
    parser.add_argument("--out", metavar="DIR", help="report folder (default bench-<bag>-<mode>); an earlier report "
                        "there is replaced, a folder holding other files is refused")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    live = parser.add_argument_group("live mode")
    rate = live.add_mutually_exclusive_group()
    rate.add_argument("--rate", type=float, default=1.0, metavar="R",
                      help="publish at R times the recorded rate (from the bag's header stamps; default 1)")
    rate.add_argument("--max-rate", action="store_true", help="publish the frames back to back")
    rate.add_argument("--find-max-rate", action="store_true",
                      help="bisect the highest publish rate losing at most --max-loss of the frames, then measure "
                           "the bag at that rate")
    live.add_argument("--iterations", type=int, default=1, metavar="N",
                      help="repeat the run N times; with N >= 3 the runs with the lowest and highest mean latency "
                           "are left out (default 1)")
    live.add_argument("--max-loss", type=float, default=0.05, metavar="F",
                      help="--find-max-rate: fraction of frames a rate may lose (default 0.05)")
    live.add_argument("--max-trials", type=int, default=6, metavar="N",
                      help="--find-max-rate: trials at most, the back-to-back one included (default 6)")
    live.add_argument("--trial-frames", type=int, default=50, metavar="N",
                      help="--find-max-rate: frames per trial, the bag cycled if shorter (default 50)")
    live.add_argument("--record", metavar="BAG", help="save the node's labels, color and overlay outputs into this bag")
    live.add_argument("--record-storage", choices=bagmod.STORAGES, default="sqlite3",
                      help="storage of --record (default sqlite3)")
    live.add_argument("--node-namespace", metavar="NS",
                      help=f"namespace of the node (default {bench.SPAWN_NAMESPACE} for the node the bench starts, "
                           f"/ with --use-running-node)")
    live.add_argument("--use-running-node", action="store_true",
                      help=f"use a {NODE_NAME} that is already running (its outputs under NS/NODE/) instead "
                           "of starting one; --model then only names its label set")
    live.add_argument("--node-name", default=NODE_NAME, help=f"node name (default {NODE_NAME})")
    live.add_argument("--input-topic", metavar="TOPIC",
                      help="--use-running-node: topic the node subscribes to (default: found from its subscriptions)")
    live.add_argument("--node-param", action="append", metavar="NAME:=VALUE",
                      help="extra parameter for the node the bench starts (repeatable), e.g. publish_overlay:=false")
    live.add_argument("--ready-timeout", type=float, default=300.0, metavar="S",
                      help="seconds to wait for the node to load its model and answer (default 300)")
    live.add_argument("--drain-timeout", type=float, default=5.0, metavar="S",
                      help="after the last frame, wait for the outputs until none came for min(S, max(1 s, 4 x "
                           "the longest latency seen)); the rest count as dropped (default 5)")


def _check_args(args: argparse.Namespace, out: Path) -> None:
    bag_path = Path(args.bag)
    if args.mode == "offline":
        for name, default, flag in LIVE_ONLY:
            if getattr(args, name) not in (default, None, False):
                raise RailSegError(f"{flag} needs --mode live")
    if args.warmup < 0:
        raise RailSegError(f"--warmup {args.warmup} must not be negative")
    if args.samples < 0:
        raise RailSegError(f"--samples {args.samples} must not be negative")
    if not args.rate > 0:
        raise RailSegError(f"--rate {args.rate} must be positive")
    if args.iterations < 1:
        raise RailSegError(f"--iterations {args.iterations} must be at least 1")
    if not 0 <= args.max_loss < 1:
        raise RailSegError(f"--max-loss {args.max_loss} must be from 0 to below 1")
    if args.max_trials < 1 or args.trial_frames < 1:
        raise RailSegError("--max-trials and --trial-frames must be at least 1")
    if args.ready_timeout <= 0 or args.drain_timeout <= 0:
        raise RailSegError("--ready-timeout and --drain-timeout must be positive")
    if args.input_topic and not args.use_running_node:
        raise RailSegError("--input-topic needs --use-running-node")
    if args.node_param and args.use_running_node:
        raise RailSegError("--node-param is for the node the bench starts, not with --use-running-node")
    source = bag_path.resolve()
    for what, target in (("--out", out), ("--record", Path(args.record) if args.record else None)):
        if target is None:
            continue
        resolved = target.resolve()
        if resolved == source or source in resolved.parents or resolved in source.parents:
            raise RailSegError(f"{what} {target} would overwrite the input bag {bag_path}")
    if args.record and Path(args.record).exists():
        raise RailSegError(f"--record {args.record}: exists already; choose a new bag name")
    check_report_target(out)  # a folder that is not a report is refused before the run, not after it
    if args.typestore:
        try:
            bagmod.fallback_typestore(args.typestore)
        except RailSegError as exc:
            raise RailSegError(f"--typestore: {exc}") from None
    _check_ros_names(args)


def _check_ros_names(args: argparse.Namespace) -> None:
    """Live mode's topic, namespace and node names, refused here rather than by rcl with a traceback."""
    if args.mode != "live":
        return
    problems = [check_topic(args.input_topic, "--input-topic") if args.input_topic else None,
                check_topic(args.image_topic, "--image-topic"),
                check_namespace(args.node_namespace, "--node-namespace") if args.node_namespace else None,
                check_node_name(args.node_name, "--node-name")]
    for problem in problems:
        if problem:
            raise RailSegError(problem)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else bench.default_out_dir(args.bag, args.mode)
    _check_args(args, out)
    gt_topic = args.gt_topic or None
    progress = not args.no_progress
    info = bench.inspect_bag(args.bag, args.image_topic, gt_topic, args.typestore)  # fail before loading the model
    early = bench.no_gt_note(info, gt_topic) if not info.has_gt else None
    if early:
        print(f"rail-seg bench: {early}", file=sys.stderr)
    if args.mode == "offline":
        segmenter = segmenter_from_args(args)
        try:
            result = bench.run_offline(args.bag, segmenter, args.image_topic, gt_topic, samples=args.samples,
                                       progress=progress, typestore=args.typestore, warmup=args.warmup,
                                       track_topic=args.track_topic or None)
        finally:
            segmenter.close()
    else:
        options = bench.LiveOptions(
            model=args.model, weights=args.weights, backend=args.backend, precision=args.precision,
            device=args.device, cache_dir=args.cache_dir, calibration=args.calib, label_set=args.labels,
            color_order=args.color_order, image_topic=args.image_topic, gt_topic=gt_topic, typestore=args.typestore,
            track_topic=args.track_topic or None,
            rate=args.rate, max_rate=args.max_rate, iterations=args.iterations, find_max_rate=args.find_max_rate,
            max_loss=args.max_loss, max_trials=args.max_trials, trial_frames=args.trial_frames, warmup=args.warmup,
            record=args.record, record_storage=args.record_storage, namespace=args.node_namespace,
            node_name=args.node_name, use_running_node=args.use_running_node, input_topic=args.input_topic,
            node_params=list(args.node_param or []), ready_timeout=args.ready_timeout,
            drain_timeout=args.drain_timeout, samples=args.samples, progress=progress)
        result = bench.run_live(args.bag, options)
    for note in result.notes:
        if note != early:
            print(f"rail-seg bench: {note}", file=sys.stderr)
    path, report = bench.write_bench_report(result, out)
    print(bench.summary_line(report))
    if report.get("record"):
        print(f"outputs recorded in {report['record']}")
    print(f"report: {path}")
    return 130 if result.partial else 0
