#!/usr/bin/env python3
"""Speed, measured side by side in one run on this machine (a script that prints figures, not a test).

1. Model only: a uint8 frame at the network's input size to labels at an output size, per engine:
   torch eager (NCHW, the full head in the graph), onnxruntime fp32 with the full head (upsampling and
   argmax in the graph), onnxruntime fp32 with the sparse head (the graph stops at the low-resolution
   logits; rail_seg_ros/head.py samples the labels at the output size), onnxruntime int8 with the sparse
   head. Output sizes: the network's own and a 1080x1920 camera frame's (the full-head engines then
   resize their labels by nearest neighbour, as the pipeline did before the sparse head).
2. The whole pipeline (an encoded sensor_msgs/Image in; labels, colour and overlay messages out) against
   model only, for frames at the model's size and for 1920x1080 camera frames.
3. The node's own stage timings (decode, preprocess, infer, postprocess, publish) for 1920x1080 frames:
   segmentation_node in this process, frames published to it over DDS on loopback, its outputs
   subscribed to; the means it reports on /diagnostics.

Frames: a synthetic rail scene (rail_seg_ros.synth) by default. The sparse head's cost grows with the
share of low-resolution cells whose corners disagree (printed as "mixed"): 10-25 % on scenes like a
camera's, ~40 % on uniform noise (``--frame noise``, its worst case); ``--frame reference`` takes the
public implementation's reference input from ../shared.
Weights: the public SqueezeNAS weights from ../shared where present, seeded random weights otherwise
(the network's speed does not depend on the values; the head's does, through the mixed cells: seeded
Fast-SCNN weights label every pixel alike, mixed 0 %, so its sparse column is the head's lower bound). int8 is
calibrated on synthetic rail scenes; its labels are compared with fp32's (both with the sparse head) on the
measured frame and on the reference input where ../shared has it. On a machine shared
with other work absolute figures drift; compare the ratios within one run.

    .venv/bin/python benchmarks/speed.py --quick             # lat_small only, a few runs (~5 min on 2 cores)
    .venv/bin/python benchmarks/speed.py                     # everything (long on 2 cores)
    .venv/bin/python benchmarks/speed.py --models fast_scnn --outputs 1080x1920 --no-node
"""

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Dict, List, Tuple

import cv2
import numpy as np
import torch

from rail_seg_ros.backends.onnxruntime_backend import OnnxRuntimeBackend
from rail_seg_ros.backends.torch_backend import TorchBackend
from rail_seg_ros.head import COMPILED, LOW_LABELS, LOW_LOGITS, mixed_share, sparse_labels
from rail_seg_ros.image_codec import encode_image, fill_image_msg, image_msg_to_rgb8
from rail_seg_ros.model_card import ModelCard, card_for_architecture
from rail_seg_ros.pipeline import Segmenter
from rail_seg_ros.sizes import parse_size
from rail_seg_ros.synth import render_scene

# Pause before each timed frame: the previous engine's worker threads (torch's OpenMP pool, onnxruntime's
# pool) keep spinning for a while after a run and would steal the 2 cores from the next engine.
SETTLE_S = 0.5
SHARED_WEIGHTS = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "squeezenas" / "weights"
MODELS = "squeezenas_lat_small,squeezenas_lat_large,squeezenas_mac_small,fast_scnn"
# lat_large's int8 calibration at 1024x2048 takes minutes (it needed more than 24 GB before quantize_int8
# calibrated frame by frame: README, Speed)
INT8_SKIP = "squeezenas_lat_large"
ENGINES = ("torch eager", "ort fp32 full", "ort fp32 sparse", "ort int8 sparse")
FRAMES = ("scene", "reference", "noise")
SCENE_SEED = 20240  # a scene with track, vegetation, a platform and people
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "squeezenas" / "reference"


def test_frame(kind: str, size: Tuple[int, int], seed: int = 0) -> np.ndarray:
    """One H x W x 3 uint8 RGB frame of the kind asked for (see the module's docstring)."""
    if kind == "noise":
        return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    if kind == "reference":
        path = REFERENCE / "input_structured_1024x2048.png"
        if not path.exists():
            raise SystemExit(f"speed.py: --frame reference needs {path}")
        image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        return cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA) if image.shape[:2] != size else image
    return render_scene(size[0], size[1], SCENE_SEED + seed)[0]


def card_with_weights(arch: str, size, workdir: Path) -> ModelCard:
    """A card for ``arch`` at ``size`` with the public weights where we have them, else seeded random ones."""
    public = SHARED_WEIGHTS / f"{arch.replace('squeezenas_', '')}.pth"
    card = card_for_architecture(arch, input_size=size)
    if public.exists():
        weights = public
    else:
        weights = workdir / f"{arch}.pt"
        if not weights.exists():
            from rail_seg_ros.nets import build_model

            torch.manual_seed(0)
            torch.save(build_model(arch, card.num_classes).state_dict(), weights)
    return replace(card, weights=str(weights), name=f"{arch}-{size[0]}x{size[1]}")


def labels_function(engine, out_size: Tuple[int, int]) -> Callable[[np.ndarray], np.ndarray]:
    """frame -> labels at ``out_size``: the sparse head samples there, a full head is resized (nearest)."""
    if engine.low_resolution:
        def sparse(batch: np.ndarray) -> np.ndarray:
            raw = engine.run_graph(batch)
            return sparse_labels(raw[LOW_LOGITS][0], out_size, low_labels=raw[LOW_LABELS][0])
        return sparse

    def full(batch: np.ndarray) -> np.ndarray:
        labels = engine.infer(batch)["labels"][0]
        if labels.shape != out_size:
            labels = cv2.resize(labels, (out_size[1], out_size[0]), interpolation=cv2.INTER_NEAREST)
        return labels
    return full


def make_engines(card: ModelCard, cache: Path, int8: bool) -> Dict[str, object]:
    engines: Dict[str, object] = {
        # eager PyTorch as the public SqueezeNAS code runs it (NCHW)
        "torch eager": TorchBackend(card, "fp32", "cpu", ("labels",), channels_last=False),
        "ort fp32 full": OnnxRuntimeBackend(card, "fp32", "cpu", ("labels",), cache, head="full"),
        "ort fp32 sparse": OnnxRuntimeBackend(card, "fp32", "cpu", ("labels",), cache, head="sparse"),
    }
    if int8:
        engines["ort int8 sparse"] = OnnxRuntimeBackend(card, "int8", "cpu", ("labels",), cache, head="sparse")
    return engines


def model_only(card: ModelCard, cache: Path, outputs: List[Tuple[int, int]], args) -> Dict[str, Dict[str, float]]:
    """Median ms per frame of every engine for every output size, round robin (same machine state)."""
    frame = test_frame(args.frame, card.input_size)[None]
    engines = make_engines(card, cache, int8=card.architecture not in args.int8_skip.split(","))
    mixed = mixed_share(engines["ort fp32 sparse"].run_graph(frame)[LOW_LABELS][0])
    agreement = int8_agreement(engines, card.input_size, frame)
    calls = {(name, size): labels_function(engine, size) for name, engine in engines.items() for size in outputs}
    for call in calls.values():
        for _ in range(args.warmup):
            call(frame)
    times: Dict[Tuple[str, Tuple[int, int]], List[float]] = {key: [] for key in calls}
    for _ in range(args.runs):
        for key, call in calls.items():
            time.sleep(args.settle)
            start = time.perf_counter()
            call(frame)
            times[key].append((time.perf_counter() - start) * 1e3)
    result: Dict[str, Dict[str, float]] = {}
    for (name, size), values in times.items():
        result.setdefault(f"{size[0]}x{size[1]}", {})[name] = float(np.median(values))
    for figures in result.values():
        figures["mixed"] = mixed
        figures.update(agreement)
    for engine in engines.values():
        engine.close()
    return result


def int8_agreement(engines: Dict[str, object], size: Tuple[int, int], frame: np.ndarray) -> Dict[str, float]:
    """Share of pixels where int8's labels equal fp32's: on ``frame`` and on the reference input."""
    if "ort int8 sparse" not in engines:
        return {}
    frames = {"int8_agree": frame}
    if (REFERENCE / "input_structured_1024x2048.png").exists():
        frames["int8_agree_reference"] = test_frame("reference", size)[None]
    return {key: float((engines["ort int8 sparse"].infer(f)["labels"] == engines["ort fp32 sparse"].infer(f)["labels"])
                       .mean()) for key, f in frames.items()}


def print_model_row(arch: str, size: Tuple[int, int], output: str, f: Dict[str, float]) -> None:
    cells = "".join(f"{f[name]:>10.1f}" if name in f else f"{'-':>10}" for name in ENGINES)
    sparse, full, torch_ms = f["ort fp32 sparse"], f["ort fp32 full"], f["torch eager"]
    int8 = f"{sparse / f['ort int8 sparse']:>10.2f}x" if "ort int8 sparse" in f else f"{'-':>11}"
    print(f"{arch:<22}{size[0]}x{size[1]:<5}{output:>10}{cells}{torch_ms / full:>10.2f}x{torch_ms / sparse:>10.2f}x"
          f"{full / sparse:>10.2f}x{int8}{f['mixed'] * 100:>7.1f}%"
          + "".join(f"{f[key] * 100:>10.2f}%" for key in ("int8_agree", "int8_agree_reference") if key in f),
          flush=True)


class _Message(SimpleNamespace):
    """Stands in for sensor_msgs/Image: the codec only reads and writes fields."""


def pipeline_vs_model(card: ModelCard, cache: Path, runs: int, warmup: int, frame_size, frame_kind: str) -> dict:
    """The whole frame (decode, segment, three output messages) against ``backend.infer`` alone."""
    segmenter = Segmenter(card, OnnxRuntimeBackend(card, "fp32", "cpu", ("labels",), cache))
    rgb = test_frame(frame_kind, frame_size, seed=1)
    message = _Message(**encode_image(rgb, "rgb8")._asdict())
    outputs = [_Message(header=None) for _ in range(3)]
    stages: Dict[str, List[float]] = {}

    def whole_frame() -> None:
        image = image_msg_to_rgb8(message)
        result = segmenter.process(image)
        fill_image_msg(outputs[0], result.labels, "mono8")
        fill_image_msg(outputs[1], result.color, "rgb8")
        fill_image_msg(outputs[2], result.overlay, "rgb8")
        for stage, ms in result.timings_ms.items():
            stages.setdefault(stage, []).append(ms)

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
    segmenter.close()
    return {"pipeline_ms": float(np.median(pipeline_ms)), "model_ms": float(np.median(model_ms)),
            "stages_ms": {stage: float(np.median(v[warmup:])) for stage, v in stages.items()}}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="squeezenas_lat_small only, 3 runs, 1 warm-up (the other options still apply)")
    parser.add_argument("--models", default=MODELS, help=f"architectures (default {MODELS})")
    parser.add_argument("--size", default="1024x2048", metavar="HxW", help="network input size (default 1024x2048)")
    parser.add_argument("--outputs", default="network,1080x1920", metavar="HxW,...",
                        help="label sizes: 'network' (the input size) and camera frame sizes")
    parser.add_argument("--int8-skip", default=INT8_SKIP, metavar="ARCH,...",
                        help=f"architectures without the int8 column (default {INT8_SKIP}: its calibration at "
                             "1024x2048 takes minutes)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--frames", default="1024x2048,1080x1920", metavar="HxW,...",
                        help="camera frame sizes of the pipeline comparison (first model, network at --size)")
    parser.add_argument("--frame", choices=FRAMES, default="scene",
                        help="what the frames show: a synthetic rail scene (default), the public reference input "
                             "or uniform noise (the sparse head's worst case)")
    parser.add_argument("--settle", type=float, default=SETTLE_S, metavar="S",
                        help="seconds of pause before each timed model-only frame")
    parser.add_argument("--no-node", action="store_true", help="skip the node's stage timings (no DDS)")
    parser.add_argument("--node-frames", type=int, default=20, help="1920x1080 frames sent to the node")
    parser.add_argument("--cache-dir", metavar="DIR",
                        help="keep exported and int8 graphs here for the next run (default: a temporary folder)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.models, args.runs, args.warmup, args.node_frames = "squeezenas_lat_small", 3, 1, 12
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    size = parse_size(args.size)
    outputs = [size if o == "network" else parse_size(o) for o in args.outputs.split(",")]
    torch.set_num_threads(max(1, torch.get_num_threads()))
    results: dict = {"model_only": [], "pipeline": [], "node": None}
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(args.cache_dir or tmp)
        cache.mkdir(parents=True, exist_ok=True)
        print(f"{'model':<22}{'size':>10}{'labels':>10}{'torch':>10}{'ort full':>10}{'ort sprs':>10}{'int8 sprs':>10}"
              f"{'full/trch':>11}{'sprs/trch':>11}{'sprs/full':>11}{'int8/fp32':>11}{'mixed':>8}{'int8 agr':>11}"
              f"{'(ref)':>11}")
        for arch in args.models.split(","):
            card = card_with_weights(arch, size, cache)
            figures = model_only(card, cache, outputs, args)
            for output, f in figures.items():
                results["model_only"].append({"model": arch, "size": list(size), "labels": output, **f})
                print_model_row(arch, size, output, f)
        print(f"(median ms per frame, model only: uint8 {args.frame} frame in, labels at the 'labels' size out; "
              f"ratios are speed-ups; mixed: share of low-resolution cells the sparse head interpolates; "
              f"its {'compiled' if COMPILED else 'numpy'} loop; int8 agr: int8 labels equal to fp32's, on this frame "
              f"and on the reference input)")
        print(f"\n{'pipeline (ort fp32, default head)':<36}{'frame':>10}{'model':>10}{'pipeline':>10}{'fps ratio':>11}"
              f"   stages (ms)")
        arch = args.models.split(",")[0]
        card = card_with_weights(arch, size, cache)
        for frame in map(parse_size, args.frames.split(",")):
            p = pipeline_vs_model(card, cache, args.runs, args.warmup, frame, args.frame)
            ratio = p["model_ms"] / p["pipeline_ms"]
            results["pipeline"].append({"model": arch, "frame": list(frame), **p, "fps_ratio": ratio})
            stages = ", ".join(f"{k} {v:.1f}" for k, v in p["stages_ms"].items())
            print(f"{arch + ' @' + args.size:<36}{frame[0]}x{frame[1]:<5}{p['model_ms']:>10.1f}"
                  f"{p['pipeline_ms']:>10.1f}{ratio:>10.2f}x   {stages}", flush=True)
        print("fps ratio = pipeline frame rate / model-only frame rate (1.0 = no overhead).")
        if not args.no_node:
            from speed_node import node_stage_times

            results["node"] = node_stage_times(card, cache, test_frame(args.frame, (1080, 1920), seed=2),
                                               args.node_frames)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
