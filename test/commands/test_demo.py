"""``rail-seg demo``: the track-ahead parameters it gives the node come from the bag's own camera."""

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rosbags")

from rail_seg_ros.bag import read_track_truth  # noqa: E402
from rail_seg_ros.commands.demo import find_bag, track_node_params  # noqa: E402
from rail_seg_ros.track import Intrinsics  # noqa: E402
from rail_seg_ros.track.camera import load_camera_info  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[2] / "bags" / "sample"


def _params(items):
    return dict(item.split(":=", 1) for item in items)


def test_sample_bag_gets_the_camera_of_its_first_frame(tmp_path: Path) -> None:
    truths = read_track_truth(SAMPLE)
    assert len(truths) == 30, "bags/sample carries /track_truth for every frame"
    camera = truths[min(truths)]["camera"]
    params = _params(track_node_params(find_bag(str(SAMPLE)), tmp_path))
    assert "track.mode" not in params  # auto: off for a model without rail classes
    assert float(params["track.camera_height"]) == pytest.approx(camera["height_m"], abs=1e-6)
    assert float(params["track.camera_roll"]) == pytest.approx(camera["roll_deg"], abs=1e-6)
    assert "." in params["track.camera_pitch"]  # the node's double parameters refuse an integer
    info = Intrinsics.from_msg(load_camera_info(params["track.camera_info_file"]))
    assert (info.width, info.height) == (camera["width"], camera["height"])
    np.testing.assert_allclose(info.matrix.ravel(), camera["k"], atol=1e-6)


def test_bag_without_truth_gets_no_track_parameters(tmp_path: Path) -> None:
    from rail_seg_ros.bag import write_frames_bag

    frames = [(np.zeros((32, 64, 3), np.uint8), np.zeros((32, 64), np.uint8), None)]
    bag = write_frames_bag(tmp_path / "plain", frames, progress=False, total=1)
    assert track_node_params(Path(bag), tmp_path) == []
    assert not (tmp_path / "camera_info.yaml").exists()
