"""Package data lookup: ament share first, then sys.prefix/share, then the source tree; every caller
(model cards, weights, the demo's bag) finds files through it."""

import sys
import types
from pathlib import Path

import pytest

from rail_seg_ros import resources
from rail_seg_ros.commands.demo import find_bag
from rail_seg_ros.errors import RailSegError
from rail_seg_ros.model_card import available_cards, load_card

SOURCE_TREE = Path(resources.__file__).resolve().parent.parent


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """An ament share dir and a pip prefix, each with a card the source tree does not have."""
    ament = tmp_path / "ament" / "share" / resources.PACKAGE
    prefix = tmp_path / "prefix"
    for share in (ament, prefix / "share" / resources.PACKAGE):
        (share / "config" / "models").mkdir(parents=True)
        (share / "bags" / "sample").mkdir(parents=True)
    (ament / "config" / "models" / "rail_default.yaml").write_text("architecture: fast_scnn\nname: from_ament\n")
    pip_card = prefix / "share" / resources.PACKAGE / "config" / "models" / "pip_only.yaml"
    pip_card.write_text("architecture: fast_scnn\n")
    packages = types.ModuleType("ament_index_python.packages")
    packages.get_package_share_directory = lambda name: str(ament)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ament_index_python", types.ModuleType("ament_index_python"))
    monkeypatch.setitem(sys.modules, "ament_index_python.packages", packages)
    monkeypatch.setattr(sys, "prefix", str(prefix))
    return ament, prefix / "share" / resources.PACKAGE


def test_share_dirs_in_order_ament_prefix_source(installed):
    ament, pip_share = installed
    assert resources.share_dirs() == [ament, pip_share, SOURCE_TREE]
    assert resources.data_dirs("cards") == [ament / "config" / "models", pip_share / "config" / "models",
                                            SOURCE_TREE / "config" / "models"]


def test_the_first_share_dir_wins_for_cards_and_bags(installed):
    ament, pip_share = installed
    cards = available_cards()
    assert cards["rail_default"] == ament / "config" / "models" / "rail_default.yaml"
    assert cards["pip_only"] == pip_share / "config" / "models" / "pip_only.yaml"
    assert cards["fast_scnn_cityscapes"].parent == SOURCE_TREE / "config" / "models"  # only the source has it
    assert load_card("rail_default").name == "from_ament"
    assert find_bag("sample") == ament / "bags" / "sample"


def test_dds_profiles_have_their_own_folder(installed):
    _, pip_share = installed
    assert resources.find_data("dds_profiles", "loopback.xml") is None
    profiles = pip_share / "config" / "dds"
    profiles.mkdir()
    (profiles / "loopback.xml").write_text("<profiles/>")
    assert resources.data_dirs("dds_profiles") == [profiles, SOURCE_TREE / "config" / "dds"]  # the shipped ones last
    assert resources.find_data("dds_profiles", "loopback.xml") == profiles / "loopback.xml"


def test_the_source_tree_is_found_last():
    assert resources.share_dirs()[-1] == SOURCE_TREE
    assert resources.find_data("bags", "sample") == SOURCE_TREE / "bags" / "sample"
    assert resources.find_data("config", "segment.yaml") == SOURCE_TREE / "config" / "segment.yaml"
    assert resources.find_data("models", "rail_default.pt") == SOURCE_TREE / "models" / "rail_default.pt"
    assert load_card("rail_default").resolve("rail_default.pt") == SOURCE_TREE / "models" / "rail_default.pt"


def test_missing_data_is_none_and_an_unknown_kind_is_refused():
    assert resources.find_data("bags", "no_such_bag") is None
    with pytest.raises(KeyError, match="unknown kind of package data 'weights'"):
        resources.data_dirs("weights")
    with pytest.raises(RailSegError, match="bag no_such_bag: not found"):
        find_bag("no_such_bag")


def test_a_path_given_is_taken_as_it_is(tmp_path):
    bag = tmp_path / "drive"
    bag.mkdir()
    assert find_bag(str(bag)) == bag
