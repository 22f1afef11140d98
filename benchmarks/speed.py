#!/usr/bin/env python3
"""Speed, measured side by side in one run on this machine (a script that prints figures, not a test).

1. Model only (normalisation, network, argmax; ``backend.infer`` on a uint8 frame at the input size):
   torch eager fp32, onnxruntime fp32 and onnxruntime int8, for SqueezeNAS small/large and Fast-SCNN at
   1024x2048 and 512x1024, with the ratios between them.
2. The whole pipeline (an encoded sensor_msgs/Image in; labels, colour and overlay messages out) against
   model only, for frames at the model's size and for 1920x1080 camera frames.

Weights: the public SqueezeNAS lat_small from ../shared where present, seeded random weights otherwise
(speed does not depend on the values). int8 is calibrated on synthetic rail scenes.

    .venv/bin/python benchmarks/speed.py                      # everything (several minutes on 2 cores)
    .venv/bin/python benchmarks/speed.py --models squeezenas_lat_small --sizes 1024x2048 --runs 5
"""

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from rail_seg_ros.backends import create_backend
from rail_seg_ros.backends.torch_backend import TorchBackend
from rail_seg_ros.commands.bench_model import time_backend
from rail_seg_ros.image_codec import encode_image, fill_image_msg, image_msg_to_rgb8
from rail_seg_ros.model_card import ModelCard, card_for_architecture
from rail_seg_ros.pipeline import Segmenter
from rail_seg_ros.sizes import parse_size

# Pause before each timed frame: the previous engine's worker threads (torch's OpenMP pool, onnxruntime's
# pool) keep spinning for a while after a run and would steal the 2 cores from the next engine.
SETTLE_S = 0.5
SHARED_WEIGHTS = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "squeezenas" / "weights"


def card_with_weights(arch: str, size, workdir: Path) -> ModelCard:
    """A card for ``arch`` at ``size`` with the public weights where we have them, else seeded random ones."""
    public = SHARED_WEIGHTS / f"{arch.replace('squeezenas_', '')}.pth"
    card = card_for_architecture(arch, input_size=size)
    if public.exists():
        weights = public
    else:
        from rail_seg_ros.nets import build_model

        torch.manual_seed(0)
        weights = workdir / f"{arch}.pt"
        torch.save(build_model(arch, card.num_classes).state_dict(), weights)
    return replace(card, weights=str(weights), name=f"{arch}-{size[0]}x{size[1]}")


def model_only(card: ModelCard, cache: Path, runs: int, warmup: int, settle_s: float = SETTLE_S) -> dict:
    frame = np.random.default_rng(0).integers(0, 256, (1, *card.input_size, 3), dtype=np.uint8)
    engines = {
        # eager PyTorch as the public SqueezeNAS code runs it (NCHW), and our torch backend (channels_last)
        "torch eager": TorchBackend(card, "fp32", "cpu", ("labels",), channels_last=False),
        "torch channels_last": TorchBackend(card, "fp32", "cpu", ("labels",), channels_last=True),
        "onnxruntime fp32": create_backend(card, "onnxruntime", "fp32", "cpu", ("labels",), cache),
        "onnxruntime int8": create_backend(card, "onnxruntime", "int8", "cpu", ("labels",), cache),
    }
    for engine in engines.values():
        for _ in range(warmup):
            engine.infer(frame)
    times: dict = {name: [] for name in engines}
    for _ in range(runs):  # round robin, so every backend sees the same machine state
        for name, engine in engines.items():
            time.sleep(settle_s)
            times[name].append(time_backend(engine, frame, 1, 0)["mean"])
    return {name: float(np.median(t)) for name, t in times.items()}


class _Message(SimpleNamespace):
    """Stands in for sensor_msgs/Image: the codec only reads and writes fields."""


def pipeline_vs_model(card: ModelCard, cache: Path, runs: int, warmup: int, frame_size) -> dict:
    segmenter = Segmenter(card, create_backend(card, "onnxruntime", "fp32", "cpu", ("labels",), cache))
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (*frame_size, 3), dtype=np.uint8)
    fields = encode_image(rgb, "rgb8")
    message = _Message(**fields._asdict())
    outputs = [_Message(header=None) for _ in range(3)]

    def whole_frame() -> None:
        image = image_msg_to_rgb8(message)
        result = segmenter.process(image)
        fill_image_msg(outputs[0], result.labels, "mono8")
        fill_image_msg(outputs[1], result.color, "rgb8")
        fill_image_msg(outputs[2], result.overlay, "rgb8")

    batch = segmenter.preprocess(image_msg_to_rgb8(message))[0].copy()
    for _ in range(warmup):
        whole_frame()
        segmenter.backend.infer(batch)
    pipeline_ms, model_ms = [], []
    for _ in range(runs):  # interleaved, so both see the same machine state
        start = time.perf_counter()
        whole_frame()
        pipeline_ms.append((time.perf_counter() - start) * 1e3)
        start = time.perf_counter()
        segmenter.backend.infer(batch)
        model_ms.append((time.perf_counter() - start) * 1e3)
    return {"pipeline_ms": float(np.median(pipeline_ms)), "model_ms": float(np.median(model_ms))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="squeezenas_lat_small,squeezenas_lat_large,fast_scnn")
    parser.add_argument("--sizes", default="1024x2048,512x1024")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--pipeline-size", default="1024x2048", metavar="HxW",
                        help="network input size of the pipeline comparison (first model of --models)")
    parser.add_argument("--frames", default="1024x2048,1080x1920", metavar="HxW,...",
                        help="camera frame sizes of the pipeline comparison")
    parser.add_argument("--settle", type=float, default=SETTLE_S, metavar="S",
                        help="seconds of pause before each timed model-only frame")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args()
    pipeline_size = parse_size(args.pipeline_size)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    results = {"model_only": [], "pipeline": []}
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        print(f"{'model':<24}{'size':>10}{'torch':>10}{'torch cl':>10}{'ort fp32':>10}{'ort int8':>10}"
              f"{'ort/torch':>11}{'int8/fp32':>11}   (median ms per frame, model only; ratios are speed-ups)")
        for arch in args.models.split(","):
            for size in map(parse_size, args.sizes.split(",")):
                card = card_with_weights(arch, size, cache)
                f = model_only(card, cache, args.runs, args.warmup, args.settle)
                row = {"model": arch, "size": list(size), **f}
                results["model_only"].append(row)
                print(f"{arch:<24}{size[0]}x{size[1]:<5}{f['torch eager']:>10.1f}{f['torch channels_last']:>10.1f}"
                      f"{f['onnxruntime fp32']:>10.1f}"
                      f"{f['onnxruntime int8']:>10.1f}{f['torch eager'] / f['onnxruntime fp32']:>10.2f}x"
                      f"{f['onnxruntime fp32'] / f['onnxruntime int8']:>10.2f}x", flush=True)
        print(f"\n{'pipeline (onnxruntime fp32)':<34}{'frame':>10}{'model':>10}{'pipeline':>10}{'fps ratio':>11}")
        for arch in args.models.split(",")[:1]:
            card = card_with_weights(arch, pipeline_size, cache)
            for frame in map(parse_size, args.frames.split(",")):
                p = pipeline_vs_model(card, cache, args.runs, args.warmup, frame)
                ratio = p["model_ms"] / p["pipeline_ms"]
                results["pipeline"].append({"model": arch, "frame": list(frame), **p, "fps_ratio": ratio})
                print(f"{arch + ' @' + args.pipeline_size:<34}{frame[0]}x{frame[1]:<5}{p['model_ms']:>10.1f}"
                      f"{p['pipeline_ms']:>10.1f}{ratio:>10.2f}x", flush=True)
    print("\nfps ratio = pipeline frame rate / model-only frame rate (1.0 = no overhead).")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
