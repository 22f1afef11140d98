"""The whole product in one command: the sample bag of a synthetic drive (bags/sample) is replayed over
DDS on this machine through a real segmentation_node running the default model (rail_default), its
labels are matched to the ground truth by header stamp, and a report is written: mIoU per class,
end-to-end latency percentiles, plots and overlay samples. The report folder is named at the end.

DDS stays on this machine (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, ROS_LOCALHOST_ONLY=1)."""

import argparse
from pathlib import Path

from ..errors import RailSegError
from ..resources import find_data
from .model_args import add_backend_argument, add_cache_argument

DEFAULT_MODEL = "rail_default"
DEFAULT_BAG = "sample"


def find_bag(name_or_path: str) -> Path:
    """A bag path as given, or a bag shipped in the package's bags/ folder."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    shipped = find_data("bags", name_or_path)
    if shipped is not None:
        return shipped
    raise RailSegError(f"bag {name_or_path}: not found here nor in the package's bags/ folder "
                       f"(regenerate it: see bags/README.md)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bag", default=DEFAULT_BAG, help="bag to replay (default: the shipped sample)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model card (default: rail_default)")
    add_backend_argument(parser)
    parser.add_argument("--rate", type=float, default=1.0, help="multiple of the recorded frame rate (default 1)")
    parser.add_argument("--out", default="demo-report", help="report folder (default ./demo-report)")
    add_cache_argument(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from ..bench import LiveOptions, run_live, summary_line, write_bench_report
    from ..report import check_report_target

    check_report_target(Path(args.out))  # before the run, not after it
    bag = find_bag(args.bag)
    print(f"demo: replaying {bag} through segmentation_node ({args.model}, backend {args.backend}) on loopback")
    options = LiveOptions(model=args.model, backend=args.backend, rate=args.rate, cache_dir=args.cache_dir,
                          samples=6, progress=not args.no_progress)
    result = run_live(bag, options)
    out, report = write_bench_report(result, args.out)
    print(summary_line(report))
    print(f"demo: report written to {Path(out).resolve()} (open report.md)")
    return 0
