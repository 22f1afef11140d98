"""Time one backend on one model, model only: a fixed uint8 frame at the input size through backend.infer
(normalisation, network and argmax; no decoding, resizing or colouring). Warm-up runs are discarded.
For the whole pipeline and several backends side by side, see benchmarks/speed.py."""

import argparse
import json
import time

import numpy as np

from ..backends import create_backend
from ..errors import RailSegError
from ..metrics import summarize_latencies
from .model_args import add_input_size_argument, add_model_arguments, card_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    add_input_size_argument(parser, help_text="network input size (default: the card's)")
    parser.add_argument("--runs", type=int, default=10, help="timed runs (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs first (default 2)")
    parser.add_argument("--threads", type=int, help="CPU threads (default: one per physical core)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def time_backend(backend, frame: np.ndarray, runs: int, warmup: int) -> dict:
    """Milliseconds per frame of ``backend.infer``: mean and percentiles over ``runs``."""
    for _ in range(warmup):
        backend.infer(frame)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        backend.infer(frame)
        times.append((time.perf_counter() - start) * 1e3)
    return summarize_latencies(times)


def run(args: argparse.Namespace) -> int:
    if args.runs < 1:
        raise RailSegError(f"--runs {args.runs} must be at least 1")
    if args.warmup < 0:
        raise RailSegError(f"--warmup {args.warmup} must not be negative")
    if args.threads is not None and args.threads < 1:
        raise RailSegError(f"--threads {args.threads} must be at least 1")
    card = card_from_args(args)
    backend = create_backend(card, args.backend, args.precision, args.device, ("labels",), args.cache_dir,
                             args.threads, args.calib)
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (1, card.input_size[0], card.input_size[1], 3), dtype=np.uint8)
    stats = time_backend(backend, frame, args.runs, args.warmup)
    result = {"model": card.name, "architecture": card.architecture, "backend": backend.describe(),
              "precision": args.precision, "input_size": list(card.input_size), "ms": stats,
              "fps": 1000.0 / stats["mean"]}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{card.name} {card.input_size[0]}x{card.input_size[1]} on {backend.describe()}: "
              f"mean {stats['mean']:.1f} ms, p50 {stats['p50']:.1f}, p90 {stats['p90']:.1f}, "
              f"max {stats['max']:.1f} ({result['fps']:.2f} frames/s over {args.runs} runs)")
    return 0
