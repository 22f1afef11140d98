"""Export a model card to ONNX (fp32, or int8 by static QDQ quantisation calibrated on --calib frames) or to
a TensorRT engine (fp32, fp16, or int8 from the symmetric Q/DQ graph), then check the result against torch
on a sample frame and print the largest logit difference and the share of equal labels.

The graph takes 1 x H x W x 3 uint8 RGB frames (the card's input size) and returns uint8 class ids;
normalisation, colour order and argmax run inside it. int8 (both forms) works for every architecture,
the comparison baselines included (LR-ASPP MobileNetV3 at 288x512: 98.4-98.8 % of fp32's labels).

--check-tensorrt 8.5|10|11 checks, without TensorRT or a GPU, that the target's ONNX parser and builder
would take the graph (one line per node it would refuse; exit 2 then, and --out is not written). With
--format onnx it exports the form TensorRT builds (int32 labels; int8 as symmetric Q/DQ with float
biases); with --onnx FILE it only checks FILE. --format engine always runs that check for the installed
TensorRT before its build (minutes on a Jetson). Examples:
  rail-seg export --model squeezenas_lat_small_cityscapes --weights lat_small.pth --format onnx --out ls.onnx
  rail-seg export --model rail_default --format onnx --precision int8 --calib bags/sample --out rail_int8.onnx
  rail-seg export --model rail_default --precision int8 --check-tensorrt 8.5 --out rail_trt_int8.onnx
  rail-seg export --model rail_default --onnx rail_trt_int8.onnx --check-tensorrt 10
  rail-seg export --model rail_default --format engine --precision fp16 --out rail_fp16.engine   # on the Jetson
  rail-seg export --model rail_default --format engine --precision int8 --onnx rail_trt_int8.onnx --out rail_int8.engine"""

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Optional

from ..backends.tensorrt_check import TARGETS, check_graph
from ..calibration import calibration_frames
from ..errors import RailSegError
from ..export import compare_with_torch, export_for_tensorrt, export_onnx, quantize_int8
from ..fileio import atomic_path, check_output_file
from ..model_card import build_network
from .model_args import add_card_arguments, add_input_size_argument, add_precision_argument, card_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_card_arguments(parser)
    add_input_size_argument(parser, help_text="input size of the exported graph (default: the card's)")
    parser.add_argument("--format", choices=("onnx", "engine"), default="onnx", help="what to write (default onnx)")
    add_precision_argument(parser, calib_help="frames for int8 calibration and for the check "
                                              "(default: synthetic rail scenes)")
    parser.add_argument("--calib-frames", type=int, default=8, help="how many calibration frames (default 8)")
    parser.add_argument("--confidence", action="store_true", help="add the confidence output to the graph")
    parser.add_argument("--check-tensorrt", choices=TARGETS, metavar="|".join(TARGETS),
                        help="check the graph against this TensorRT's parser and builder (no GPU needed)")
    parser.add_argument("--onnx", metavar="FILE",
                        help="an ONNX graph to build the engine from (--format engine) or to check (--check-tensorrt)")
    parser.add_argument("--out", metavar="PATH", help="file to write (not needed to only check --onnx FILE)")


def run(args: argparse.Namespace) -> int:
    if args.calib_frames < 1:
        raise RailSegError(f"--calib-frames {args.calib_frames} must be at least 1 (the check against torch "
                           f"runs on them too)")
    if args.out:
        check_output_file(args.out, "--out")
    card = card_from_args(args)
    outputs = ("labels", "confidence") if args.confidence else ("labels",)
    if args.onnx and args.format == "onnx":
        if not args.check_tensorrt:
            raise RailSegError("--onnx FILE goes with --format engine (build from it) or --check-tensorrt (check it)")
        return _report_check(_existing(args.onnx), args.check_tensorrt, args.precision)
    if not args.out:
        raise RailSegError("--out PATH is required")
    net = build_network(card)
    frames = calibration_frames(args.calib, card, args.calib_frames)
    out = Path(args.out)
    if args.format == "engine":
        return _export_engine(card, net, outputs, frames, args, out)
    if args.check_tensorrt:
        with atomic_path(out) as tmp:
            export_for_tensorrt(card, tmp, outputs, args.precision, frames, net=net)
            if _report_check(tmp, args.check_tensorrt, args.precision, shown=out):
                raise RailSegError(f"{out} not written: TensorRT {args.check_tensorrt} would refuse the graph")
    elif args.precision == "fp16":
        raise RailSegError("--precision fp16 is for TensorRT engines; ONNX files are exported in fp32 or int8 "
                           "(or give --check-tensorrt to write the graph TensorRT builds fp16 from)")
    elif args.precision == "int8":
        with tempfile.TemporaryDirectory() as tmp:
            fp32 = export_onnx(card, Path(tmp) / "fp32.onnx", outputs, net=net)
            quantize_int8(fp32, out, frames)
    else:
        export_onnx(card, out, outputs, net=net)
    check = compare_with_torch(out, card, net, frames[:2])
    print(f"wrote {out} ({card.name}, {args.precision}, input 1x{card.input_size[0]}x{card.input_size[1]}x3 uint8)")
    print(f"check against torch on {min(2, len(frames))} frame(s): largest logit difference "
          f"{check['max_logit_diff']:.3g}, labels equal on {check['label_agreement'] * 100:.2f} % of pixels")
    return 0


def _existing(path: str) -> Path:
    if not Path(path).is_file():
        raise RailSegError(f"--onnx {path}: no such file")
    return Path(path)


def _report_check(path: Path, target: str, precision: str, shown: Optional[Path] = None) -> int:
    """Print one line per node TensorRT ``target`` would refuse; 2 if any, else 0."""
    problems = check_graph(path, target, precision)
    name = shown or path
    for problem in problems:
        print(f"{name}: TensorRT {target}: {problem}", file=sys.stderr)
    if problems:
        print(f"{name}: TensorRT {target} would refuse {len(problems)} node(s) ({precision})", file=sys.stderr)
        return 2
    print(f"{name}: TensorRT {target} check passed ({precision})")
    return 0


def _export_engine(card, net, outputs, frames, args, out: Path) -> int:
    from ..backends.cache import prepare_cache_dir
    from ..backends.tensorrt_backend import (
        TensorRTBackend,
        build_engine,
        check_for_tensorrt,
        runtime_identity,
        tensorrt_available,
        timing_cache_path,
    )

    if not tensorrt_available():
        raise RailSegError("--format engine needs TensorRT and a CUDA GPU; neither is usable here "
                           "(build engines on the machine that runs them, e.g. the Jetson; "
                           "--check-tensorrt checks a graph without them)")
    import tensorrt as trt

    precision = args.precision
    timing = timing_cache_path(prepare_cache_dir(), runtime_identity(trt))
    with tempfile.TemporaryDirectory() as tmp:
        if args.onnx:
            from ..backends.onnxruntime_backend import graph_outputs

            graph, outputs = _existing(args.onnx), graph_outputs(Path(args.onnx))
        else:
            graph = export_for_tensorrt(card, Path(tmp) / "graph.onnx", outputs, precision, frames, net=net)
        if args.check_tensorrt and _report_check(graph, args.check_tensorrt, precision):
            raise RailSegError(f"{out} not built: TensorRT {args.check_tensorrt} would refuse the graph")
        check_for_tensorrt(graph, trt.__version__, precision)
        build_engine(graph, out, precision, timing)
    engine = TensorRTBackend(card, precision, outputs=outputs, engine_path=out)
    agreement = _engine_agreement(engine, card, net, frames[:2])
    engine.close()
    print(f"wrote {out} ({card.name}, TensorRT {trt.__version__} {precision}); labels equal to torch on "
          f"{agreement * 100:.2f} % of pixels")
    return 0


def _engine_agreement(engine, card, net, frames) -> float:
    import numpy as np
    import torch

    from ..graph import SegmentationGraph

    reference = SegmentationGraph(card, net, ("labels",)).eval()
    agree = []
    for frame in frames:
        with torch.no_grad():
            expected = reference(torch.from_numpy(frame[None]))[0].numpy()
        agree.append(float(np.mean(engine.infer(frame[None])["labels"] == expected)))
    return float(np.mean(agree))
