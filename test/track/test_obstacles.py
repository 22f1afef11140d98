"""Obstacles: a region's contact points are where it stands only where it is no taller than a thing on the track."""

import numpy as np
import pytest

from rail_seg_ros.track import TrackAhead
from rail_seg_ros.track.obstacles import MAX_HEIGHT_M, _box_span, _join_hanging, _standing_heights

from .conftest import Scene, curve


def test_standing_height_of_a_box_is_its_height(cam):
    scene = Scene(cam).track(curve(None)).box("on-rails", 50.0, 0.0, 3.0, 4.0)
    result = TrackAhead().run(scene.labels(), cam)
    train = result.obstacles[0]
    labels = scene.labels()
    components = (labels == train.class_id).astype(np.int32)
    contact = np.array([train.contact])
    heights = _standing_heights(cam, components, 1, contact, cam.to_ground(contact))
    assert heights[0] == pytest.approx(4.0, rel=0.05)


def test_a_region_far_taller_than_anything_on_the_track_is_no_obstacle(cam):
    # what hides the footprint farther on (a train beside the track in a curve) has its lower edge there
    scene = Scene(cam).track(curve(None)).box("on-rails", 60.0, 0.0, 3.0, 3 * MAX_HEIGHT_M).box("human", 40.0, 0.5)
    result = TrackAhead().run(scene.labels(), cam)
    assert [o.class_name for o in result.obstacles] == ["human"]
    scene = Scene(cam).track(curve(None)).box("on-rails", 60.0, 0.0, 3.0, 0.5 * MAX_HEIGHT_M)
    assert [o.class_name for o in TrackAhead().run(scene.labels(), cam).obstacles] == ["on-rails"]


def test_a_car_queued_behind_another_is_an_obstacle_of_its_own(cam):
    # under a car's body the lower edge steps up ~17 % from its wheels; the car queued behind, seen beside
    # it, steps about 12 % from the body but stands a third beyond the wheels: two obstacles, two distances
    scene = Scene(cam).track(curve(None)).box("car", 24.0, 0.0, 1.8, 1.5).box("car", 32.0, -1.2, 1.8, 1.5)
    for y, width in ((0.0, 1.0), (0.825, 0.15), (-0.825, 0.15)):   # clearance 0.35 m between the wheels
        scene.box("terrain", 23.99, y, width, 0.35)
    cars = [o for o in TrackAhead().run(scene.labels(), cam).obstacles if o.class_name == "car"]
    assert [round(o.distance_m) for o in cars] == [24, 32]
    # its roof shows above the car in front: its box reaches to its own left edge, not only beside that car
    left_edge = cam.project(np.array([[32.0, -0.3, 1.5]]))[0, 0]
    assert cars[1].bbox[0] == pytest.approx(left_edge, abs=2)
    assert cars[0].bbox[0] == pytest.approx(cam.project(np.array([[24.0, 0.9, 0.0]]))[0, 0], abs=2)


def test_a_body_beyond_the_wheels_at_either_end_stays_with_its_vehicle(cam):
    # 7 cm of body beyond the wheels, 0.9 m up, is two columns 40 m ahead whose lowest pixels read 65 m, in
    # the envelope: too narrow to be an object of its own, at the region's left end as at its right
    scene = Scene(cam).track(curve(None)).box("truck", 40.0, 0.0, 2.0, 3.5)
    for y in (0.965, -0.965):
        scene.box("terrain", 39.99, y, 0.07, 0.9)
    trucks = TrackAhead().run(scene.labels(), cam).obstacles
    assert [round(o.distance_m) for o in trucks] == [40]
    assert trucks[0].bbox[0] == pytest.approx(cam.project(np.array([[40.0, 1.0, 0.0]]))[0, 0], abs=1)


def test_a_box_runs_over_a_nearer_neighbour_only_where_a_level_top_ends_in_a_step():
    spans, nearest = [(0, 10), (10, 16)], [13.0, 32.0]    # a near part, then a farther one beside it
    level = np.array([157] * 4 + [142] * 6 + [142] * 6)   # the farther one's roof over the near one's columns
    assert _box_span(level, spans, nearest, 1) == (4, 16) and _box_span(level, spans, nearest, 0) == (0, 10)
    sloping = np.concatenate([[175, 175], np.arange(160, 146, -1)])   # a blob's top, a row a column: no roof
    assert _box_span(sloping, spans, nearest, 1) == (9, 16)
    assert _box_span(np.full(16, 142), spans, nearest, 1) == (10, 16)   # no step at all: tops not told apart


def test_a_person_with_hanging_arms_is_one_obstacle(cam):
    # the hands' lower ends, 0.8 m up 10 m ahead, read 15 m away: beside the body they are no persons of
    # their own (the top edge rises from the shoulders to the head)
    scene = Scene(cam).track(curve(None)).box("human", 10.0, 0.0, 0.8, 1.45).box("human", 10.0, 0.0, 0.25, 1.75)
    for y in (0.325, -0.325):
        scene.box("terrain", 9.99, y, 0.15, 0.8)
    people = TrackAhead().run(scene.labels(), cam).obstacles
    assert [round(o.distance_m) for o in people] == [10]
    assert people[0].bbox[0] == pytest.approx(cam.project(np.array([[10.0, 0.4, 0.0]]))[0, 0], abs=2)
    assert people[0].bbox[2] == pytest.approx(cam.project(np.array([[10.0, -0.4, 0.0]]))[0, 0], abs=2)


def test_a_farther_part_joins_its_neighbour_only_where_its_top_does_not_show_above_it(cam):
    spans, reach = [(0, 4), (4, 12)], np.array([17.0] * 4 + [10.0] * 8)   # a farther part, then a nearer one
    us, low = np.arange(12) + 480.5, 300       # image columns; rows from 300 down lie below the horizon

    def join(top, reach=reach, y=low):
        return _join_hanging(cam, spans, reach, np.asarray(top), us, y)

    shoulder = [20] * 4 + [20, 20, 8, 5, 5, 8, 20, 20]         # the neighbour rises in a step: a head
    assert join(shoulder) == [(0, 12)]
    assert join([5] * 4 + [5, 5, 5, 12, 12, 12, 12, 12]) == spans   # the neighbour's own top is lower: a roof
    assert join([9] * 4 + [7, 4, 2, 1, 0, 0, 0, 0]) == spans        # a blob's sloping top: no head
    assert join(np.full(12, 5)) == spans                            # level: the tops cannot be told apart
    assert join(shoulder, reach=reach[::-1].copy()) == spans        # the part is the nearer one
    assert join(shoulder, y=0) == spans     # above the horizon (taller than the camera) a farther top is lower
