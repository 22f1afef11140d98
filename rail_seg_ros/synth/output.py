"""Writing scenes to disk: a dataset folder in the RailSem19 layout."""

import json
from dataclasses import asdict
from pathlib import Path
from typing import List, Optional, Union

import cv2
import numpy as np
from tqdm import tqdm

from ..errors import RailSegError
from ..fileio import atomic_path
from .config import IMAGE_DIR, LABEL_DIR, SceneConfig
from .render import iter_scenes
from .truth import CAMERA_SUFFIX, TRUTH_SUFFIX, camera_info_yaml, ground_camera, track_truth


def _replaceable(path: Path) -> bool:
    """Only an empty folder or one this function wrote before may be replaced."""
    if not path.exists():
        return True
    if not path.is_dir():
        return False
    return {p.name for p in path.iterdir()} <= {"jpgs", "uint8", "synth.json"}


def write_dataset(out_dir: Union[str, Path], n: int, height: int, width: int, seed: int, sequence: bool = False,
                  progress: bool = True, config: Optional[SceneConfig] = None) -> Path:
    """Write ``n`` frames in the RailSem19 layout and return the folder.

    ``out_dir/jpgs/rs19_val/synNNNNN.jpg`` (quality 95) and ``out_dir/uint8/rs19_val/synNNNNN.png``
    (uint8 ids), beside each label map the track-ahead ground truth ``synNNNNN.track.json``
    (:func:`track_truth`) and the scene's exact camera ``synNNNNN.camera_info.yaml``, plus ``synth.json``
    saying how they were made. The folder appears complete or not at all; an existing folder is replaced
    only if it is empty or an earlier synthetic dataset.
    """
    out = Path(out_dir)
    if n < 1:
        raise RailSegError(f"number of frames must be at least 1, got {n}")
    if not _replaceable(out):
        raise RailSegError(f"{out}: exists and is not an earlier synthetic dataset; choose another folder")
    scenes = iter_scenes(n, height, width, seed, sequence, config)
    with atomic_path(out) as tmp:
        (tmp / IMAGE_DIR).mkdir(parents=True)
        (tmp / LABEL_DIR).mkdir(parents=True)
        for i, scene in enumerate(tqdm(scenes, total=n, disable=not progress, unit="frame", desc=f"synth {out.name}")):
            stem = f"syn{i:05d}"
            _imwrite(tmp / IMAGE_DIR / f"{stem}.jpg", cv2.cvtColor(scene.image, cv2.COLOR_RGB2BGR),
                     [cv2.IMWRITE_JPEG_QUALITY, 95])
            _imwrite(tmp / LABEL_DIR / f"{stem}.png", scene.labels, [])
            (tmp / LABEL_DIR / f"{stem}{TRUTH_SUFFIX}").write_text(json.dumps(track_truth(scene)) + "\n")
            (tmp / LABEL_DIR / f"{stem}{CAMERA_SUFFIX}").write_text(camera_info_yaml(ground_camera(scene), stem))
        meta = {"generator": "rail_seg_ros.synth", "frames": n, "height": height, "width": width, "seed": seed,
                "sequence": sequence, "labels": "railsem19",
                "frame_seeds": "one drive" if sequence else "frame i = render_scene(height, width, frame_seed(seed, i))",
                "config": asdict(config or SceneConfig())}
        (tmp / "synth.json").write_text(json.dumps(meta, indent=1) + "\n")
    return out


def _imwrite(path: Path, image: np.ndarray, params: List[int]) -> None:
    if not cv2.imwrite(str(path), image, params):
        raise RailSegError(f"could not write {path}")
