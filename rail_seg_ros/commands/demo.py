"""The whole product in one command: the sample bag of a synthetic drive (bags/sample) is replayed over
DDS on this machine through a real segmentation_node running the default model (rail_default), its
labels are matched to the ground truth by header stamp, and a report is written: mIoU per class,
end-to-end latency percentiles, plots and overlay samples. The report folder is named at the end.

Where the bag holds track-ahead truth (/track_truth, as bags/sample does), the node runs the track-ahead
stage with the camera of the bag's first frame (track.camera_height/pitch/roll and a camera-info YAML of
its intrinsics, passed as parameters: the node's defaults stay as they are), and the report gets its
"Track ahead" section: ego-path IoU, obstacles and distances against the truth, with overlays.

DDS stays on this machine (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, ROS_LOCALHOST_ONLY=1)."""

import argparse
import tempfile
from pathlib import Path
from typing import List

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


def track_node_params(bag: Path, folder: Path) -> List[str]:
    """The node's track.* parameters for the camera of the bag's first track-truth frame ([] without truth).

    Its intrinsics go to ``folder/camera_info.yaml`` (the bag has no camera_info topic). The drive's later
    frames wobble a little about that mounting; the bench scores each frame with its own exact camera."""
    from ..bag import read_track_truth
    from ..bench.track import camera_from_truth
    from ..synth.truth import camera_info_yaml

    truths = read_track_truth(bag)
    if not truths:
        return []
    camera = camera_from_truth(truths[min(truths)])
    info = folder / "camera_info.yaml"
    info.write_text(camera_info_yaml(camera, bag.name))
    # track.mode stays auto: the stage runs for a RailSem19 model and is off for another label set
    # repr of a float keeps its ".0": the node's double parameters refuse an integer
    return [f"track.camera_height:={round(camera.height_m, 6)!r}",
            f"track.camera_pitch:={round(float(camera.pitch_deg), 6)!r}",
            f"track.camera_roll:={round(float(camera.roll_deg), 6)!r}", f"track.camera_info_file:={info}"]


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
    with tempfile.TemporaryDirectory(prefix="rail-seg-demo-") as folder:
        node_params = track_node_params(bag, Path(folder))
        print("demo: track ahead " + ("on, camera of the bag's first frame: " + " ".join(node_params[:3])
                                       if node_params else "off (no track truth in the bag)"))
        options = LiveOptions(model=args.model, backend=args.backend, rate=args.rate, cache_dir=args.cache_dir,
                              samples=6, progress=not args.no_progress, node_params=node_params)
        result = run_live(bag, options)
    out, report = write_bench_report(result, args.out)
    print(summary_line(report))
    print(f"demo: report written to {Path(out).resolve()} (open report.md)")
    return 0
