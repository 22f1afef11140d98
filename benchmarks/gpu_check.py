#!/usr/bin/env python3
"""GPU check: every network in torch CUDA fp32 and fp16 (channels_last, CUDA graphs where they help),
timed with CUDA events, fp16 labels checked against fp32; TensorRT and onnxruntime-gpu where importable.

One command on a machine with an NVIDIA GPU and a CUDA build of torch:

    python benchmarks/gpu_check.py --out gpu_check            # gpu_check.json and gpu_check.md

Sizes: 1024x2048 network inputs, and 1088x1920 for 1920x1080 camera frames (the smallest canvas of
multiples of 32 holding them, as ``resize: fit`` pads them). Each network, size and precision: a warm-up,
then ``--runs`` timed frames (median ms); the graph is the one every backend runs (uint8 in, labels out).
Weights: the public SqueezeNAS weights from ../shared where present, seeded random ones otherwise.
Budget: under 8 minutes on one GPU with the defaults (progress is printed as it goes).
Without CUDA it stops at once with one line and exit status 2.
"""

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

SIZES = ("1024x2048", "1088x1920")
FP16_AGREEMENT = 0.995  # fp16 labels equal to fp32 on at least this share of pixels
COLUMNS = ("model", "size", "engine", "precision", "ms", "fps", "agreement_vs_fp32", "note")


def label_agreement(labels: np.ndarray, reference: np.ndarray) -> float:
    """Share of pixels whose labels are equal (arrays of the same shape)."""
    if labels.shape != reference.shape:
        raise ValueError(f"labels of shape {labels.shape} against a reference of shape {reference.shape}")
    return float(np.mean(labels == reference)) if labels.size else 1.0


def fp16_check(agreement: Optional[float], threshold: float = FP16_AGREEMENT) -> str:
    if agreement is None:
        return ""
    return "ok" if agreement >= threshold else f"below {threshold * 100:.1f} %"


def markdown_table(rows: Sequence[Dict]) -> str:
    """The rows as a Markdown table, one line per network, size, engine and precision."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        cells = []
        for column in COLUMNS:
            value = row.get(column, "")
            if isinstance(value, float):
                value = f"{value * 100:.3f} %" if column == "agreement_vs_fp32" else f"{value:.2f}"
            cells.append(str(value if value is not None else ""))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_results(rows: Sequence[Dict], meta: Dict, out: Path) -> List[Path]:
    """``out``.json (meta and rows) and ``out``.md (meta as a header, the table), each written whole."""
    from rail_seg_ros.fileio import atomic_path

    json_path, md_path = out.with_suffix(".json"), out.with_suffix(".md")
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps({"meta": meta, "rows": list(rows)}, indent=2))
    header = "".join(f"- {key}: {value}\n" for key, value in meta.items())
    with atomic_path(md_path) as tmp:
        tmp.write_text(f"# GPU check\n\n{header}\n{markdown_table(rows)}")
    return [json_path, md_path]


def cuda_timer(torch, run: Callable[[], object], runs: int, warmup: int) -> float:
    """Median ms of ``run`` between CUDA events (the GPU's own time, each run synchronised)."""
    for _ in range(warmup):
        run()
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        run()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return float(np.median(times))


def _graphed(torch, graph, frame):
    """The graph captured as a CUDA graph on a static input (replays skip the per-kernel launch cost)."""
    static_in = frame.clone()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(2):
            graph(static_in)
    torch.cuda.current_stream().wait_stream(stream)
    cuda_graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(cuda_graph):
        static_out = graph(static_in)
    return lambda: (cuda_graph.replay(), static_out)[1]


def torch_rows(torch, card, net, size: str, args) -> List[Dict]:
    """torch CUDA fp32 and fp16 (autocast), eager and CUDA-graphed; fp16 labels against fp32."""
    from rail_seg_ros.graph import SegmentationGraph

    graph = SegmentationGraph(card, net, ("labels",)).eval().cuda().to(memory_format=torch.channels_last)
    frame = torch.from_numpy(args.frame(card.input_size)).cuda()
    rows, labels = [], {}
    for precision in ("fp32", "fp16"):
        def eager(precision=precision):
            with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16, enabled=precision == "fp16"):
                return graph(frame)[0]
        labels[precision] = eager().cpu().numpy()
        agreement = None if precision == "fp32" else label_agreement(labels["fp16"], labels["fp32"])
        for engine, run in (("torch eager", eager), ("torch cuda graph", None)):
            note = fp16_check(agreement)
            if run is None:
                try:
                    with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16, enabled=precision == "fp16"):
                        run = _graphed(torch, graph, frame)
                except RuntimeError as exc:  # capture is refused by some ops/drivers: note it, keep going
                    rows.append(_row(card, size, engine, precision, None, agreement, f"not captured: {exc}"[:120]))
                    continue
            ms = cuda_timer(torch, run, args.runs, args.warmup)
            rows.append(_row(card, size, engine, precision, ms, agreement, note))
            print(f"  {card.architecture} {size} {engine} {precision}: {ms:.2f} ms {note}", flush=True)
    return rows


def _row(card, size: str, engine: str, precision: str, ms: Optional[float], agreement: Optional[float],
         note: str) -> Dict:
    return {"model": card.architecture, "size": size, "engine": engine, "precision": precision, "ms": ms,
            "fps": (1000.0 / ms) if ms else None, "agreement_vs_fp32": agreement, "note": note}


def runtime_rows(card, size: str, args, reference: np.ndarray) -> List[Dict]:
    """TensorRT (fp32, fp16) and onnxruntime-gpu (CUDA provider), each only where importable."""
    import time as _time

    from rail_seg_ros.backends import create_backend
    from rail_seg_ros.backends.onnxruntime_backend import available_providers
    from rail_seg_ros.backends.tensorrt_backend import tensorrt_available

    engines = []
    if tensorrt_available():
        engines += [("tensorrt", "fp32"), ("tensorrt", "fp16")]
    try:
        if "CUDAExecutionProvider" in available_providers():
            engines.append(("onnxruntime", "fp32"))
    except ImportError:
        pass
    rows = []
    frame = args.frame(card.input_size)[None]
    for backend, precision in engines:
        try:
            engine = create_backend(card, backend, precision, "cuda", ("labels",), args.cache)
            for _ in range(args.warmup):
                engine.infer(frame)
            times = []
            for _ in range(args.runs):  # host-side timing: these engines copy the labels back each frame
                start = _time.perf_counter()
                labels = engine.infer(frame)["labels"][0]
                times.append((_time.perf_counter() - start) * 1e3)
            agreement = label_agreement(labels, reference)
            rows.append(_row(card, size, f"{backend} ({engine.describe()})", precision, float(np.median(times)),
                             agreement, fp16_check(agreement) + " host-timed, copies included"))
            engine.close()
        except Exception as exc:  # one engine failing must not end the check
            rows.append(_row(card, size, backend, precision, None, None, f"failed: {exc}"[:160]))
        print(f"  {card.architecture} {size} {rows[-1]['engine']} {precision}: {rows[-1]['ms']} ms", flush=True)
    return rows


def parse_args(argv=None) -> argparse.Namespace:
    from rail_seg_ros.nets import ARCHITECTURES

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(ARCHITECTURES), help="architectures (default: all)")
    parser.add_argument("--sizes", default=",".join(SIZES), metavar="HxW,...")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--out", default="gpu_check", help="writes OUT.json and OUT.md (default gpu_check)")
    parser.add_argument("--budget", type=float, default=420.0, metavar="S",
                        help="seconds after which the remaining networks are skipped (default 420)")
    parser.add_argument("--cache", default=None, help="engine cache folder (default: a temporary one)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        import torch
    except ImportError:
        print("gpu_check: torch is not installed", file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print(f"gpu_check: CUDA is not available to torch {torch.__version__} (needs an NVIDIA GPU and a CUDA "
              "build of torch)", file=sys.stderr)
        return 2
    import tempfile

    from speed import card_with_weights

    from rail_seg_ros.model_card import build_network, parse_size

    torch.backends.cudnn.benchmark = True
    # the same frame for every engine of one size (a fresh generator each time)
    args.frame = lambda size: np.random.default_rng(0).integers(0, 256, (1, *size, 3), dtype=np.uint8)
    rows: List[Dict] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        args.cache = Path(args.cache or tmp)
        for arch in args.models.split(","):
            for size in args.sizes.split(","):
                card = card_with_weights(arch, parse_size(size), Path(tmp))
                if time.monotonic() - started > args.budget:
                    rows.append(_row(card, size, "-", "-", None, None, f"skipped: past the {args.budget:.0f} s budget"))
                    continue
                print(f"{arch} {size} ({time.monotonic() - started:.0f} s)", flush=True)
                net = build_network(card)
                rows += torch_rows(torch, card, net, size, args)
                reference = torch_reference(torch, card, net, args)
                rows += runtime_rows(card, size, args, reference)
                del net
                torch.cuda.empty_cache()
    meta = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "cuda": torch.version.cuda,
            "runs": args.runs, "seconds": round(time.monotonic() - started, 1),
            "fp16_ok": all(r["note"] != f"below {FP16_AGREEMENT * 100:.1f} %" for r in rows)}
    for path in write_results(rows, meta, Path(args.out)):
        print(f"wrote {path}")
    return 0


def torch_reference(torch, card, net, args) -> np.ndarray:
    """fp32 labels of torch on the check's frame (what the runtimes are compared with)."""
    from rail_seg_ros.graph import SegmentationGraph

    graph = SegmentationGraph(card, net, ("labels",)).eval().cuda()
    with torch.no_grad():
        return graph(torch.from_numpy(args.frame(card.input_size)).cuda())[0][0].cpu().numpy()


if __name__ == "__main__":
    sys.exit(main())
