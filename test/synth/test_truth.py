"""Track-ahead ground truth of synthetic scenes: the stage, run on a scene's own labels with its exact camera,
must agree with it (ego path, rails, obstacles and their distances), and the truth travels through dataset
folders, bags and the track-ahead CLI unchanged."""

import json
from pathlib import Path
from typing import Any, Dict, Tuple

import numpy as np
import pytest

from rail_seg_ros import bag, synth
from rail_seg_ros.cli import main
from rail_seg_ros.track import Intrinsics, TrackAhead, ego_path_iou, load_camera_info, rail_position_error, score_frame

H, W = 288, 512
MAINLINE = (1.0, 0.0, 0.0)
PLAIN = dict(style_weights=MAINLINE, p_switch=0.0, p_neighbour=0.0, p_train=0.0, p_train_ahead=0.0)

# name -> (seed, SceneConfig overrides)
CASES: Dict[str, Tuple[int, Dict[str, Any]]] = {
    "straight": (3, dict(PLAIN, p_straight=1.0, curvature_wave=(0.0, 0.0))),
    "curved": (4, dict(PLAIN, p_straight=0.0, curvature=(1 / 300, 1 / 300), curvature_wave=(0.0, 0.0))),
    "switch": (5, dict(PLAIN, p_switch=1.0)),
    "neighbour": (6, dict(PLAIN, p_neighbour=1.0, p_train=1.0)),
    "tramway": (7, dict(style_weights=(0.0, 0.0, 1.0))),
}


def _scene(name: str) -> synth.Scene:
    seed, overrides = CASES[name]
    return synth.make_scene(H, W, seed, synth.SceneConfig(**overrides))


def _stage(scene: synth.Scene, truth: Dict[str, Any]) -> Dict[str, Any]:
    return TrackAhead().run(scene.labels, synth.camera_from_dict(truth["camera"])).to_dict(ndigits=3)


def test_scene_is_the_rendered_one_and_the_camera_is_exact() -> None:
    scene = _scene("curved")
    image, labels = synth.render_scene(H, W, CASES["curved"][0], scene.config)
    assert np.array_equal(image, scene.image) and np.array_equal(labels, scene.labels)
    camera = synth.camera_from_dict(synth.track_truth(scene)["camera"])
    x, y, z = np.array([-3.0, 0.7, 2.5]), np.array([0.0, 0.1, 2.0]), np.array([6.0, 30.0, 150.0])
    assert np.allclose(camera.project(np.column_stack([z, -x, y])), scene.camera.project(x, y, z), atol=1e-6)


def test_kinds_of_scene_are_what_the_cases_say() -> None:
    tracks = {name: _scene(name).world.tracks for name in CASES}
    assert all(len(t) == 1 for t in (tracks["straight"], tracks["curved"]))
    assert _scene("straight").world.curve[0] == 0.0 and _scene("curved").world.curve[0] != 0.0
    assert any(t.switch_at is not None and 0 < t.switch_at < 120 for t in tracks["switch"])
    assert any(t.parallel and abs(t.offset) > 3.0 for t in tracks["neighbour"])
    assert tracks["tramway"][0].embedded


@pytest.mark.parametrize("name", sorted(CASES))
def test_stage_on_ground_truth_labels_matches_the_truth(name: str) -> None:
    scene = _scene(name)
    truth = synth.track_truth(scene)
    result = _stage(scene, truth)
    ego, found = truth["ego_track"], result["ego_track"]
    assert ego is not None and found is not None
    assert ego_path_iou(found["polygon"], ego["polygon"], (H, W)) >= 0.9
    assert rail_position_error(found, ego) < 1.5
    # left is left: in every row the left rail lies left of the right one
    left, right = np.asarray(ego["left_rail"]), np.asarray(ego["right_rail"])
    assert (np.interp(right[:, 1], left[::-1, 1], left[::-1, 0]) < right[:, 0]).all()
    assert truth["clear"] == (not any(o["in_envelope"] and o["pixels"] >= 20 for o in truth["obstacles"]))


def test_a_wrong_truth_fails_the_checks() -> None:
    """The checks above can fail: rails swapped, or the truth of another scene."""
    scene = _scene("curved")
    truth = synth.track_truth(scene)
    found = _stage(scene, truth)["ego_track"]
    swapped = dict(truth["ego_track"], left_rail=truth["ego_track"]["right_rail"],
                   right_rail=truth["ego_track"]["left_rail"])
    assert rail_position_error(found, swapped) > 10.0
    other = synth.track_truth(_scene("straight"))["ego_track"]
    assert ego_path_iou(found["polygon"], other["polygon"], (H, W)) < 0.9


def test_obstacle_on_the_track_is_reported_with_its_distance_and_one_beside_it_is_not() -> None:
    checked = beside_checked = 0
    for seed in range(20, 32):
        config = synth.SceneConfig(**dict(PLAIN, p_track_obstacle=1.0, track_obstacle_range=(8.0, 35.0)))
        scene = synth.make_scene(H, W, seed, config)
        truth = synth.track_truth(scene)
        on = [o for o in truth["obstacles"] if o["in_envelope"] and o["pixels"] >= 20 and o["distance_m"] <= 100]
        if not on:
            continue
        result = _stage(scene, truth)
        score = score_frame(result, truth, (H, W))
        assert score["found"] == score["truth"] >= 1 and not truth["clear"] and not result["clear"]
        for predicted, true, _ in score["distances"]:
            assert abs(predicted - true) <= 0.05 * true
        beside = [o for o in truth["obstacles"] if not o["in_envelope"] and o["class"] == "human" and o["pixels"] >= 20]
        beside_checked += len(beside)
        for o in beside:   # nothing the stage reports is one of them
            assert all(p["bbox"] != o["bbox"] for p in result["obstacles"])
        checked += 1
    assert checked >= 5 and beside_checked >= 3


def test_the_track_is_followed_past_a_car_on_it() -> None:
    # a car 10 m ahead on a curving street track hides the rails from 10 to about 27 m
    config = synth.SceneConfig(p_track_obstacle=1.0, track_obstacle_range=(8.0, 40.0))
    scene = synth.make_scene(H, W, 1075, config)
    truth = synth.track_truth(scene)
    car = [o for o in truth["obstacles"] if o["in_envelope"]]
    assert [o["class"] for o in car] == ["car"] and car[0]["distance_m"] < 12.0
    assert truth["ego_track"]["length_m"] > 100.0   # the truth goes on beyond it ...
    found = _stage(scene, truth)["ego_track"]        # ... and so does the stage
    assert ego_path_iou(found["polygon"], truth["ego_track"]["polygon"], (H, W)) >= 0.9


def test_dataset_folder_holds_truth_and_camera_info(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = synth.write_dataset(tmp_path / "syn", 2, H, W, seed=9, progress=False)
    labels = out / "uint8" / "rs19_val" / "syn00001.png"
    truth = synth.load_track_truth(labels)
    scene = synth.make_scene(H, W, synth.frame_seed(9, 1))
    assert truth == json.loads(json.dumps(synth.track_truth(scene)))
    yaml_path = labels.with_name("syn00001" + synth.CAMERA_SUFFIX)
    camera = synth.camera_from_dict(truth["camera"])
    loaded = Intrinsics.from_msg(load_camera_info(str(yaml_path)))
    assert np.allclose(loaded.matrix, camera.intrinsics.matrix) and not loaded.distorted
    mount = ["--camera-height", str(camera.height_m), "--camera-pitch", "0", "--camera-roll", str(camera.roll_deg)]
    assert main(["track-ahead", str(labels), "--camera-info", str(yaml_path), *mount, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)[0]
    assert ego_path_iou(printed["ego_track"]["polygon"], truth["ego_track"]["polygon"], (H, W)) >= 0.9
    assert synth.load_track_truth(out / "uint8" / "rs19_val" / "missing.png") is None


def test_bag_carries_truth_under_the_frame_stamps(tmp_path: Path) -> None:
    frames = list(synth.iter_frames_with_truth(3, 96, 192, seed=4, sequence=True))
    path = bag.write_frames_bag(tmp_path / "b", frames, fps=5.0, progress=False, start_time_ns=10**18)
    truths = bag.read_track_truth(path)
    stamps = [f.stamp_ns for f in bag.read_frames(path)]   # the reader ignores the truth topic here
    assert sorted(truths) == stamps and len(stamps) == 3
    for stamp, (_, _, truth) in zip(stamps, frames):
        assert truths[stamp] == json.loads(json.dumps(truth))
    assert truths[stamps[0]] != truths[stamps[1]]          # a wrong stamp gives another frame's truth
    assert bag.read_track_truth(bag.write_frames_bag(tmp_path / "c", [f[:2] for f in frames], progress=False)) == {}
