"""Training config: lr schedules, data specs and values checked with one-line errors."""

import math
from dataclasses import replace

import pytest

from rail_seg_ros.errors import RailSegError
from rail_seg_ros.train.config import TrainConfig, lr_at, make_config
from rail_seg_ros.train.loop import train

from .conftest import SIZE, tiny_config


def test_lr_schedules_at_known_steps():
    c = TrainConfig(lr=1e-3, lr_end=1e-5, schedule="poly", power=0.9)
    assert lr_at(0, 100, c) == pytest.approx(1e-3)
    assert lr_at(50, 100, c) == pytest.approx(1e-5 + (1e-3 - 1e-5) * 0.5 ** 0.9)
    assert lr_at(100, 100, c) == pytest.approx(1e-5)
    cos = replace(c, schedule="cosine", lr_end=0.0)
    assert lr_at(0, 100, cos) == pytest.approx(1e-3)
    assert lr_at(50, 100, cos) == pytest.approx(5e-4)
    assert lr_at(25, 100, cos) == pytest.approx(1e-3 * (1 + math.cos(math.pi / 4)) / 2)
    step = replace(c, schedule="step", milestones=(0.5, 0.75), gamma=0.1)
    assert [lr_at(s, 100, step) for s in (0, 49, 50, 74, 75, 99)] == pytest.approx(
        [1e-3, 1e-3, 1e-4, 1e-4, 1e-5, 1e-5])


@pytest.mark.parametrize("spec", ["imagenet:/data", "synth:many", "synth:0", "pairs:", "railsem19", "bag"])
def test_bad_data_spec_is_one_line(spec):
    with pytest.raises(RailSegError) as err:
        make_config("squeezenas_mac_small", data=spec, size=SIZE)
    assert "\n" not in str(err.value) and "--data" in str(err.value)


def test_bad_values_are_one_line(tmp_path):
    for values, words in ((dict(size="60x128"), "--size"), (dict(augment="flip,rotate"), "rotate"),
                          (dict(epochs=0), "--epochs"), (dict(recipe="yolo"), "recipe"),
                          (dict(class_weights="person=3"), "person"), (dict(class_weights="human=0"), "above 0"),
                          (dict(class_weights="human"), "NAME=W")):
        with pytest.raises(RailSegError, match=words) as err:
            make_config("squeezenas_mac_small", data="synth:4", **values)
        assert "\n" not in str(err.value)
    missing = tiny_config(f"pairs:{tmp_path / 'nowhere'}", tmp_path / "o")
    with pytest.raises(RailSegError) as err:
        train(missing, progress=False, verbose=False)
    assert "\n" not in str(err.value)
