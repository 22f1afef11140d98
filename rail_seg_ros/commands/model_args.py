"""The model options the commands share (--model, --weights, --labels, --color-order, the runtime
options and --input-size) and the two ways they are turned into a card or a Segmenter. One definition, so
`rail-seg predict`, `bench`, `bench-model`, `export`, `track-ahead` and `demo` spell and explain them alike."""

import argparse
from typing import Optional, Tuple

from ..backends import BACKENDS, PRECISIONS
from ..labels import LABEL_SETS
from ..model_card import COLOR_ORDERS, ModelCard, load_card
from ..pipeline import Segmenter
from ..sizes import parse_size

MODEL_HELP = "a model card (shipped name or YAML path) or an architecture name (see rail-seg models)"
CALIB_HELP = "frames for int8 calibration (default: synthetic rail scenes)"


def add_card_arguments(parser: argparse.ArgumentParser, required: bool = True, model_help: str = MODEL_HELP,
                       default: Optional[str] = None) -> None:
    """--model and what overrides the card: --weights, --labels, --color-order."""
    parser.add_argument("--model", required=required, default=default, metavar="CARD_OR_ARCH", help=model_help)
    parser.add_argument("--weights", metavar="PATH", help="checkpoint to use instead of the card's")
    parser.add_argument("--labels", choices=sorted(LABEL_SETS), help="label set of the weights (default: the card's)")
    parser.add_argument("--color-order", choices=COLOR_ORDERS, help="channel order the weights expect")


def add_backend_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=BACKENDS, default="auto",
                        help="inference backend (default auto: tensorrt, onnxruntime+CUDA, onnxruntime CPU, torch)")


def add_precision_argument(parser: argparse.ArgumentParser, calib_help: str = CALIB_HELP) -> None:
    """--precision and --calib, the frames int8 is calibrated on."""
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32", help="numeric precision (default fp32)")
    parser.add_argument("--calib", metavar="BAG_OR_DIR", help=calib_help)


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="cpu, cuda or cuda:N (default: a GPU when there is one)")


def add_cache_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache-dir", metavar="DIR", help="where exported graphs and engines are kept "
                        "(default ~/.cache/rail_seg_ros or $RAIL_SEG_CACHE)")


def add_model_arguments(parser: argparse.ArgumentParser, required: bool = True,
                        model_help: str = MODEL_HELP) -> None:
    """Every option a command that runs a model in this process takes."""
    add_card_arguments(parser, required=required, model_help=model_help)
    add_backend_argument(parser)
    add_precision_argument(parser)
    add_device_argument(parser)
    add_cache_argument(parser)


def add_input_size_argument(parser: argparse.ArgumentParser, default: Optional[str] = None,
                            help_text: str = "run the network at this size instead of the card's") -> None:
    parser.add_argument("--input-size", default=default, metavar="HxW", help=help_text)


def input_size_from_args(args: argparse.Namespace) -> Optional[Tuple[int, int]]:
    """--input-size as (H, W), or None when the command has no such option or it was not given."""
    text = getattr(args, "input_size", None)
    return parse_size(text, option="--input-size") if text else None


def card_from_args(args: argparse.Namespace) -> ModelCard:
    """The card --model names, with --weights, --labels, --color-order and --input-size applied."""
    return load_card(args.model, weights=args.weights, label_set=args.labels, color_order=args.color_order,
                     input_size=input_size_from_args(args))


def segmenter_from_args(args: argparse.Namespace, **extra) -> Segmenter:
    """The Segmenter the model options describe; ``extra`` goes to Segmenter.from_options."""
    return Segmenter.from_options(
        args.model, weights=args.weights, backend=args.backend, precision=args.precision, device=args.device,
        label_set=args.labels, color_order=args.color_order, calibration=args.calib, cache_dir=args.cache_dir,
        input_size=input_size_from_args(args), **extra)
