"""Model cards: shipped ones load, paths resolve, bad values give one clear error."""

import pytest

from rail_seg_ros.errors import RailSegError
from rail_seg_ros.model_card import available_cards, build_network, load_card
from rail_seg_ros.nets import ARCHITECTURES


def test_every_shipped_card_loads_and_names_a_known_architecture():
    cards = available_cards()
    assert {"squeezenas_lat_small_cityscapes", "squeezenas_mac_small_cityscapes", "fast_scnn_cityscapes"} <= set(cards)
    for name in cards:
        card = load_card(name)
        assert card.architecture in ARCHITECTURES
        assert card.num_classes == 19


def test_card_by_architecture_uses_the_public_label_set():
    card = load_card("squeezenas_lat_small")
    assert card.label_set == "cityscapes" and card.input_size == (1024, 2048) and card.color_order == "rgb"


def test_overrides(tmp_path):
    card = load_card("squeezenas_lat_small", weights=str(tmp_path / "w.pth"), label_set="railsem19",
                     color_order="bgr", input_size=(512, 1024))
    assert (card.label_set, card.color_order, card.input_size) == ("railsem19", "bgr", (512, 1024))
    assert card.weights == str(tmp_path / "w.pth")


def test_shipped_export_is_dropped_when_an_override_changes_what_it_bakes_in(tmp_path):
    assert load_card("rail_default").onnx == "rail_default.onnx"
    assert load_card("rail_default", input_size=(288, 512)).onnx == "rail_default.onnx"  # the same size
    assert load_card("rail_default", input_size=(576, 1024)).onnx is None
    assert load_card("rail_default", color_order="bgr").onnx is None
    assert load_card("rail_default", weights=str(tmp_path / "w.pth")).onnx is None


@pytest.mark.needs_torch
def test_other_input_size_than_the_shipped_export_runs(cache_dir):
    import numpy as np

    from rail_seg_ros.pipeline import Segmenter

    segmenter = Segmenter.from_options("rail_default", backend="onnxruntime", device="cpu", input_size=(320, 576),
                                       cache_dir=cache_dir)
    labels = segmenter.process(np.zeros((288, 512, 3), np.uint8), color=False, overlay=False).labels
    assert labels.shape == (288, 512)


def test_weights_relative_to_the_card(small_card):
    card = load_card(str(small_card))
    assert card.weights_path().parent == small_card.parent
    net = build_network(card)
    assert net.num_classes == 19


def test_missing_weights_say_where_to_get_them():
    card = load_card("squeezenas_lat_large_cityscapes")
    with pytest.raises(RailSegError, match="github.com/ashaw596/squeezenas"):
        card.weights_path()


@pytest.mark.parametrize("text, message", [
    ("architecture: nope\n", "unknown architecture"),
    ("architecture: fast_scnn\ninput_size: [100, 200]\n", "does not suit fast_scnn"),
    ("architecture: fast_scnn\nlabel_set: kitti\n", "unknown label set"),
    ("architecture: fast_scnn\nresize: crop\n", "resize 'crop'"),
    ("architecture: fast_scnn\ncolour: rgb\n", "unknown keys colour"),
    ("architecture: fast_scnn\nmean: [0.5, 0.5]\n", "mean needs 3 values"),
    ("label_set: railsem19\n", "no architecture"),
    ("- a\n- b\n", "expected a mapping"),
])
def test_bad_cards(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(RailSegError, match=message):
        load_card(str(path))


def test_unknown_model_lists_what_is_known():
    with pytest.raises(RailSegError, match="squeezenas_lat_small"):
        load_card("resnet101")


