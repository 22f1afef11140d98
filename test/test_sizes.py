"""parse_size: the one parser of HxW sizes (commands, model cards, training configs)."""

import pytest

from rail_seg_ros.errors import RailSegError
from rail_seg_ros.sizes import parse_size


def test_parse_size():
    assert parse_size("1088x1920") == (1088, 1920)
    for bad in ("1088", "x", "0x10", "axb"):
        with pytest.raises(RailSegError):
            parse_size(bad)


def test_either_case_of_x_and_a_yaml_pair():
    assert parse_size("256X512") == (256, 512)
    assert parse_size([288, 512]) == (288, 512)
    assert parse_size((64, 128)) == (64, 128)


@pytest.mark.parametrize("bad", ["288x512x3", "2.5x3", "288*512", "", [1.5, 2], [True, 2], [288], 288, None])
def test_what_is_not_a_size(bad):
    with pytest.raises(RailSegError, match="is not HxW"):
        parse_size(bad)


def test_minimum_and_option_name_the_value_in_the_error():
    assert parse_size("64x64", minimum=64) == (64, 64)
    with pytest.raises(RailSegError, match=r"^--size '32x128': height and width must be at least 64 px$"):
        parse_size("32x128", minimum=64, option="--size")
    with pytest.raises(RailSegError, match=r"^model card c\.yaml: input_size \[0, 5\]: .* must be positive$"):
        parse_size([0, 5], option="model card c.yaml: input_size")
