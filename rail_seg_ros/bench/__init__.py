"""Replay a bag through the model (offline) or through the ROS node over DDS (live): mIoU and latency.

``result``: what a run measured, scoring, samples, the summary line and the report it writes.
``offline``: the bag through the Segmenter in this process. ``session``: the ROS side (DDS kept on
this machine, an rclpy context of its own). ``node_process``: the node the live bench starts.
``replay``: the frames a live run sends. ``live``: the live session (:class:`LiveBench`). ``runs``:
iterations, the max-rate search and :func:`run_live`. ``record``: the engine of ``rail-seg record``.
Everything public is importable from ``rail_seg_ros.bench``; rclpy is imported only by live runs.
"""

from ..bag import BagInfo, RecorderThread, inspect_bag  # re-exported: the bench used to hold them
from .live import DiagnosticsWatch, LiveBench, LiveOptions
from .node_process import SPAWN_NAMESPACE, NodeProcess, node_command, spawn_parameters, write_params_file
from .offline import run_offline
from .record import record_outputs, resolve_topics
from .replay import Preloaded, preload, schedule
from .result import (
    LATENCY_DEFINITION,
    LIVE_FPS_DEFINITION,
    BenchResult,
    RunData,
    Sample,
    Scorer,
    default_out_dir,
    make_sample,
    no_gt_note,
    sample_indices,
    score_labels,
    summary_line,
    write_bench_report,
)
from .runs import keep_runs, pool_runs, run_live, search_max_rate
from .session import LOCAL_DDS, RosSession, ensure_local_dds

__all__ = [
    "LATENCY_DEFINITION",
    "LIVE_FPS_DEFINITION",
    "LOCAL_DDS",
    "SPAWN_NAMESPACE",
    "BagInfo",
    "BenchResult",
    "DiagnosticsWatch",
    "LiveBench",
    "LiveOptions",
    "NodeProcess",
    "Preloaded",
    "RecorderThread",
    "RosSession",
    "RunData",
    "Sample",
    "Scorer",
    "default_out_dir",
    "ensure_local_dds",
    "inspect_bag",
    "keep_runs",
    "make_sample",
    "no_gt_note",
    "node_command",
    "pool_runs",
    "preload",
    "record_outputs",
    "resolve_topics",
    "run_live",
    "run_offline",
    "sample_indices",
    "schedule",
    "score_labels",
    "search_max_rate",
    "spawn_parameters",
    "summary_line",
    "write_bench_report",
    "write_params_file",
]
