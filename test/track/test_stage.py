"""The stage on label maps drawn with the camera model: the cases the track-ahead issue names."""

import cv2
import numpy as np
import pytest

from rail_seg_ros.errors import RailSegError
from rail_seg_ros.track import TrackAhead, TrackConfig
from rail_seg_ros.track.config import CLASS_ID
from rail_seg_ros.track.score import ego_path_iou, rail_position_error

from .conftest import Scene, camera, curve, switch


def _truth_polygon(scene: Scene, length: float):
    left, right = scene.rails(0, length)
    return np.vstack([left, right[::-1]])


def _check_follows(scene: Scene, result, max_error_px: float = 1.5, min_iou: float = 0.97) -> None:
    ego = result.ego_track
    assert ego is not None and ego.source == "rails"
    left, right = scene.rails(0, 400.0)
    error = rail_position_error({"left_rail": ego.left_rail.tolist(), "right_rail": ego.right_rail.tolist()},
                                {"left_rail": left.tolist(), "right_rail": right.tolist()})
    assert error is not None and error < max_error_px
    truth = _truth_polygon(scene, ego.length_m)
    shape = (scene.cam.height, scene.cam.width)
    assert ego_path_iou(ego.polygon.tolist(), truth.tolist(), shape) >= min_iou


def test_straight_track_is_clear_far_ahead(cam):
    scene = Scene(cam).track(curve(None))
    result = TrackAhead().run(scene.labels(), cam)
    _check_follows(scene, result)
    assert result.clear and result.obstacles == []
    assert result.clear_distance_m > 150
    assert result.status.startswith("clear for")


@pytest.mark.parametrize("radius", [300.0, -300.0])
def test_curved_track_is_followed(cam, radius):
    scene = Scene(cam).track(curve(radius))
    result = TrackAhead().run(scene.labels(), cam)
    _check_follows(scene, result)
    far = result.ego_track.ground.points[-1]
    assert np.sign(far[1]) == np.sign(radius) and abs(far[1]) > 5   # it bends the way the track does


def test_switch_follows_the_smoother_branch(cam):
    base = curve(None)
    branch = switch(20.0, 35.0, -4.5, base)
    scene = Scene(cam).track(base).track(branch, x0=20.0)
    result = TrackAhead().run(scene.labels(), cam)
    _check_follows(scene, result)
    # beyond the switch the path stays on the straight track, not on the branch 4.5 m to the right
    ground = result.ego_track.ground.points
    beyond = ground[ground[:, 0] > 60]
    assert len(beyond) and np.abs(beyond[:, 1]).max() < 0.5


def test_a_curve_is_followed_past_a_straight_branch(cam):
    # the ego track curves on; a straight track leaves it tangentially at 15 m
    ego = curve(250.0)
    slope = float((ego(15.01) - ego(14.99)) / 0.02)
    straight = lambda x: ego(15.0) + slope * (np.asarray(x) - 15.0)  # noqa: E731
    scene = Scene(cam).track(ego).track(straight, x0=15.0)
    result = TrackAhead().run(scene.labels(), cam)
    _check_follows(scene, result)
    ground = result.ego_track.ground.points
    far = ground[(ground[:, 0] > 35) & (ground[:, 0] < 65)]   # the branch is 1-5 m to the right there
    assert len(far) and np.abs(far[:, 1] - ego(far[:, 0])).max() < 0.5


def test_neighbouring_track_is_not_the_ego_track(cam):
    scene = Scene(cam).track(curve(None)).track(curve(None, 4.5)).track(curve(None, -4.2))
    result = TrackAhead().run(scene.labels(), cam)
    _check_follows(scene, result)
    assert np.abs(result.ego_track.ground.points[:, 1]).max() < 0.5


def test_obstacle_beside_the_envelope_is_not_reported(cam):
    scene = Scene(cam).track(curve(None)).box("human", 30.0, 2.4).box("car", 20.0, -3.5, 1.8, 1.45)
    result = TrackAhead().run(scene.labels(), cam)
    assert result.ego_track is not None
    assert result.obstacles == [] and result.clear


def test_obstacle_on_the_envelope_is_reported_with_its_distance(cam):
    scene = Scene(cam).track(curve(None)).box("human", 40.0, 0.3).box("car", 70.0, -1.2, 1.8, 1.45)
    result = TrackAhead().run(scene.labels(), cam)
    assert [o.class_name for o in result.obstacles] == ["human", "car"]
    human, car = result.obstacles
    assert human.distance_m == pytest.approx(40.0, rel=0.02)
    assert car.distance_m == pytest.approx(70.0, rel=0.03)
    assert human.lateral_m == pytest.approx(0.3, abs=0.3)
    assert human.pixels >= 20
    assert not result.clear
    assert result.clear_distance_m == pytest.approx(human.distance_m)
    assert result.status == f"obstacle: human at {human.distance_m:.1f} m"


def test_obstacle_on_a_curve_is_measured_along_the_track(cam):
    radius = 200.0
    lateral = curve(radius)
    x = 60.0
    scene = Scene(cam).track(lateral).box("human", x, float(lateral(x)))
    result = TrackAhead().run(scene.labels(), cam)
    arc = radius * np.arcsin(x / radius)
    assert result.obstacles and result.obstacles[0].distance_m == pytest.approx(arc, rel=0.03)


def test_tiny_regions_and_other_classes_are_not_obstacles(cam):
    scene = Scene(cam).track(curve(None)).box("human", 250.0, 0.0, 0.3, 0.3).box("vegetation", 30.0, 0.0, 1.0, 1.0)
    result = TrackAhead().run(scene.labels(), cam)
    assert result.obstacles == []
    anything = TrackAhead(TrackConfig(any_obstacle=True)).run(scene.labels(), cam)
    assert [o.class_name for o in anything.obstacles] == ["vegetation"]


def test_no_track_is_a_result_that_says_so(cam):
    result = TrackAhead().run(Scene(cam).labels(), cam)
    assert result.ego_track is None and result.obstacles == []
    assert result.clear is False and result.clear_distance_m == 0.0
    assert result.status == "no ego track"
    assert result.to_dict("x.png")["ego_track"] is None


def test_only_a_neighbouring_track_is_no_ego_track(cam):
    result = TrackAhead().run(Scene(cam).track(curve(None, 5.0)).labels(), cam)
    assert result.ego_track is None


def test_track_classes_stand_in_where_rails_are_not_seen(cam):
    scene = Scene(cam).track(curve(400.0), rails=False)
    result = TrackAhead().run(scene.labels(), cam)
    assert result.ego_track is not None and result.ego_track.source == "track-classes"
    shape = (cam.height, cam.width)
    truth = _truth_polygon(scene, result.ego_track.length_m)
    assert ego_path_iou(result.ego_track.polygon.tolist(), truth.tolist(), shape) > 0.9


def test_rails_hidden_by_an_object_are_coasted_past(cam):
    scene = Scene(cam).track(curve(None)).box("car", 25.0, 0.0, 3.0, 1.2)
    result = TrackAhead().run(scene.labels(), cam)
    assert result.obstacles[0].class_name == "car"
    assert result.ego_track.length_m > 100   # the rails seen again behind the car carry the path on


def test_pitch_estimate_from_the_gauge():
    truth = camera(pitch=4.0)
    labels = Scene(truth).track(curve(None)).track(curve(None, 4.5)).labels()
    wrong = camera(pitch=3.0)
    result = TrackAhead().run(labels, wrong)
    assert result.pitch_estimate_deg == pytest.approx(4.0, abs=0.15)
    assert result.pitch_deg == 3.0
    refined = TrackAhead(TrackConfig(refine_pitch=True)).run(labels, wrong)
    assert refined.pitch_deg == pytest.approx(4.0, abs=0.15)


def test_labels_at_another_size_than_the_calibration():
    big = camera(1920, 1080)
    labels = Scene(camera(960, 540)).track(curve(None)).box("human", 30.0, 0.0).labels()
    result = TrackAhead().run(labels, big)
    assert result.obstacles and result.obstacles[0].distance_m == pytest.approx(30.0, rel=0.03)


def test_roll_is_handled():
    cam = camera(roll=2.5)
    scene = Scene(cam).track(curve(None)).box("human", 35.0, 0.0)
    result = TrackAhead().run(scene.labels(), cam)
    _check_follows(scene, result)
    assert result.obstacles[0].distance_m == pytest.approx(35.0, rel=0.02)


def test_bad_input_is_refused(cam):
    with pytest.raises(RailSegError, match="uint8"):
        TrackAhead().run(np.zeros((10, 10), np.float32), cam)
    with pytest.raises(RailSegError, match="not a RailSem19 class"):
        TrackConfig(obstacle_classes=("dragon",))
    with pytest.raises(RailSegError, match="narrower"):
        TrackConfig(envelope_half_width_m=0.5)


def test_json_shape(cam):
    scene = Scene(cam).track(curve(None)).box("human", 40.0, 0.0)
    out = TrackAhead().run(scene.labels(), cam).to_dict("frame.png")
    assert set(out) >= {"image", "ego_track", "obstacles", "clear", "clear_distance_m"}
    assert set(out["ego_track"]) >= {"left_rail", "right_rail", "centerline", "polygon"}
    assert all(len(p) == 2 for p in out["ego_track"]["polygon"])
    assert set(out["obstacles"][0]) >= {"class", "distance_m", "pixels", "bbox"}
    assert len(out["obstacles"][0]["bbox"]) == 4


@pytest.mark.parametrize("index", [7, 68, 94])
def test_a_train_on_a_neighbouring_track_is_no_obstacle(index):
    """Scenes of `rail-seg synth --seed 6000000` where a train alongside was reported 50-110 m ahead (its
    near end stands on its own track 17-46 m ahead; its far end, against the far ego track, read as a
    contact on the footprint)."""
    from rail_seg_ros import synth

    scene = synth.make_scene(288, 512, synth.frame_seed(6000000, index))
    truth = synth.track_truth(scene)
    trains = [o for o in truth["obstacles"] if o["class"] == "on-rails" and o["pixels"] >= 20]
    assert trains and not any(o["in_envelope"] for o in trains)
    result = TrackAhead().run(scene.labels, synth.camera_from_dict(truth["camera"]))
    assert result.ego_track is not None
    assert [o for o in result.obstacles if o.class_name == "on-rails"] == []


def test_touching_objects_of_one_class_are_reported_apart(cam):
    # a car on the track and one behind it, offset so both show: one connected region of the label map
    scene = Scene(cam).track(curve(None)).box("car", 20.0, 0.0, 1.8, 1.45).box("car", 28.0, -1.2, 1.8, 1.45)
    labels = scene.labels()
    assert cv2.connectedComponents((labels == CLASS_ID["car"]).view(np.uint8), connectivity=8)[0] == 2  # 1 + background
    result = TrackAhead().run(labels, cam)
    cars = [o for o in result.obstacles if o.class_name == "car"]
    assert [round(o.distance_m) for o in cars] == [20, 28]


def test_a_persons_legs_stay_one_person(cam):
    scene = Scene(cam).track(curve(None))
    labels = scene.labels()
    # two legs 0.25 m apart under one body, 25 m ahead
    for y, height, width in ((0.2, 0.9, 0.15), (-0.2, 0.9, 0.15), (0.0, 1.75, 0.55)):
        bottom = 0.0 if height < 1 else 0.85
        corners = np.array([[25.0, y - width / 2, bottom], [25.0, y + width / 2, bottom],
                            [25.0, y + width / 2, height], [25.0, y - width / 2, height]])
        cv2.fillPoly(labels, [np.rint(cam.project(corners) * 16).astype(np.int32)], CLASS_ID["human"], cv2.LINE_8, 4)
    result = TrackAhead().run(labels, cam)
    assert [(o.class_name, round(o.distance_m)) for o in result.obstacles] == [("human", 25)]
