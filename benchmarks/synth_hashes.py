#!/usr/bin/env python3
"""sha256 of synthetic scenes (image and label bytes), to show a refactoring of ``rail_seg_ros.synth``
renders byte-identical frames (a script, not a test: the hashes hold for the pinned OpenCV and numpy).

    .venv/bin/python benchmarks/synth_hashes.py --write /tmp/before.json   # with the old code
    .venv/bin/python benchmarks/synth_hashes.py --check /tmp/before.json   # with the new code: exit 1 on a change

benchmarks/synth_hashes.json holds the hashes of the scenes as they were before synth.py became the
``synth/`` package (OpenCV 5.0.0.93, numpy 2.4.6): ``--check benchmarks/synth_hashes.json``.

Cases: default scenes at several sizes, each style forced, switches, a train ahead, a drive (sequence,
with the camera shake) and the dataset seeds of ``iter_frames``.
"""

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import numpy as np

from rail_seg_ros import synth

MAINLINE, STREET, TRAMWAY = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)

# (name, height, width, seed, SceneConfig overrides)
SCENES: List[Tuple[str, int, int, int, Dict]] = [
    ("default-0", 288, 512, 0, {}),
    ("default-1", 72, 136, 1, {}),
    ("default-2", 192, 384, 2, {}),
    ("default-3-odd", 97, 203, 3, {}),
    ("default-4-large", 540, 960, 4, {}),
    ("mainline", 144, 256, 5, {"style_weights": MAINLINE}),
    ("mainline+street", 144, 256, 6, {"style_weights": STREET}),
    ("tramway-7", 144, 256, 7, {"style_weights": TRAMWAY}),
    ("tramway-switch", 144, 256, 9, {"style_weights": TRAMWAY, "p_switch": 1.0}),
    ("mainline-switch-9", 192, 384, 9, {"style_weights": MAINLINE, "p_switch": 1.0}),
    ("mainline-switch-10", 144, 256, 10, {"style_weights": MAINLINE, "p_switch": 1.0, "p_neighbour": 1.0}),
    ("train-ahead", 144, 256, 11, {"p_train_ahead": 1.0, "p_blur": 1.0}),
    ("straight-crossing", 144, 256, 12, {"p_straight": 1.0, "p_crossing": 1.0, "p_platform": 1.0}),
]


def _digest(image: np.ndarray, labels: np.ndarray) -> Dict[str, str]:
    return {"image": hashlib.sha256(image.tobytes()).hexdigest() + f" {image.shape}",
            "labels": hashlib.sha256(labels.tobytes()).hexdigest() + f" {labels.shape}"}


def _cases() -> Iterator[Tuple[str, np.ndarray, np.ndarray]]:
    for name, height, width, seed, overrides in SCENES:
        image, labels = synth.render_scene(height, width, seed, synth.SceneConfig(**overrides))
        yield name, image, labels
    for i, (image, labels) in enumerate(synth.render_sequence(4, 144, 256, 13)):
        yield f"drive-13-frame{i}", image, labels
    for i, (image, labels) in enumerate(synth.iter_frames(3, 96, 192, 14)):
        yield f"dataset-14-frame{i}", image, labels


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", metavar="JSON", help="render the cases and write their hashes here")
    group.add_argument("--check", metavar="JSON", help="render the cases and compare with these hashes")
    args = parser.parse_args()
    hashes = {name: _digest(image, labels) for name, image, labels in _cases()}
    if args.write:
        Path(args.write).write_text(json.dumps(hashes, indent=1) + "\n")
        print(f"wrote {len(hashes)} hashes to {args.write}")
        return 0
    expected = json.loads(Path(args.check).read_text())
    bad = [name for name in expected if hashes.get(name) != expected[name]]
    missing = sorted(set(hashes) ^ set(expected))
    for name in bad:
        print(f"CHANGED {name}: {expected[name]} -> {hashes.get(name)}")
    if missing:
        print(f"cases not in both: {missing}")
    print(f"{len(expected) - len(bad)} of {len(expected)} cases identical")
    return 1 if bad or missing else 0


if __name__ == "__main__":
    sys.exit(main())
