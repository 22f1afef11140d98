"""The codec against ROS's own cv_bridge, where it imports (a sourced Humble/Jazzy/Kilted with
ros-<distro>-cv-bridge): for every encoding that cv_bridge defines, the same arrays, conversions and message
fields. Nothing in the package uses cv_bridge; this keeps the codec's claim to match it honest. Without
cv_bridge (the package index has no ROS 2 build of it) the whole module is skipped.
"""

import sys

import numpy as np
import pytest
from test_image_codec import H, W, original_for, pad_rows, smooth_rgb

from rail_seg_ros.image_codec import (
    ENCODINGS,
    decode_compressed,
    decode_image,
    encode_compressed,
    encode_image,
    rgb8_to,
    to_rgb8,
)

PAD = 6  # bytes after every row: cv_bridge has to honour step too


@pytest.fixture(scope="module")
def bridge():
    cv_bridge = pytest.importorskip("cv_bridge")
    boost = pytest.importorskip("cv_bridge.boost.cv_bridge_boost")
    if str(getattr(boost, "__file__", "")).endswith(".py"):  # PyPI's "cv-bridge" is a Python imitation of ROS 1's
        pytest.skip("cv_bridge here is a pure-Python imitation, not ROS's cv_bridge")
    return cv_bridge.CvBridge()


def defined_by(bridge, encoding: str) -> bool:
    """Whether this cv_bridge knows ``encoding`` (older ones lack uyvy/yuyv, for instance)."""
    try:
        bridge.encoding_to_dtype_with_channels(encoding)
    except Exception:  # cv_bridge raises its own CvBridgeError or a TypeError from boost
        return False
    return True


def image_message(array: np.ndarray, encoding: str, big_endian: bool = False):
    """A sensor_msgs/Image of ``array`` with padded rows (and big-endian 16-bit data when asked)."""
    from sensor_msgs.msg import Image

    fields = encode_image(array, encoding)
    data, is_bigendian = fields.data, fields.is_bigendian
    if big_endian and array.dtype.itemsize == 2:
        data, is_bigendian = array.astype(">u2").tobytes(), 1
    step, padded = pad_rows(data, fields.height, fields.step, PAD)
    return Image(height=fields.height, width=fields.width, encoding=encoding, is_bigendian=is_bigendian,
                 step=step, data=padded)


def encodings_of(bridge):
    return [e for e in ENCODINGS if defined_by(bridge, e)]


@pytest.mark.parametrize("big_endian", [False, True], ids=["host_order", "big_endian"])
def test_passthrough_arrays_equal_cv_bridges(bridge, big_endian):
    for encoding in encodings_of(bridge):
        array = rgb8_to(original_for(encoding), encoding)
        msg = image_message(array, encoding, big_endian)
        ours = decode_image(msg.encoding, msg.height, msg.width, msg.step, bytes(msg.data), bool(msg.is_bigendian))
        theirs = bridge.imgmsg_to_cv2(msg, desired_encoding="passthrough")
        assert ours.shape == theirs.shape and ours.dtype.itemsize == theirs.dtype.itemsize, encoding
        np.testing.assert_array_equal(ours, theirs.astype(ours.dtype), err_msg=encoding)


def test_conversions_to_rgb8_equal_cv_bridges(bridge):
    """Where cv_bridge converts an encoding to rgb8 (it refuses 8UC1/8UC3, which carry no colour order)."""
    compared = []
    for encoding in encodings_of(bridge):
        msg = image_message(rgb8_to(original_for(encoding), encoding), encoding)
        try:
            theirs = bridge.imgmsg_to_cv2(msg, desired_encoding="rgb8")
        except Exception:  # no conversion defined by cv_bridge for this encoding
            continue
        ours = to_rgb8(decode_image(msg.encoding, msg.height, msg.width, msg.step, bytes(msg.data)), encoding)
        np.testing.assert_array_equal(ours, theirs, err_msg=encoding)
        compared.append(encoding)
    assert {"bgr8", "rgba8", "mono8", "mono16"} <= set(compared)


def test_messages_from_arrays_equal_cv_bridges(bridge):
    for encoding in encodings_of(bridge):
        array = rgb8_to(original_for(encoding), encoding)
        ours = encode_image(array, encoding)
        theirs = bridge.cv2_to_imgmsg(array, encoding=encoding)
        assert (ours.height, ours.width, ours.encoding, ours.step) == \
               (theirs.height, theirs.width, theirs.encoding, theirs.step), encoding
        assert ours.is_bigendian == theirs.is_bigendian == int(sys.byteorder == "big"), encoding
        assert ours.data == bytes(theirs.data), encoding


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "mono8"])
def test_compressed_decoding_equals_cv_bridges(bridge, fmt, encoding):
    from sensor_msgs.msg import CompressedImage

    array = rgb8_to(smooth_rgb(H, W), encoding)
    msg = CompressedImage()
    msg.format, data = encode_compressed(array, encoding, fmt)
    msg.data = data
    ours, _ = decode_compressed(msg.format, msg.data)
    theirs = bridge.compressed_imgmsg_to_cv2(msg, desired_encoding="passthrough")
    np.testing.assert_array_equal(ours, theirs)
