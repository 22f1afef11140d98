"""The bench scores track ahead where the bag has /track_truth: offline through the CLI, live through the node
(domain 71), and says so where the bag has none. Scenes are drawn with the camera model (test/track)."""

from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np
import pytest
from conftest import START_NS, read_report, run_cli, write_small_card
from track.conftest import Scene, camera, curve

from rail_seg_ros import bag, bench
from rail_seg_ros.bench.track import TrackScorer, camera_from_truth, track_scorer_for
from rail_seg_ros.errors import RailSegError
from rail_seg_ros.labels import RAILSEM19
from rail_seg_ros.pipeline import Segmenter
from rail_seg_ros.synth.truth import camera_dict
from rail_seg_ros.track.config import CLASS_ID

HEIGHT, WIDTH = 272, 480
CAM = camera(WIDTH, HEIGHT, height_m=2.4, pitch=4.0)


def truth_record(scene: Scene, labels: np.ndarray, objects: List[Tuple[str, float, bool]]) -> Dict[str, Any]:
    """What the synthetic scenes write: the ego rails and polygon, the objects, the exact camera."""
    left, right = scene.rails(0, 150.0)
    record: Dict[str, Any] = {
        "ego_track": {"left_rail": left.tolist(), "right_rail": right.tolist(),
                      "centerline": ((left + right) / 2).tolist(), "polygon": np.vstack([left, right[::-1]]).tolist()},
        "camera": camera_dict(CAM),
        "obstacles": [],
    }
    for cls, distance, inside in objects:
        vs, us = np.nonzero(labels == CLASS_ID[cls])
        record["obstacles"].append({"class": cls, "distance_m": distance, "pixels": int(len(vs)), "in_envelope": inside,
                                    "bbox": [int(us.min()), int(vs.min()), int(us.max()) + 1, int(vs.max()) + 1]})
    return record


def scenes() -> List[Tuple[np.ndarray, Dict[str, Any]]]:
    """A clear straight track, a person on it at 30 m, a curve with a car beside the envelope."""
    out = []
    for make, objects in ((lambda s: s, []),
                          (lambda s: s.box("human", 30.0, 0.3), [("human", 30.0, True)]),
                          (lambda s: s.box("car", 25.0, -5.0, width=1.8, height=1.5), [("car", 25.0, False)])):
        scene = make(Scene(CAM).track(curve(None)))
        labels = scene.labels()
        out.append((labels, truth_record(scene, labels, objects)))
    return out


def palette_image(labels: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(RAILSEM19.palette[labels].astype(np.uint8))


def write_truth_bag(path: Path, frames: List[Tuple[np.ndarray, Dict[str, Any]]], truth: bool = True) -> Path:
    """Images, label ground truth and (optionally) /track_truth, as rail-seg synth writes them."""
    return bag.write_frames_bag(path, [(palette_image(labels), labels, record if truth else None)
                                       for labels, record in frames], start_time_ns=START_NS, progress=False)


@pytest.fixture(scope="module")
def truth_bag(tmp_path_factory) -> Path:
    return write_truth_bag(tmp_path_factory.mktemp("track") / "drive", scenes())


@pytest.fixture(scope="module")
def card(tmp_path_factory) -> Path:
    return write_small_card(tmp_path_factory.mktemp("card"), size=(HEIGHT, WIDTH))


def exact_segmenter(card: Path) -> Segmenter:
    """A Segmenter whose backend reads the palette image back into its labels: the model is exact."""
    segmenter = Segmenter.from_options(str(card), backend="torch", device="cpu")
    colours = RAILSEM19.palette[: RAILSEM19.num_classes].astype(np.int64) @ np.array([65536, 256, 1])
    order = np.argsort(colours)

    def infer(batch: np.ndarray) -> Dict[str, np.ndarray]:
        code = batch[0].astype(np.int64) @ np.array([65536, 256, 1])
        return {"labels": order[np.searchsorted(colours[order], code)].astype(np.uint8)[None]}

    segmenter.backend.infer = infer
    return segmenter


def test_the_bag_reader_returns_each_frames_record_by_stamp(truth_bag):
    truths = bag.read_track_truth(truth_bag)
    assert sorted(truths) == [START_NS + i * 100_000_000 for i in range(3)]
    assert truths[START_NS + 100_000_000]["obstacles"][0]["class"] == "human"
    assert bag.read_track_truth(truth_bag, "/no_such_topic") == {}


def test_offline_bench_scores_track_ahead_from_model_and_ground_truth_labels(truth_bag, card):
    result = bench.run_offline(truth_bag, exact_segmenter(card), samples=3, progress=False, warmup=0)
    track = result.run["track_ahead"]
    assert track["scored"] and track["frames"] == 3 and track["frames_without_truth"] == 0
    for side in ("model_labels", "gt_labels"):
        figures = track[side]
        assert figures["ego_path_iou"] >= 0.95, side
        assert figures["rail_error_px"] < 1.5
        # the person on the track is found at its distance; the car beside the envelope is not reported
        assert figures["obstacles_true"] == 1 and figures["recall"] == 1.0 and figures["precision"] == 1.0
        assert figures["distance_pairs"] == 1 and figures["distance_rel"]["max"] < 0.05
    assert len(track["per_frame_iou"]) == 3 and track["distances"][0][2] == "human"
    names = [name for name, _ in result.samples]
    assert sum(name.endswith("_track_ahead") for name in names) == 3


def test_the_report_has_the_track_ahead_section_plots_and_overlays(truth_bag, card, tmp_path, capsys):
    out = tmp_path / "report"
    assert run_cli("bench", truth_bag, "--model", card, "--backend", "torch", "--device", "cpu", "--out", out,
                   "--no-progress", "--samples", "2", "--warmup", "0") == 0
    report = read_report(out)
    assert report["track_ahead"]["scored"] and report["track_ahead"]["gt_labels"]["ego_path_iou"] >= 0.95
    assert "; track ahead: ego-path IoU " in capsys.readouterr().out
    assert {"track_ego_path_iou.png", "track_distances.png"} <= set(report["plots"])
    text = (out / "report.md").read_text()
    assert "## Track ahead" in text and "| ego-path IoU (mean) |" in text
    abs_row = next(line for line in text.splitlines() if line.startswith("| distance error abs (mean) |"))
    assert abs_row.split("|")[3].strip().endswith(" m")   # a figure, not n/a
    assert len(list((out / "samples").glob("*_track_ahead.png"))) == 2


def test_a_bag_without_truth_says_so(tmp_path, card):
    path = write_truth_bag(tmp_path / "notruth", scenes()[:1], truth=False)
    out = tmp_path / "report"
    assert run_cli("bench", path, "--model", card, "--backend", "torch", "--device", "cpu", "--out", out,
                   "--no-progress", "--samples", "0", "--warmup", "0") == 0
    report = read_report(out)
    assert report["track_ahead"] == {"scored": False,
                                     "note": f"no track truth in bag ({bag.TRACK_TRUTH_TOPIC}): track ahead not scored"}
    assert "no track truth in bag" in (out / "report.md").read_text()
    assert not any(p.startswith("track_") for p in report["plots"])


def test_scorer_rules(truth_bag):
    scorer, note = track_scorer_for(truth_bag, bag.TRACK_TRUTH_TOPIC, RAILSEM19, [0])
    assert note is None and isinstance(scorer, TrackScorer)
    from rail_seg_ros.labels import CITYSCAPES
    none, why = track_scorer_for(truth_bag, bag.TRACK_TRUTH_TOPIC, CITYSCAPES, [0])
    assert none is None and "label set is cityscapes" in why
    labels, record = scenes()[1]
    scorer.add(0, START_NS, labels)
    scorer.add(0, START_NS, np.zeros_like(labels))   # the same frame again (a live iteration): scored once
    scorer.add(1, 12345, labels)                     # a stamp without truth
    summary = scorer.summary()
    assert summary["frames"] == 1 and summary["frames_without_truth"] == 1
    assert summary["model_labels"]["ego_path_iou"] > 0.95
    cam = camera_from_truth(record)
    assert np.allclose(cam.to_ground(np.array([[240.0, 200.0]])), CAM.to_ground(np.array([[240.0, 200.0]])))
    with pytest.raises(RailSegError, match="track truth: camera"):
        camera_from_truth({"camera": {"width": WIDTH}})


def test_live_bench_scores_track_ahead_after_the_runs(truth_bag, card, tmp_path, dds, live_args):
    dds(71)
    out = tmp_path / "live"
    assert run_cli(*live_args(truth_bag, card, out, "--samples", "1", "--warmup", "1", "--rate", "0.25")) == 0
    report = read_report(out)
    track = report["track_ahead"]
    # the node runs the random-weight card: its labels are noise, the ground truth's are exact
    assert track["scored"] and track["frames"] == report["received"] >= 1
    assert track["gt_labels"]["ego_path_iou"] >= 0.95 and track["gt_labels"]["recall"] == 1.0
    assert len(list((out / "samples").glob("*_track_ahead.png"))) == 1


def test_compare_scores_track_ahead_per_model(truth_bag, card):
    from rail_seg_ros.bench.compare import render_compare_markdown, run_compare

    compared = run_compare(truth_bag, [exact_segmenter(card)], samples=0, warmup=0, progress=False)
    row = compared["report"]["models"][0]
    figures = row["track_ahead"]
    assert figures["ego_path_iou"] >= 0.95 and figures["obstacles_true"] == 1 and figures["recall"] == 1.0
    assert figures["distance_rel"]["max"] < 0.05
    text = render_compare_markdown(compared["report"])
    assert "## Track ahead" in text and f"| {row['model']} | {figures['ego_path_iou']:.3f} |" in text
    assert any("on that model's labels" in note for note in compared["report"]["notes"])
