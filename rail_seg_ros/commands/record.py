"""Record a running segmentation_node's outputs into a rosbag2 bag, until Ctrl-C or --duration.

Topics are the node's (NS/NODE/labels, .../color, .../overlay by default); a topic starting with
'/' is taken as it is. The subscriptions follow the publishers' reliability; each message is logged
at its receive time, as ros2 bag record does. The bag appears only once it is complete; nothing is
written when no message arrived. DDS stays on this machine unless ROS_AUTOMATIC_DISCOVERY_RANGE /
ROS_LOCALHOST_ONLY say otherwise.

Example:
  rail-seg record --namespace /front --topics labels,overlay --duration 30 --out front-outputs"""

import argparse
from pathlib import Path

from .. import bag as bagmod
from ..bench.record import record_outputs
from ..contract import NODE_NAME, OUTPUT_NAMES, RECORDED_OUTPUTS
from ..errors import RailSegError
from ..fileio import check_writable
from ..ros_names import check_namespace, check_node_name, check_topic


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--namespace", default="/", metavar="NS", help="the node's namespace (default /)")
    parser.add_argument("--node-name", default=NODE_NAME, help=f"the node's name (default {NODE_NAME})")
    parser.add_argument("--topics", default=",".join(RECORDED_OUTPUTS), metavar="LIST",
                        help=f"comma-separated outputs to record: {', '.join(OUTPUT_NAMES)}, or absolute "
                             f"topic names (default {','.join(RECORDED_OUTPUTS)})")
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: at Ctrl-C)")
    parser.add_argument("--storage", choices=bagmod.STORAGES, default="sqlite3", help="bag storage (default sqlite3)")
    parser.add_argument("--wait", type=float, default=30.0, metavar="S",
                        help="seconds to wait for a publisher on the topics (default 30)")
    parser.add_argument("--out", required=True, metavar="BAG", help="bag folder to write (must not exist)")
    parser.add_argument("--no-progress", action="store_true", help="no progress counter")


def run(args: argparse.Namespace) -> int:
    topics = [t.strip() for t in args.topics.split(",") if t.strip()]
    if not topics:
        raise RailSegError("--topics names no topic")
    for topic in topics:
        if not topic.startswith("/") and topic not in OUTPUT_NAMES:
            raise RailSegError(f"--topics: {topic!r} is not one of {', '.join(OUTPUT_NAMES)} "
                               f"nor an absolute topic name")
        bad_topic = check_topic(topic, "--topics:")
        if bad_topic:
            raise RailSegError(bad_topic)
    for problem in (check_namespace(args.namespace, "--namespace"), check_node_name(args.node_name, "--node-name")):
        if problem:
            raise RailSegError(problem)
    if args.duration is not None and args.duration <= 0:
        raise RailSegError(f"--duration {args.duration} must be positive")
    if args.wait <= 0:
        raise RailSegError(f"--wait {args.wait} must be positive")
    out = Path(args.out)
    if out.exists():
        raise RailSegError(f"--out {out}: exists already; choose a new bag name")
    check_writable(out, "--out")
    counts = record_outputs(out, namespace=args.namespace, node_name=args.node_name, topics=topics,
                            duration=args.duration, storage=args.storage, wait_timeout=args.wait,
                            progress=not args.no_progress)
    detail = ", ".join(f"{topic} {n}" for topic, n in counts.items())
    print(f"recorded {sum(counts.values())} messages ({detail}) into {out} [{args.storage}]")
    return 0
