"""The flat-ground camera: projection both ways, the sign of pitch and roll, CameraInfo YAML."""

import numpy as np
import pytest

from rail_seg_ros.errors import RailSegError
from rail_seg_ros.track import GroundCamera, Intrinsics, load_camera_info

from .conftest import camera


def test_level_camera_sees_ground_at_the_pinhole_rows():
    cam = camera(960, 540, focal=0.8, height_m=2.0, pitch=0.0)
    f = 0.8 * 960
    uv = cam.project_ground(np.array([[10.0, 0.0], [20.0, 1.0]]))
    assert uv[0] == pytest.approx([480.0, 270.0 + f * 2.0 / 10.0])
    assert uv[1] == pytest.approx([480.0 - f * 1.0 / 20.0, 270.0 + f * 2.0 / 20.0])  # + Y is left


def test_pixels_to_ground_and_back():
    cam = camera(960, 540, pitch=3.0, roll=1.5)
    ground = np.array([[5.0, 0.5], [30.0, -2.0], [120.0, 4.0]])
    back = cam.to_ground(cam.project_ground(ground))
    assert np.allclose(back, ground, atol=1e-6)
    assert np.isnan(cam.to_ground(np.array([[480.0, 10.0]]))).all()   # above the horizon


def test_pitch_down_raises_the_horizon_and_roll_lowers_the_right_side():
    level, down = camera(pitch=0.0), camera(pitch=5.0)
    far = np.array([[1e5, 0.0]])
    assert down.project_ground(far)[0, 1] < level.project_ground(far)[0, 1] - 50
    rolled = camera(pitch=0.0, roll=3.0)
    left, right = rolled.project_ground(np.array([[1e5, 1e4], [1e5, -1e4]]))
    assert right[1] < left[1]   # camera's right side down: the horizon rises to the right


def test_distortion_round_trip():
    intr = Intrinsics(960, 540, 700.0, 700.0, 480.0, 270.0, 0.0, (-0.2, 0.05, 0.001, -0.001, 0.0))
    cam = GroundCamera(intr, 2.5, 4.0, 0.0)
    ground = np.array([[6.0, 1.5], [40.0, -3.0]])
    assert np.allclose(cam.to_ground(cam.project_ground(ground)), ground, atol=1e-3)


def test_intrinsics_scale_with_the_label_map():
    intr = Intrinsics(1920, 1080, 1500.0, 1500.0, 960.0, 540.0)
    half = intr.for_size(960, 540)
    assert (half.fx, half.fy, half.cx, half.cy) == (750.0, 750.0, 480.0, 270.0)


@pytest.mark.parametrize("text", [
    "image_width: 640\nimage_height: 480\ncamera_matrix: {rows: 3, cols: 3, data: [500, 0, 320, 0, 500, 240, 0, 0, 1]}\n"
    "distortion_model: plumb_bob\ndistortion_coefficients: {rows: 1, cols: 5, data: [0, 0, 0, 0, 0]}\n",
    "width: 640\nheight: 480\nk: [500, 0, 320, 0, 500, 240, 0, 0, 1]\nd: []\ndistortion_model: plumb_bob\n",
])
def test_camera_info_yaml_both_layouts(tmp_path, text):
    path = tmp_path / "cam.yaml"
    path.write_text(text)
    intr = Intrinsics.from_msg(load_camera_info(str(path)))
    assert (intr.width, intr.height, intr.fx, intr.cx, intr.cy) == (640, 480, 500.0, 320.0, 240.0)


@pytest.mark.parametrize("text, message", [
    ("image_width: 640\nimage_height: 480\n", "no camera_matrix"),
    ("camera_matrix: {data: [1, 0, 0, 0, 1, 0, 0, 0, 1]}\n", "image_width"),
    ("[1, 2", "not YAML"),
    ("width: 64\nheight: 48\nk: [500, 0, 32, 0, 500, 24, 0, 0, 1]\nd: [0.1, 0, 0, 0]\ndistortion_model: equidistant\n",
     "not supported"),
])
def test_camera_info_errors_name_the_file(tmp_path, text, message):
    path = tmp_path / "cam.yaml"
    path.write_text(text)
    with pytest.raises(RailSegError, match=message):
        Intrinsics.from_msg(load_camera_info(str(path)))


def test_mounting_is_checked():
    intr = Intrinsics(640, 480, 500.0, 500.0, 320.0, 240.0)
    with pytest.raises(RailSegError, match="height"):
        GroundCamera(intr, 0.0)
    with pytest.raises(RailSegError, match="pitch"):
        GroundCamera(intr, 2.0, pitch_deg=75.0)
