"""Tests of rail_seg_ros.metrics: confusion matrix scores, resizing, latency statistics, meters, timers."""

import json
import math

import numpy as np
import pytest

from rail_seg_ros.errors import RailSegError
from rail_seg_ros.labels import CITYSCAPES, RAILSEM19, LabelSet
from rail_seg_ros.metrics import (
    MIOU_DEFINITION,
    ConfusionMatrix,
    RateMeter,
    RollingStats,
    StageTimer,
    jitter_ms,
    rate_hz,
    resize_labels_nearest,
    summarize_latencies,
)

IGN = 255  # the ignore id


def _hand_case() -> ConfusionMatrix:
    """3 classes, two small images, ignore pixels and one prediction outside the label set."""
    cm = ConfusionMatrix(3)
    gt1 = np.array([[0, 0, 1], [1, IGN, 2]], dtype=np.uint8)
    pred1 = np.array([[0, 1, 1], [1, 0, 2]], dtype=np.uint8)  # the 0 under the ignore pixel is not counted
    gt2 = np.array([[2, 2], [0, IGN]], dtype=np.uint8)
    pred2 = np.array([[2, 0], [7, 1]], dtype=np.uint8)  # 7 is outside 0..2: "other"
    cm.update(pred1, gt1)
    cm.update(pred2, gt2)
    return cm


def test_hand_computed_case():
    cm = _hand_case()
    # Counted pixels (gt, pred): (0,0) (0,1) (1,1) (1,1) (2,2) | (2,2) (2,0) (0,other)
    np.testing.assert_array_equal(cm.matrix, [[1, 1, 0], [0, 2, 0], [1, 0, 2]])
    np.testing.assert_array_equal(cm.other, [1, 0, 0])
    assert cm.total == 8
    # class 0: TP 1, FP 1 (gt 2 predicted 0), FN 2 (predicted 1 and "other")
    # class 1: TP 2, FP 1 (gt 0 predicted 1), FN 0
    # class 2: TP 2, FP 0, FN 1 (predicted 0)
    expected = [1 / (1 + 1 + 2), 2 / (2 + 1 + 0), 2 / (2 + 0 + 1)]
    assert cm.iou().tolist() == expected
    assert cm.miou() == pytest.approx(sum(expected) / 3, rel=1e-15)
    assert cm.pixel_accuracy() == 5 / 8
    assert cm.matrix.dtype == np.int64


def test_absent_classes_are_left_out_of_the_mean():
    cm = ConfusionMatrix(4)
    gt = np.array([[0, 0, 1, 1]], dtype=np.uint8)
    pred = np.array([[0, 1, 1, 1]], dtype=np.uint8)
    cm.update(pred, gt)
    iou = cm.iou()
    assert iou[0] == 1 / 2 and iou[1] == 2 / 3
    assert math.isnan(iou[2]) and math.isnan(iou[3])
    assert cm.miou() == pytest.approx((1 / 2 + 2 / 3) / 2, rel=1e-15)


def test_class_only_predicted_counts_with_iou_zero():
    cm = ConfusionMatrix(3)
    cm.update(np.array([[0, 2]], dtype=np.uint8), np.array([[0, 0]], dtype=np.uint8))
    iou = cm.iou()
    assert iou[0] == 1 / 2 and iou[2] == 0.0 and math.isnan(iou[1])
    assert cm.miou() == 1 / 4


def test_empty_matrix_scores_are_nan():
    cm = ConfusionMatrix(3)
    cm.update(np.zeros((2, 2), np.uint8), np.full((2, 2), IGN, np.uint8))
    assert cm.total == 0
    assert math.isnan(cm.miou()) and math.isnan(cm.pixel_accuracy())


def test_per_class_names_and_none():
    cm = ConfusionMatrix(RAILSEM19.num_classes)
    gt = np.array([[0, 12, 12]], dtype=np.uint8)
    cm.update(gt.copy(), gt)
    per_class = cm.per_class(RAILSEM19)
    assert list(per_class) == list(RAILSEM19.names)
    assert per_class["road"] == 1.0 and per_class["rail-track"] == 1.0
    assert per_class["sky"] is None
    with pytest.raises(ValueError):
        cm.per_class(LabelSet(name="tiny", names=("a",), colors=((0, 0, 0),)))


def test_category_iou_cityscapes():
    cm = ConfusionMatrix(CITYSCAPES.num_classes)
    road, sidewalk, person, car, truck = 0, 1, 11, 13, 14
    gt = np.array([[road, road, sidewalk, sidewalk], [car, car, car, IGN]], dtype=np.uint8)
    pred = np.array([[road, person, road, sidewalk], [car, truck, car, road]], dtype=np.uint8)
    cm.update(pred, gt)
    cats = cm.category_iou(CITYSCAPES)
    assert list(cats) == list(CITYSCAPES.category_names)
    # flat: TP 3 (road/sidewalk mix-ups are right at category level), FN 1 (person); human: FP 1 only
    assert cats["flat"] == 3 / 4
    assert cats["human"] == 0.0
    assert cats["vehicle"] == 1.0  # car vs truck is right at category level
    assert cats["sky"] is None and cats["nature"] is None
    assert cm.category_miou(CITYSCAPES) == pytest.approx((3 / 4 + 0 + 1) / 3, rel=1e-15)
    # at class level the same pixels score lower
    assert cm.miou() < cm.category_miou(CITYSCAPES)
    with pytest.raises(ValueError):
        ConfusionMatrix(RAILSEM19.num_classes).category_iou(RAILSEM19)  # no categories


def test_category_matrix_keeps_totals_and_other():
    rng = np.random.default_rng(3)
    gt = rng.integers(0, 19, (20, 30)).astype(np.uint8)
    pred = rng.integers(0, 21, (20, 30)).astype(np.uint8)  # 19, 20: outside the set
    cm = ConfusionMatrix(19)
    cm.update(pred, gt)
    merged = cm.category_matrix(CITYSCAPES.category_lut())
    assert merged.num_classes == 7
    assert merged.total == cm.total
    assert merged.other.sum() == cm.other.sum()
    assert np.trace(merged.matrix) >= np.trace(cm.matrix)


def test_merge_equals_update_on_concatenation():
    rng = np.random.default_rng(7)
    a_gt, b_gt = (rng.integers(0, 5, (8, 9)).astype(np.uint8) for _ in range(2))
    a_gt[0, :4] = IGN
    a_pred, b_pred = (rng.integers(0, 7, (8, 9)).astype(np.uint8) for _ in range(2))
    first, second, whole = ConfusionMatrix(5), ConfusionMatrix(5), ConfusionMatrix(5)
    first.update(a_pred, a_gt)
    second.update(b_pred, b_gt)
    first.merge(second)
    whole.update(np.concatenate([a_pred, b_pred]), np.concatenate([a_gt, b_gt]))
    np.testing.assert_array_equal(first.matrix, whole.matrix)
    np.testing.assert_array_equal(first.other, whole.other)
    assert first.other.sum() > 0
    with pytest.raises(ValueError):
        first.merge(ConfusionMatrix(4))


def test_dict_round_trip_through_json():
    cm = _hand_case()
    restored = ConfusionMatrix.from_dict(json.loads(json.dumps(cm.to_dict())))
    np.testing.assert_array_equal(restored.matrix, cm.matrix)
    np.testing.assert_array_equal(restored.other, cm.other)
    assert restored.ignore_id == cm.ignore_id
    assert restored.miou() == cm.miou() and restored.pixel_accuracy() == cm.pixel_accuracy()
    bad = cm.to_dict()
    bad["matrix"] = [[1, 2], [3, 4]]
    with pytest.raises(ValueError):
        ConfusionMatrix.from_dict(bad)


def test_update_rejects_bad_input():
    cm = ConfusionMatrix(3)
    with pytest.raises(RailSegError):
        cm.update(np.zeros((2, 2), np.uint8), np.zeros((2, 3), np.uint8))
    with pytest.raises(RailSegError, match="label 5"):
        cm.update(np.zeros((1, 2), np.uint8), np.array([[0, 5]], np.uint8))
    with pytest.raises(TypeError):
        cm.update(np.zeros((1, 2), np.float32), np.zeros((1, 2), np.uint8))
    assert cm.total == 0


def test_negative_and_wide_predictions_count_as_other():
    cm = ConfusionMatrix(3)
    cm.update(np.array([[-1, 300, 1]], dtype=np.int32), np.array([[0, 1, 1]], dtype=np.int64))
    np.testing.assert_array_equal(cm.other, [1, 1, 0])
    assert cm.pixel_accuracy() == 1 / 3


def test_miou_definition_mentions_the_rule():
    assert "TP / (TP + FP + FN)" in MIOU_DEFINITION and "whole set" in MIOU_DEFINITION


def test_resize_labels_nearest():
    labels = np.array([[1, 2], [3, 255]], dtype=np.uint8)
    up = resize_labels_nearest(labels, 4, 4)
    np.testing.assert_array_equal(up, np.kron(labels, np.ones((2, 2), np.uint8)))
    assert up.dtype == np.uint8
    wide = resize_labels_nearest(labels.astype(np.int64), 3, 5)
    assert wide.shape == (3, 5) and wide.dtype == np.int64
    assert set(np.unique(wide)) <= {1, 2, 3, 255}
    assert resize_labels_nearest(labels, 2, 2) is labels


def test_summarize_latencies_matches_numpy():
    values = [12.0, 3.5, 7.25, 40.0, 5.0, 9.0, 11.0, 6.5, 8.0, 100.0, 4.0]
    summary = summarize_latencies(values)
    for key, p in (("p50", 50), ("p90", 90), ("p95", 95), ("p99", 99)):
        assert summary[key] == float(np.percentile(values, p))
    assert summary["mean"] == pytest.approx(sum(values) / len(values), rel=1e-15)
    assert summary["max"] == 100.0 and summary["min"] == 3.5 and summary["count"] == 11
    # linear interpolation: 11 values, p90 sits at index 9 exactly
    assert summary["p90"] == sorted(values)[9]
    empty = summarize_latencies([])
    assert empty["count"] == 0 and math.isnan(empty["p50"])


def test_jitter_and_rate():
    assert jitter_ms([0.0, 0.1, 0.25, 0.35]) == pytest.approx(50.0)  # intervals .10 .15 .10
    assert jitter_ms([1.0 + i / 30 for i in range(50)]) == pytest.approx(0.0, abs=1e-9)
    assert math.isnan(jitter_ms([0.0, 1.0]))
    assert rate_hz([0.0, 0.5, 1.0, 1.5, 2.0]) == 2.0
    assert math.isnan(rate_hz([3.0]))


def test_rate_meter_window():
    meter = RateMeter(window_s=1.0)
    for i in range(10):
        meter.tick(i / 10)
    assert meter.rate(0.95) == 10.0
    assert meter.count(1.05) == 9  # the tick at 0.0 left the window
    assert meter.rate(5.0) == 0.0
    meter.tick(100.0)
    meter.tick(1.0)  # the clock went back (a looped bag): start again
    assert meter.count(1.0) == 1
    with pytest.raises(ValueError):
        RateMeter(0)


def test_rolling_stats():
    stats = RollingStats(maxlen=3)
    assert math.isnan(stats.percentile(50)) and math.isnan(stats.mean())
    for v in (1, 2, 3, 4, 5):
        stats.add(v)
    assert stats.values() == [3.0, 4.0, 5.0] and len(stats) == 3
    assert stats.percentile(50) == 4.0
    assert stats.percentile(100) == 5.0 and stats.max() == 5.0
    assert stats.mean() == 4.0
    assert stats.summary()["count"] == 3


def test_stage_timer():
    timer = StageTimer()
    timer.add("decode", 2.0)
    timer.add("infer", 10.0)
    timer.add("decode", 4.0)
    with timer.measure("publish"):
        sum(range(100))
    with pytest.raises(KeyError), timer.measure("failing"):
        raise KeyError("x")
    means = timer.means()
    assert list(means) == ["decode", "infer", "publish"]
    assert means["decode"] == 3.0 and means["infer"] == 10.0
    assert means["publish"] >= 0.0
    assert timer.counts() == {"decode": 2, "infer": 1, "publish": 1}
    timer.reset()
    assert timer.means() == {}
