"""segmentation_node on the issue's bad inputs: the executable exits 2 with one line (never a bare TypeError),
and frames decoding to more than max_pixels are refused from their header while the node keeps segmenting.

The executable runs as a subprocess (``python -m rail_seg_ros.node``) on its own domain; the in-process
cases share one rclpy context on another. DDS stays on loopback (LOOPBACK_ENV).
"""

import os
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

rclpy = pytest.importorskip("rclpy")

from commands.test_bad_input import BAD_CARD_LINES, write_bad_card  # noqa: E402
from conftest import ros_domain  # noqa: E402
from rclpy.context import Context  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import CompressedImage  # noqa: E402
from test_image_codec import huge_png  # noqa: E402
from test_node import Harness, scene, write_card  # noqa: E402

from rail_seg_ros import image_codec  # noqa: E402
from rail_seg_ros.contract import NODE_NAME, TRANSPORT_COMPRESSED, Diag, Reject, rejected_key  # noqa: E402
from rail_seg_ros.errors import RailSegError  # noqa: E402
from rail_seg_ros.node import SegmentationNode  # noqa: E402

DOMAIN_ID = ros_domain(61)
PROCESS_DOMAIN_ID = ros_domain(62)
LOOPBACK = {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "ROS_LOCALHOST_ONLY": "1"}


@pytest.fixture(scope="module")
def context():
    os.environ.update(LOOPBACK, ROS_DOMAIN_ID=str(DOMAIN_ID))
    ctx = Context()
    rclpy.init(context=ctx, domain_id=DOMAIN_ID)
    yield ctx
    rclpy.try_shutdown(context=ctx)


@pytest.fixture(scope="module")
def card(tmp_path_factory) -> Path:
    return write_card(tmp_path_factory.mktemp("card"), "tiny_rail")


def start_fails(context: Context, **params) -> str:
    overrides = [Parameter(name, value=value) for name, value in params.items()]
    with pytest.raises(RailSegError) as info:
        SegmentationNode(namespace="bad_input", context=context, parameter_overrides=overrides)
    message = str(info.value)
    assert "\n" not in message and "TypeError" not in message and "ValueError" not in message, message
    return message


@pytest.mark.parametrize("case", sorted(BAD_CARD_LINES))
def test_bad_card_values_at_configure(context, tmp_path, case):
    message = start_fails(context, model=str(write_bad_card(tmp_path, case)), backend="torch")
    assert BAD_CARD_LINES[case][1] in message


def test_weights_folder_at_configure(context, card, tmp_path):
    assert "is a folder, not a checkpoint file" in start_fails(context, model=str(card), weights=str(tmp_path))


def test_unwritable_engine_cache_at_configure(context, card):
    message = start_fails(context, model=str(card), backend="onnxruntime", engine_cache_dir="/proc/rail_seg_cache")
    assert "engine cache folder /proc/rail_seg_cache" in message


# ---- the executable -----------------------------------------------------------------------------------

def run_node(args: List[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, **LOOPBACK, ROS_DOMAIN_ID=str(PROCESS_DOMAIN_ID))
    return subprocess.run([sys.executable, "-m", "rail_seg_ros.node", "--ros-args", *args], env=env,
                          capture_output=True, text=True, timeout=180)


@pytest.mark.parametrize("args, words", [
    (["-p", "overlay_alpha:=3.0"], "overlay_alpha 3.0 is out of range; expected a number from 0.0 to 1.0"),
    (["-p", "max_pixels:=0"], "max_pixels 0 is out of range"),
    (["-p", "device:=banana"], "device 'banana' is not allowed"),
    (["-r", "image:=bad%name"], "remapping 'image:=bad%name': 'bad%name' is not a valid ROS name"),
    (["-r", "__ns:=/front/"], "'/front/' is not a valid ROS name: it ends with '/'"),
    (["-p", "model:=CARD"], "mean 0.5 is not a list of 3 numbers"),
])
def test_executable_exits_2_with_one_line(tmp_path, args, words):
    card = write_bad_card(tmp_path, "mean_scalar")
    run = run_node([arg.replace("CARD", str(card)) for arg in args])
    lines = [line for line in (run.stderr + run.stdout).splitlines() if line.strip()]
    assert run.returncode == 2, run.stderr
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{NODE_NAME}: ") and words in lines[0], lines[0]
    assert "(write 1.0, not 1)" not in lines[0] and "Traceback" not in lines[0]


# ---- the decoded-pixel limit on live frames -------------------------------------------------------------

def test_png_decoding_to_20000x20000_is_refused_and_the_node_goes_on(context, card):
    h = Harness(context, "too_large_compressed", {"model": str(card), "backend": "torch", "warmup_frames": 0,
                                                  "input_transport": TRANSPORT_COMPRESSED})
    try:
        h.wait_connected(h.compressed_pub)
        huge = CompressedImage(format="mono8; png compressed ", data=huge_png())
        huge.header.stamp = h.stamp()
        h.compressed_pub.publish(huge)
        h.wait_diagnostics(lambda d: d.get(rejected_key(Reject.TOO_LARGE)) == "1", "the huge PNG counted too_large")
        good = CompressedImage()
        good.format, good.data = image_codec.encode_compressed(scene(144, 256), "rgb8", "png")
        good.header.stamp = h.stamp()
        good.header.frame_id = "after_huge"
        h.compressed_pub.publish(good)
        labels = h.wait_output("labels", good.header)
        assert (labels.height, labels.width) == (144, 256)
        diag = h.wait_diagnostics(lambda d: d[Diag.PUBLISHED] == "1", "the good frame published")
        assert (diag[Diag.RECEIVED], diag[Diag.REJECTED]) == ("2", "1")
    finally:
        h.close()


def test_raw_frames_above_max_pixels_are_refused(context, card):
    h = Harness(context, "too_large_raw", {"model": str(card), "backend": "torch", "warmup_frames": 0,
                                           "max_pixels": 144 * 256 - 1})
    try:
        h.wait_connected(h.image_pub)
        h.send(scene(144, 256), "rgb8")
        diag = h.wait_diagnostics(lambda d: d.get(rejected_key(Reject.TOO_LARGE)) == "1", "too_large counted")
        assert diag[Diag.PUBLISHED] == "0"
        h.node.set_parameters([Parameter("max_pixels", value=144 * 256)])  # a run-time parameter
        sent = h.send(scene(144, 256, seed=1), "rgb8", frame_id="at_the_limit")
        h.wait_output("labels", sent.header)
    finally:
        h.close()
