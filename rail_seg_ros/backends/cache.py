"""The engine cache: where exported graphs and built engines are kept, and the one key that names them.

A cached file is reused only when everything that went into it is the same: the card's weights (by
content) and every setting baked into the graph, the input size, the outputs, the precision, the
calibration frames (int8), the export code's version, and for engines the TensorRT version and the
GPU's compute capability. Every backend names its cache files with :func:`cache_key`.
"""

import hashlib
import os
from pathlib import Path
from typing import List, Optional, Sequence

from ..fileio import writable_folder
from ..model_card import ModelCard

# Bumped whenever export_onnx writes a different graph for the same card, so cached exports are redone.
# 3: the uint8 input is cast to float before the NHWC -> NCHW transpose (TensorRT needs it so).
# 4: the low-resolution graph (ONNX Runtime on the CPU only) transposes the uint8 input before the cast.
EXPORT_VERSION = 4
CACHE_ENV = "RAIL_SEG_CACHE"
SYNTHETIC_CALIBRATION = "synthetic"


def default_cache_dir() -> Path:
    """``$RAIL_SEG_CACHE``, else ~/.cache/rail_seg_ros (read when called, so a changed variable counts)."""
    return Path(os.environ.get(CACHE_ENV, "~/.cache/rail_seg_ros")).expanduser()


def prepare_cache_dir(cache_dir: Optional[Path] = None) -> Path:
    """The cache folder to use (the given one or the default), created if missing."""
    return writable_folder(cache_dir or default_cache_dir(), "engine cache folder")


def file_digest(path, length: int = 12) -> str:
    """Short content hash of a file, for cache keys."""
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:length]


def card_digest(card: ModelCard) -> str:
    """What identifies a card's graph: its weights' content and every setting baked into the graph."""
    weights = card.weights_path() if card.weights and card.resolve(card.weights) else None  # a folder: refused
    parts: List[str] = [f"export{EXPORT_VERSION}", card.architecture, card.label_set,
                        "x".join(map(str, card.input_size)), card.color_order, repr(card.mean), repr(card.std),
                        file_digest(weights) if weights else "random-init"]
    return _short("|".join(parts))


def calibration_digest(source: Optional[str], frames: int = 8) -> str:
    """What identifies a calibration source: its resolved path and each file's size and modification time.

    Content hashes of a whole bag would cost seconds at every start; size and mtime change whenever
    a file is rewritten, which is what makes a cached int8 graph or engine stale.
    """
    if source is None:
        return f"{SYNTHETIC_CALIBRATION}-{frames}"
    path = Path(source).expanduser().resolve()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    parts = [str(path), str(frames)]
    for item in files:
        stat = item.stat()
        parts.append(f"{item.relative_to(path) if path.is_dir() else item.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return _short("|".join(parts))


def cache_key(card: ModelCard, outputs: Sequence[str], precision: str, calibration: Optional[str] = None,
              runtime: Sequence[str] = (), graph_file: Optional[Path] = None) -> str:
    """``<card>-<digest>``: the name stem of a cached graph or engine.

    ``runtime``: what the built artefact is tied to beyond the graph (for TensorRT engines its version and
    the GPU's compute capability). ``graph_file``: an ONNX file given by the user instead of the card's
    export; its content then identifies the graph. The calibration source counts for int8 only.
    """
    graph = f"file:{file_digest(graph_file)}" if graph_file else f"card:{card_digest(card)}"
    calib = calibration_digest(calibration) if precision == "int8" else "-"
    parts = [graph, "x".join(map(str, card.input_size)), "+".join(outputs), precision, f"calib:{calib}",
             f"export{EXPORT_VERSION}", *runtime]
    return f"{card.name}-{_short('|'.join(parts), 16)}"


def runtime_digest(runtime: Sequence[str]) -> str:
    """Names what depends only on the runtime (TensorRT's timing cache: version and GPU)."""
    return _short("|".join(runtime))


def _short(text: str, length: int = 12) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:length]
