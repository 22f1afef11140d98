"""Export a model card to ONNX (fp32, or int8 by static QDQ quantisation calibrated on --calib frames) or to
a TensorRT engine (fp32, fp16, int8 with an entropy calibrator), then check the result against torch on a
sample frame and print the largest logit difference and the share of equal labels.

The graph takes 1 x H x W x 3 uint8 RGB frames (the card's input size) and returns uint8 class ids;
normalisation, colour order and argmax run inside it. Examples:
  rail-seg export --model squeezenas_lat_small_cityscapes --weights lat_small.pth --format onnx --out ls.onnx
  rail-seg export --model rail_default --format onnx --precision int8 --calib bags/sample --out rail_int8.onnx
  rail-seg export --model rail_default --format engine --precision fp16 --out rail_fp16.engine   # on the Jetson"""

import argparse
import tempfile
from pathlib import Path

from ..calibration import calibration_frames
from ..errors import RailSegError
from ..export import compare_with_torch, export_onnx, quantize_int8
from ..fileio import check_output_file
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
    parser.add_argument("--out", required=True, metavar="PATH", help="file to write")


def run(args: argparse.Namespace) -> int:
    if args.calib_frames < 1:
        raise RailSegError(f"--calib-frames {args.calib_frames} must be at least 1 (the check against torch "
                           f"runs on them too)")
    check_output_file(args.out, "--out")
    card = card_from_args(args)
    net = build_network(card)
    outputs = ("labels", "confidence") if args.confidence else ("labels",)
    frames = calibration_frames(args.calib, card, args.calib_frames)
    out = Path(args.out)
    if args.format == "engine":
        return _export_engine(card, net, outputs, frames, args.precision, out)
    if args.precision == "fp16":
        raise RailSegError("--precision fp16 is for TensorRT engines; ONNX files are exported in fp32 or int8")
    if args.precision == "int8":
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


def _export_engine(card, net, outputs, frames, precision: str, out: Path) -> int:
    from ..backends.tensorrt_backend import TensorRTBackend, build_engine, tensorrt_available

    if not tensorrt_available():
        raise RailSegError("--format engine needs TensorRT and a CUDA GPU; neither is usable here "
                           "(build engines on the machine that runs them, e.g. the Jetson)")
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = export_onnx(card, Path(tmp) / "graph.onnx", outputs, label_dtype="int32", net=net)
        build_engine(onnx_path, out, precision, frames if precision == "int8" else None)
    engine = TensorRTBackend(card, precision, outputs=outputs, engine_path=out)
    import numpy as np
    import torch

    from ..graph import SegmentationGraph

    reference = SegmentationGraph(card, net, ("labels",)).eval()
    agree = []
    for frame in frames[:2]:
        with torch.no_grad():
            expected = reference(torch.from_numpy(frame[None]))[0].numpy()
        agree.append(float(np.mean(engine.infer(frame[None])["labels"] == expected)))
    print(f"wrote {out} ({card.name}, TensorRT {precision}); labels equal to torch on "
          f"{np.mean(agree) * 100:.2f} % of pixels")
    return 0
