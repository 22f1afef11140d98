"""Label sets: class names and colours as RailSem19 and Cityscapes publish them, palettes, categories,
the Cityscapes full-id table."""

import numpy as np
import pytest

from rail_seg_ros.labels import (
    CITYSCAPES,
    CITYSCAPES_ID_TO_TRAIN_ID,
    IGNORE_ID,
    LABEL_SETS,
    RAILSEM19,
    LabelSet,
    colorize,
    get_label_set,
)


def test_both_sets_have_19_classes_with_a_colour_each():
    assert sorted(LABEL_SETS) == ["cityscapes", "railsem19"]
    for label_set in LABEL_SETS.values():
        assert label_set.num_classes == 19 == len(label_set.colors)
        assert len(set(label_set.names)) == 19  # no name twice
        assert label_set.ignore_id == IGNORE_ID == 255
    assert RAILSEM19.names[12] == "rail-track" and RAILSEM19.names[17] == "rail-raised"
    assert CITYSCAPES.names[11] == "person" and CITYSCAPES.names[18] == "bicycle"


def test_colorize_is_a_palette_lookup_with_ignore_black():
    labels = np.array([[0, 12], [18, IGNORE_ID]], dtype=np.uint8)
    color = colorize(labels, RAILSEM19)
    assert color.shape == (2, 2, 3) and color.dtype == np.uint8
    assert tuple(color[0, 0]) == (128, 64, 128)  # road
    assert tuple(color[0, 1]) == (230, 150, 140)  # rail-track
    assert tuple(color[1, 0]) == (0, 68, 63)  # rail-embedded
    assert tuple(color[1, 1]) == (0, 0, 0)
    with pytest.raises(ValueError):
        RAILSEM19.palette[0, 0] = 1  # shared by every caller: read-only


def test_categories_of_cityscapes_and_none_for_railsem19():
    assert CITYSCAPES.category_names == ("flat", "construction", "object", "nature", "sky", "human", "vehicle")
    lut = CITYSCAPES.category_lut()
    assert lut[0] == lut[1] == 0 and lut[11] == lut[12] == 5 and lut[18] == 6 and lut[IGNORE_ID] == IGNORE_ID
    assert RAILSEM19.category_names == ()
    with pytest.raises(ValueError, match="railsem19 has no categories"):
        RAILSEM19.category_lut()


def test_cityscapes_full_ids_map_to_train_ids():
    table = CITYSCAPES_ID_TO_TRAIN_ID
    assert (table[7], table[8], table[24], table[26], table[33]) == (0, 1, 11, 13, 18)
    assert table[0] == table[6] == table[34] == table[255] == IGNORE_ID  # unlabeled, ground, ..., license plate
    assert sorted(set(int(v) for v in table) - {IGNORE_ID}) == list(range(19))
    assert not table.flags.writeable


def test_get_label_set_by_name_and_unknown_names():
    assert get_label_set("RailSem19") is RAILSEM19
    with pytest.raises(ValueError, match="unknown label set 'kitti'; known: cityscapes, railsem19"):
        get_label_set("kitti")


def test_a_set_needs_a_colour_per_name():
    with pytest.raises(ValueError, match="2 names but 1 colours"):
        LabelSet(name="bad", names=("a", "b"), colors=((1, 2, 3),))
