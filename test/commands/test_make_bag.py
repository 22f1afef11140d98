"""rail-seg make-bag: every dataset layout into a bag and back, --force, --limit, --compressed, its help."""

import argparse
from pathlib import Path
from typing import List

import numpy as np
import pytest
from conftest import cityscapes_tree, make_frames, railsem19_tree, write_png

from rail_seg_ros import bag, datasets
from rail_seg_ros.commands import make_bag
from rail_seg_ros.errors import RailSegError


def run_make_bag(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(prog="rail-seg make-bag")
    make_bag.add_arguments(parser)
    return make_bag.run(parser.parse_args(argv))


@pytest.mark.parametrize("layout", datasets.LAYOUTS)
def test_make_bag_end_to_end(tmp_path: Path, layout: str, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "data"
    if layout == "railsem19":
        railsem19_tree(root)
    elif layout == "cityscapes":
        cityscapes_tree(root, train_ids=False)
    else:
        for i, (image, labels) in enumerate(make_frames(3)):
            write_png(root / "images" / f"{i}.png", image)
            write_png(root / "labels" / f"{i}.png", labels)
    expected = [datasets.load_pair(p, lab, layout) for p, lab in datasets.iter_dataset(layout, root)]
    out = tmp_path / "out_bag"
    storage = "mcap" if layout == "cityscapes" else "sqlite3"
    argv = ["--layout", layout, str(root), "--out", str(out), "--camera-info", "--storage", storage,
            "--fps", "20", "--no-progress"]
    assert run_make_bag(argv) == 0
    printed = capsys.readouterr().out
    with_gt = sum(labels is not None for _, labels in expected)
    assert f"wrote 3 frames ({with_gt} with ground truth" in printed and str(out) in printed
    assert bag.INFO_TOPIC in printed

    read = list(bag.read_frames(out))
    assert len(read) == 3
    assert read[1].stamp_ns - read[0].stamp_ns == 50_000_000
    for frame, (image, labels) in zip(read, expected):
        np.testing.assert_array_equal(frame.image, image)
        if labels is None:
            assert frame.gt is None
        else:
            np.testing.assert_array_equal(frame.gt, labels)

    with pytest.raises(RailSegError, match="exists already; use --force"):
        run_make_bag(argv)
    assert run_make_bag(argv + ["--force", "--limit", "1", "--compressed"]) == 0
    with bag.open_bag(out) as reader:
        assert reader.topics[bag.IMAGE_TOPIC] == bag.COMPRESSED_TYPE
        assert reader.message_count(bag.IMAGE_TOPIC) == 1


def test_make_bag_help_names_every_layout() -> None:
    parser = argparse.ArgumentParser(prog="rail-seg make-bag")
    make_bag.add_arguments(parser)
    text = parser.format_help()
    for word in ("railsem19", "cityscapes", "pairs", "IMAGES_DIR:LABELS_DIR", "--camera-info", "--force"):
        assert word in text
    args = parser.parse_args(["--layout", "pairs", "x", "--out", "y"])
    assert (args.fps, args.storage, args.encoding, args.compressed) == (10.0, "sqlite3", "rgb8", False)
