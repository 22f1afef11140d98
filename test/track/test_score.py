"""The track-ahead figures against truth: matching obstacles by class and box, and distances that no
flat-ground camera can measure (ground contact below the image) kept out of the distance error."""

from rail_seg_ros.track.score import match_obstacles, score_frame, summarise

SHAPE = (288, 512)


def truth_obstacle(cls: str, bbox, distance: float, pixels: int = 500, inside: bool = True):
    return {"class": cls, "bbox": list(bbox), "distance_m": distance, "pixels": pixels, "in_envelope": inside}


def predicted_obstacle(cls: str, bbox, distance: float):
    return {"class": cls, "bbox": list(bbox), "distance_m": distance, "pixels": 500}


def test_match_needs_the_same_class_and_overlapping_boxes() -> None:
    truth = [truth_obstacle("car", (100, 100, 140, 130), 20.0), truth_obstacle("human", (300, 90, 310, 130), 30.0),
             truth_obstacle("human", (10, 10, 12, 12), 50.0, pixels=4),            # too small to count
             truth_obstacle("car", (400, 100, 440, 130), 20.0, inside=False)]      # beside the envelope
    predicted = [predicted_obstacle("car", (102, 101, 141, 131), 21.0),
                 predicted_obstacle("truck", (300, 90, 310, 130), 30.0),           # wrong class
                 predicted_obstacle("car", (400, 100, 440, 130), 20.0)]
    found = match_obstacles(predicted, truth, min_pixels=20)
    assert (found["truth"], found["found"], found["true_positive"]) == (2, 1, 1)
    assert found["found_any_class"] == 2          # the person read as a truck is something on the track
    assert found["distances"] == [(21.0, 20.0, "car")]


def test_contacts_below_the_image_are_counted_apart_from_the_distance_error() -> None:
    truth = {"ego_track": None, "obstacles": [truth_obstacle("truck", (300, 0, 512, 288), 5.0),
                                              truth_obstacle("car", (100, 100, 140, 130), 20.0)]}
    result = {"ego_track": None, "obstacles": [predicted_obstacle("truck", (310, 0, 512, 288), 5.4),
                                               predicted_obstacle("car", (100, 100, 140, 130), 20.5)]}
    frame = score_frame(result, truth, SHAPE, nearest_visible_m=5.4)
    assert frame["found"] == 2 and frame["distances"] == [(20.5, 20.0, "car")] and frame["distance_unseen"] == 1
    summary = summarise([frame])
    assert summary["recall"] == summary["recall_any_class"] == 1.0
    assert summary["distance_pairs"] == 1 and summary["distance_unseen"] == 1
    assert abs(summary["distance_rel"]["max"] - 0.025) < 1e-9
    everything = summarise([score_frame(result, truth, SHAPE)])     # without a camera bound: both scored
    assert everything["distance_pairs"] == 2 and everything["distance_unseen"] == 0
    assert abs(everything["distance_rel"]["max"] - 0.08) < 1e-9
