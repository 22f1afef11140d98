"""Run several models over the same bag frames and compare them: a table (parameters, GigaMACs at each
card's input size, ms per frame for the network alone and end to end, fps, mIoU, per-class IoU), an
accuracy-vs-latency plot with the Pareto front marked, and every model's overlay of the same frames.

Each model runs the offline bench (decode, the card's own resize, inference, postprocess in this process)
on the same backend and precision. The report folder (--out, default bench-<bag>-compare) holds
report.json, report.md, accuracy_vs_latency.png and samples/; it is written once, complete, and replaces
only an earlier report (a folder holding anything else is refused before the run).

Example:
  rail-seg compare bags/sample --model rail_default --model lraspp_mobilenet_v3_large_synth \
      --model unet_small_synth --backend onnxruntime --out compare/"""

import argparse
from pathlib import Path

from .. import bag as bagmod
from ..bench.compare import run_compare, write_compare_report
from ..bench.result import default_out_dir
from ..errors import RailSegError
from ..pipeline import Segmenter
from ..report import check_report_target
from .model_args import (
    MODEL_HELP,
    add_backend_argument,
    add_cache_argument,
    add_device_argument,
    add_precision_argument,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", metavar="BAG", help="rosbag2 folder, .db3 or .mcap with camera frames (and ground truth)")
    parser.add_argument("--model", action="append", required=True, metavar="CARD_OR_ARCH",
                        help=f"{MODEL_HELP}; give it once per model, in the order of the table")
    add_backend_argument(parser)
    add_precision_argument(parser)
    add_device_argument(parser)
    add_cache_argument(parser)
    parser.add_argument("--image-topic", default=bagmod.IMAGE_TOPIC, help=f"camera topic (default {bagmod.IMAGE_TOPIC})")
    parser.add_argument("--gt-topic", default=bagmod.GT_TOPIC,
                        help=f"ground-truth topic (default {bagmod.GT_TOPIC}; empty: latency only)")
    parser.add_argument("--typestore", metavar="NAME", help="rosbags typestore of the bag (default: the bag's own)")
    parser.add_argument("--warmup", type=int, default=3, metavar="N",
                        help="untimed runs of the first frame, per model (default 3)")
    parser.add_argument("--samples", type=int, default=3, metavar="K",
                        help="frames shown with every model's overlay (default 3)")
    parser.add_argument("--out", metavar="DIR", help="report folder (default bench-<bag>-compare); an earlier "
                        "report there is replaced, any other folder is refused")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _check_args(args: argparse.Namespace, out: Path) -> None:
    if args.warmup < 0 or args.samples < 0:
        raise RailSegError("--warmup and --samples must not be negative")
    repeated = sorted({m for m in args.model if args.model.count(m) > 1})
    if repeated:
        raise RailSegError(f"--model {repeated[0]} is given twice")
    source = Path(args.bag).resolve()
    resolved = out.resolve()
    if resolved == source or source in resolved.parents or resolved in source.parents:
        raise RailSegError(f"--out {out} would overwrite the input bag {args.bag}")
    check_report_target(out)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else default_out_dir(args.bag, "compare")
    _check_args(args, out)
    gt_topic = args.gt_topic or None
    bagmod.inspect_bag(args.bag, args.image_topic, gt_topic, args.typestore)  # fail before loading the models
    segmenters = []
    try:
        for model in args.model:
            segmenters.append(Segmenter.from_options(model, backend=args.backend, precision=args.precision,
                                                     device=args.device, calibration=args.calib,
                                                     cache_dir=args.cache_dir))
        compared = run_compare(args.bag, segmenters, args.image_topic, gt_topic, samples=args.samples,
                               warmup=args.warmup, progress=not args.no_progress, typestore=args.typestore)
    finally:
        for segmenter in segmenters:
            segmenter.close()
    path = write_compare_report(out, compared)
    for row in compared["report"]["models"]:
        miou = f"{100 * row['miou']:.1f} % mIoU" if row["miou"] is not None else "no mIoU"
        print(f"{row['model']}: {miou}, {row['end_to_end_ms']:.1f} ms end to end, {row['model_ms']:.1f} ms model"
              f"{' (Pareto front)' if row['pareto'] else ''}")
    print(f"report: {path}")
    return 130 if compared["report"]["partial"] else 0
