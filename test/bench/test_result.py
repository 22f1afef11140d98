"""bench.result: scoring a prediction against its ground truth, the summary line, the report it writes."""

import numpy as np
import pytest
from conftest import BENCH_SIZE, read_report

from rail_seg_ros import bag, bench
from rail_seg_ros.backends.base import Backend
from rail_seg_ros.contract import OFFLINE_STAGES
from rail_seg_ros.metrics import ConfusionMatrix
from rail_seg_ros.model_card import load_card
from rail_seg_ros.pipeline import Segmenter


class ImageCodedBackend(Backend):
    """Predicts the label written into the image: red channel // 10 (so warm-up runs change nothing)."""

    name = "coded"

    def __init__(self, size):
        super().__init__("fp32", "cpu", ("labels",), size)

    def infer(self, images):
        return {"labels": (images[..., 0] // 10).astype(np.uint8)}


def test_offline_scores_equal_a_hand_computed_confusion(tmp_path, small_card):
    gt = np.zeros(BENCH_SIZE, np.uint8)
    gt[64:] = 1
    gt[127] = 255  # ignored: 256 pixels
    pred_a = np.zeros_like(gt)  # everything class 0
    pred_b = gt.copy()
    pred_b[64:127, :128] = 2  # half of class 1 taken for class 2
    pred_b[127] = 2  # under the ignore row: not counted
    frames = []
    for pred, labels in ((pred_a, gt), (pred_b, gt), (pred_a, None)):  # the third frame has no ground truth
        image = np.zeros(BENCH_SIZE + (3,), np.uint8)
        image[..., 0] = pred * 10
        frames.append((image, labels))
    path = bag.write_frames_bag(tmp_path / "coded", frames, progress=False)
    card = load_card(str(small_card))
    segmenter = Segmenter(card, ImageCodedBackend(card.input_size))
    result = bench.run_offline(path, segmenter, samples=2, progress=False)
    folder, report = bench.write_bench_report(result, tmp_path / "report")

    # class 0: TP 16384 + 16384, FP 16128 (frame a's class 1), FN 0
    # class 1: TP 63*128 = 8064, FP 0, FN 16128 (frame a) + 8064 (frame b, predicted 2)
    # class 2: TP 0, FP 8064, FN 0
    iou0, iou1, iou2 = 32768 / (32768 + 16128), 8064 / (8064 + 16128 + 8064), 0.0
    assert result.confusion.matrix[0, 0] == 32768 and result.confusion.matrix[1, 0] == 16128
    assert result.confusion.matrix[1, 1] == 8064 and result.confusion.matrix[1, 2] == 8064
    assert result.confusion.total == 2 * (16384 + 16128)
    saved = read_report(folder)
    assert saved["miou"] == pytest.approx((iou0 + iou1 + iou2) / 3, abs=1e-12)
    assert saved["pixel_accuracy"] == pytest.approx((32768 + 8064) / 65024, abs=1e-12)
    per_class = saved["per_class"]
    assert per_class["road"] == pytest.approx(iou0) and per_class["sidewalk"] == pytest.approx(0.25)
    assert per_class["construction"] == 0.0 and per_class["fence"] is None
    assert saved["frames"] == 3 and saved["unmatched"] == 1 and saved["mode"] == "offline"
    assert saved["latency_ms"]["count"] == 3 and saved["latency_ms"]["min"] > 0
    assert set(saved["stages_ms"]) == set(OFFLINE_STAGES)
    assert len(saved["samples"]) == 2 and all((folder / s).is_file() for s in saved["samples"])
    assert report["miou"] == saved["miou"]


def test_score_labels_resizes_the_prediction_nearest():
    cm = ConfusionMatrix(19)
    pred = np.array([[0, 1], [2, 3]], np.uint8)  # at half the ground truth's size
    gt = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 0, 0], [255, 255, 0, 0]], np.uint8)
    bench.score_labels(cm, pred, gt)
    # top-left 4 px class 0 right, top-right 4 px class 1 right, bottom-left 2 valid px class 2 right,
    # bottom-right 4 px gt 0 predicted 3
    assert cm.matrix[0, 0] == 4 and cm.matrix[1, 1] == 4 and cm.matrix[2, 2] == 2 and cm.matrix[0, 3] == 4
    assert cm.total == 14
    assert cm.pixel_accuracy() == pytest.approx(10 / 14)
