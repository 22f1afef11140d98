"""Track ahead scored by the bench: the stage on each frame's labels, with the scene's own camera, against
the bag's track truth (``/track_truth``, written by ``rail-seg synth``: :mod:`rail_seg_ros.synth.truth`).

Offline and live alike, every frame with a truth record is run through ``TrackAhead`` (default
configuration) twice where the bag has label ground truth: on the model's labels (what the node would
see) and on the ground-truth labels (the stage alone). Figures are :mod:`rail_seg_ros.track.score`'s:
ego-path IoU (as TEP-Net), mean rail position error in pixels, obstacle recall and precision, and the
distance error of matched obstacles up to 100 m. A frame sent several times (live iterations) is scored
once. Where the bag has no truth, the report says so instead.
"""

import json
import threading
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..bag import TRACK_TRUTH_TOPIC, read_track_truth
from ..errors import RailSegError
from ..labels import RAILSEM19, LabelSet
from ..metrics import resize_labels_nearest
from ..track import GroundCamera, TrackAhead, TrackConfig, draw_track
from ..track.score import MATCH_IOU, score_frame, summarise

MAX_DISTANCE_M = 100.0   # distance errors are summarised up to this true distance (the bound)
MIN_PIXELS = 20          # true obstacles smaller than this do not count against recall
TRACK_DEFINITION = (
    "Track ahead: the stage runs on each frame's labels with the scene's exact camera (from the truth record). "
    "Ego-path IoU: the ego-path polygon (between the rails, from the image bottom to where the track is seen) "
    "against the true one, rasterised at the frame's size, mean over frames where either exists. Rail error: "
    "mean |column difference| of both rails over the rows both cover, px. Recall: true obstacles in the "
    f"envelope with >= {MIN_PIXELS} px found by a predicted one of the same class (box IoU >= {MATCH_IOU}; "
    "'any obstacle class': of whatever class); "
    "precision: predicted obstacles that match a true one in the envelope. Distance error: matched obstacles "
    f"up to {MAX_DISTANCE_M:g} m true distance, absolute (m) and relative to the true distance; not of those "
    "nearer than the camera's nearest visible ground (their contact is below the image; counted as unseen)."
)
Sample = Tuple[str, np.ndarray]


def camera_from_truth(record: Dict[str, Any]) -> GroundCamera:
    """The scene's exact camera from a truth record's ``camera`` (CameraInfo fields and the mounting)."""
    from ..synth.truth import camera_from_dict  # the truth's own format, read where it is written

    cam = record.get("camera")
    try:
        return camera_from_dict(cam)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RailSegError(f"track truth: camera {json.dumps(cam)[:200]} is incomplete ({exc})") from None


def _sample(rgb: np.ndarray, result: Any, shape: Tuple[int, int], caption: str) -> np.ndarray:
    if rgb.shape[:2] != shape:
        rgb = cv2.resize(rgb, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    out = draw_track(rgb, result)
    cv2.putText(out, caption, (6, shape[0] - 8), cv2.FONT_HERSHEY_SIMPLEX, max(0.4, shape[1] / 1600), (255, 255, 255),
                1, cv2.LINE_AA)
    return out


class TrackScorer:
    """Scores the stage frame by frame (from one worker thread) and summarises it for the report."""

    def __init__(self, truths: Dict[int, Dict[str, Any]], topic: str, samples: Sequence[int] = ()) -> None:
        self.truths = truths
        self.topic = topic
        self.wanted = set(samples)
        self.stage = TrackAhead(TrackConfig())
        self._lock = threading.Lock()
        self._scored: Dict[int, Tuple[Dict[str, Any], Optional[Dict[str, Any]]]] = {}
        self._samples: Dict[int, Sample] = {}
        self._stage_ms: List[float] = []
        self.without_truth = 0

    def add(self, index: int, stamp_ns: int, labels: np.ndarray, gt: Optional[np.ndarray] = None,
            rgb: Optional[np.ndarray] = None) -> None:
        """Score frame ``index`` (its header stamp finds the truth); ``rgb`` given: cut its overlay sample."""
        truth = self.truths.get(int(stamp_ns))
        if index in self._scored:
            return
        if truth is None:
            self.without_truth += 1
            return
        camera = camera_from_truth(truth)
        shape = (camera.height, camera.width)
        if labels.shape != shape:
            labels = resize_labels_nearest(labels, shape[0], shape[1])
        start = time.perf_counter()
        result = self.stage.run(labels, camera)
        self._stage_ms.append((time.perf_counter() - start) * 1e3)
        nearest = camera.nearest_visible_distance()
        model = score_frame(result, truth, shape, MIN_PIXELS, nearest)
        from_gt = None
        if gt is not None:
            if gt.shape != shape:
                gt = resize_labels_nearest(gt, shape[0], shape[1])
            from_gt = score_frame(self.stage.run(gt, camera), truth, shape, MIN_PIXELS, nearest)
        with self._lock:
            self._scored[index] = (model, from_gt)
            if rgb is not None and index in self.wanted:
                self._samples[index] = (f"frame{index:05d}_track_ahead",
                                        _sample(rgb, result, shape, f"track ahead: {result.status}"))

    def samples(self) -> List[Sample]:
        with self._lock:
            return [self._samples[i] for i in sorted(self._samples)]

    def summary(self) -> Dict[str, Any]:
        """report["track_ahead"]: the figures from the model's labels and from the ground truth's."""
        with self._lock:
            order = sorted(self._scored)
            model = [self._scored[i][0] for i in order]
            from_gt = [self._scored[i][1] for i in order if self._scored[i][1] is not None]
        return {
            "scored": bool(model), "truth_topic": self.topic, "frames": len(model),
            "frames_without_truth": self.without_truth,
            "stage_ms": float(np.mean(self._stage_ms)) if self._stage_ms else None,
            "model_labels": summarise(model, MAX_DISTANCE_M) if model else None,
            "gt_labels": summarise(from_gt, MAX_DISTANCE_M) if from_gt else None,
            "per_frame_iou": [f["ego_path_iou"] for f in model],
            "per_frame_iou_gt": [f["ego_path_iou"] for f in from_gt],
            "distances": [list(d) for f in model for d in f["distances"]],
            "distances_gt": [list(d) for f in from_gt for d in f["distances"]],
            "definition": TRACK_DEFINITION,
        }


def track_scorer_for(bag_path: Any, topic: Optional[str], label_set: LabelSet, samples: Sequence[int],
                     typestore: Optional[str] = None) -> Tuple[Optional[TrackScorer], Optional[str]]:
    """A scorer when the bag has track truth and the model RailSem19 labels; else None and why not."""
    if not topic:
        return None, "no track truth topic given: track ahead not scored"
    truths = read_track_truth(bag_path, topic, typestore)
    if not truths:
        return None, f"no track truth in bag ({topic}): track ahead not scored"
    if label_set.name != RAILSEM19.name:
        return None, (f"track ahead not scored: the model's label set is {label_set.name}; the stage reads "
                      f"{RAILSEM19.name} labels")
    return TrackScorer(truths, topic, samples), None


def track_report(scorer: Optional[TrackScorer], note: Optional[str]) -> Dict[str, Any]:
    """What the report holds under "track_ahead": the summary, or why there is none."""
    if scorer is not None:
        return scorer.summary()
    return {"scored": False, "note": note or f"no track truth in bag ({TRACK_TRUTH_TOPIC})"}
