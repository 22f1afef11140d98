"""``rail-seg``: the command-line door onto the core. Each subcommand lives in ``rail_seg_ros.commands``."""

import argparse
import importlib
import importlib.util
import signal
import sys
import types
from typing import List, Optional

from . import __version__
from .errors import RailSegError

# subcommand -> (module under rail_seg_ros.commands, one-line help)
COMMANDS = {
    "models": ("models", "list the architectures with parameters and GigaMACs"),
    "predict": ("predict", "segment image files with a model card"),
    "export": ("export", "export a model card to ONNX or a TensorRT engine, checked against torch"),
    "bench-model": ("bench_model", "time one backend on one model (model only)"),
    "synth": ("synth", "render synthetic rail scenes with exact RailSem19 labels"),
    "track-ahead": ("track_ahead", "the ego track, its clearance envelope and the obstacles on it, with distances"),
    "make-bag": ("make_bag", "turn a dataset folder into a rosbag2 with ground truth"),
    "train": ("train", "train or fine-tune a network"),
    "bench": ("bench", "replay a bag through the model or the node: mIoU and latency report"),
    "compare": ("compare", "several models over the same bag: accuracy, latency, Pareto front, samples"),
    "record": ("record", "record a running node's outputs into a bag"),
    "demo": ("demo", "the whole product in one command: sample bag through the node, report"),
    "doctor": ("doctor", "check this host's DDS set-up for lost camera frames, with a live probe"),
}


def build_parser(only: Optional[str] = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rail-seg", description="Semantic segmentation for rail vehicle cameras: tools around the ROS 2 node.")
    parser.add_argument("--version", action="version", version=f"rail-seg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        if importlib.util.find_spec(f"rail_seg_ros.commands.{module_name}") is None:
            continue
        if only is not None and name != only:
            sub.add_parser(name, help=help_text, add_help=False)
            continue
        module = _load(module_name)
        if module is None:
            continue
        command = sub.add_parser(name, help=help_text, description=(module.__doc__ or help_text).strip(),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        try:
            module.add_arguments(command)
        except ModuleNotFoundError as exc:  # its arguments come from a package this Python lacks (train: torch)
            module = _unavailable(_optional_package(exc))
            command.description = module.__doc__
            module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


# Packages some subcommands import that a Python may lack (the Jetson's 3.8), and why.
OPTIONAL_PACKAGES = {"rosbags": "rosbags needs Python 3.10+: run the bag tools in a newer Python",
                     "torch": "install torch (pinned in requirements.txt)",
                     "rclpy": "source a ROS 2 install, or make setup for the ROS 2 wheels"}


def _missing_package(package: str) -> str:
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    return f"needs {package}, which is not installed in this Python ({version}); {OPTIONAL_PACKAGES[package]}"


def _load(module_name: str):
    try:
        return importlib.import_module(f"rail_seg_ros.commands.{module_name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"rail_seg_ros.commands.{module_name}":
            return None
        return _unavailable(_optional_package(exc))


def _optional_package(exc: ModuleNotFoundError) -> str:
    """The optional package whose absence raised ``exc``; any other missing module is a real error."""
    package = (exc.name or "").split(".")[0]
    if package not in OPTIONAL_PACKAGES:
        raise exc
    return package


def _unavailable(package: str) -> types.SimpleNamespace:
    """A stand-in for a subcommand whose package is missing: its --help and its run say so in one line."""
    message = _missing_package(package)

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.set_defaults(unavailable=True)  # main() then reads no further arguments

    def run(_args: argparse.Namespace) -> int:
        raise RailSegError(message)

    return types.SimpleNamespace(__doc__=f"Unavailable here: {message}.", add_arguments=add_arguments, run=run)


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # SIGINT stops every command (record, bench, train: Ctrl-C ends them cleanly), also where it was started
    # as a background job of a script, which inherits SIGINT ignored and so Python installs no handler
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # build only the chosen subcommand's parser: importing torch for `rail-seg synth --help` is wasted time
    chosen = next((a for a in argv if a in COMMANDS), None)
    parser = build_parser(chosen)
    args, unread = parser.parse_known_args(argv)
    if unread and not getattr(args, "unavailable", False):
        parser.parse_args(argv)  # the usual usage error naming them
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        if chosen is not None and chosen != "models":  # cv2 is not imported for light commands
            from .image_codec import quiet_opencv

            quiet_opencv()
        return int(args.run(args) or 0)
    except RailSegError as exc:
        print(f"rail-seg {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:  # a package imported on the way (demo: rosbags, rclpy)
        print(f"rail-seg {args.command}: error: {_missing_package(_optional_package(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rail-seg {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
