"""Scene parameters and class ids: RailSem19's ids, ranges checked, frame sizes and seeds refused."""


import pytest

from rail_seg_ros import synth
from rail_seg_ros.errors import RailSegError
from rail_seg_ros.labels import RAILSEM19

H, W = 96, 192


def test_class_ids_match_railsem19() -> None:
    assert RAILSEM19.names[synth.RAIL_RAISED] == "rail-raised"
    assert RAILSEM19.names[synth.RAIL_EMBEDDED] == "rail-embedded"
    assert RAILSEM19.names[synth.ON_RAILS] == "on-rails"
    assert RAILSEM19.names[synth.SKY] == "sky"



def test_config_rejects_inverted_range_and_small_frames() -> None:
    with pytest.raises(RailSegError, match="horizon"):
        synth.SceneConfig(horizon=(0.6, 0.4))
    with pytest.raises(RailSegError, match="too small"):
        synth.render_scene(8, 512, 0)
    with pytest.raises(RailSegError, match="seed"):
        synth.render_scene(H, W, -1)
