"""rail_seg_ros.image_codec: raw and compressed image messages <-> numpy, checked against OpenCV."""

import array
import sys

import cv2
import numpy as np
import pytest

from rail_seg_ros.contract import Reject
from rail_seg_ros.errors import RailSegError
from rail_seg_ros.image_codec import (
    ENCODINGS,
    ImageCodecError,
    compressed_msg_to_rgb8,
    decode_compressed,
    decode_image,
    encode_compressed,
    encode_image,
    fill_image_msg,
    image_msg_to_rgb8,
    rgb8_to,
    to_rgb8,
)

H, W = 24, 32
LOSSLESS = ("rgb8", "bgr8", "8UC3", "rgba8", "bgra8")
MONO = ("mono8", "8UC1", "mono16", "16UC1")
YUV = ("uyvy", "yuv422", "yuyv", "yuv422_yuy2")
BAYER = ("bayer_rggb8", "bayer_bggr8", "bayer_gbrg8", "bayer_grbg8")
# Layout cv_bridge gives each encoding in passthrough: (dtype, channels; 1 = H x W).
EXPECTED_LAYOUT = {
    **{e: (np.uint8, 3) for e in ("rgb8", "bgr8", "8UC3")},
    **{e: (np.uint8, 4) for e in ("rgba8", "bgra8")},
    **{e: (np.uint8, 1) for e in ("mono8", "8UC1") + BAYER},
    **{e: (np.uint16, 1) for e in ("mono16", "16UC1")},
    **{e: (np.uint8, 2) for e in YUV},
}


def smooth_rgb(height: int = H, width: int = W) -> np.ndarray:
    """A smooth colour image whose red and blue run in opposite directions (a swap shows)."""
    yy, xx = np.mgrid[0:height, 0:width]
    red = 40 + 5 * xx + yy
    green = 60 + 3 * yy + 2 * xx
    blue = 230 - 4 * xx - 2 * yy
    return np.stack([red, green, blue], axis=-1).clip(0, 255).astype(np.uint8)


def grey_rgb(height: int = H, width: int = W) -> np.ndarray:
    """A grey image (R = G = B), which mono encodings hold without loss."""
    yy, xx = np.mgrid[0:height, 0:width]
    grey = ((7 * xx + 5 * yy) % 256).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)


def original_for(encoding: str) -> np.ndarray:
    return grey_rgb() if encoding in MONO else smooth_rgb()


def pad_rows(data: bytes, height: int, row_bytes: int, pad: int, seed: int = 0):
    """Message data with ``pad`` random bytes after every row: (step, bytes)."""
    rng = np.random.default_rng(seed)
    rows = np.frombuffer(data, np.uint8).reshape(height, row_bytes)
    padded = np.concatenate([rows, rng.integers(0, 256, (height, pad), dtype=np.uint8)], axis=1)
    return row_bytes + pad, padded.tobytes()


def opencv_encode(ext: str, image: np.ndarray, params=()) -> bytes:
    """Compressed bytes straight from OpenCV, as another publisher would make them."""
    ok, buf = cv2.imencode(ext, image, list(params))
    assert ok
    return buf.tobytes()


def max_error(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int32) - b.astype(np.int32)).max())


# --------------------------------------------------------------------------------- raw round trips


@pytest.mark.parametrize("pad", [0, 5], ids=["unpadded", "padded"])
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_every_encoding_round_trips(encoding, pad):
    original = original_for(encoding)
    fields = encode_image(rgb8_to(original, encoding), encoding)
    assert (fields.height, fields.width, fields.encoding) == (H, W, encoding)
    dtype, channels = EXPECTED_LAYOUT[encoding]
    assert fields.step == W * channels * np.dtype(dtype).itemsize
    assert len(fields.data) == fields.step * H
    step, data = pad_rows(fields.data, H, fields.step, pad) if pad else (fields.step, fields.data)

    decoded = decode_image(encoding, H, W, step, data, bool(fields.is_bigendian))
    assert decoded.dtype == dtype
    assert decoded.shape == ((H, W) if channels == 1 else (H, W, channels))
    rgb = to_rgb8(decoded, encoding)
    assert rgb.shape == (H, W, 3) and rgb.dtype == np.uint8 and rgb.flags.c_contiguous

    if encoding in YUV:  # 4:2:2 chroma is shared by pixel pairs
        assert max_error(rgb, original) <= 6
    elif encoding in BAYER:  # demosaicing is exact on a smooth ramp away from the border
        assert max_error(rgb[2:-2, 2:-2], original[2:-2, 2:-2]) <= 2
    else:
        np.testing.assert_array_equal(rgb, original)


@pytest.mark.parametrize("encoding", ["rgb8", "bgra8", "mono8", "mono16", "uyvy", "bayer_gbrg8"])
def test_odd_step_padding_decodes(encoding):
    """A padding of 3 bytes puts 16-bit rows at odd addresses; values must still be right."""
    original = original_for(encoding)
    array_in = rgb8_to(original, encoding)
    fields = encode_image(array_in, encoding)
    step, data = pad_rows(fields.data, H, fields.step, 3, seed=1)
    decoded = decode_image(encoding, H, W, step, data)
    np.testing.assert_array_equal(decoded, array_in)
    np.testing.assert_array_equal(to_rgb8(decoded, encoding), to_rgb8(array_in, encoding))


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "array.array", "ndarray", "list"])
def test_decode_accepts_every_data_container(kind):
    original = smooth_rgb()
    fields = encode_image(original, "rgb8")
    data = {
        "bytes": fields.data,
        "bytearray": bytearray(fields.data),
        "memoryview": memoryview(fields.data),
        "array.array": array.array("B", fields.data),
        "ndarray": np.frombuffer(fields.data, np.uint8).copy(),
        "list": list(fields.data),
    }[kind]
    np.testing.assert_array_equal(decode_image("rgb8", H, W, fields.step, data), original)


def test_padded_decode_is_a_view_of_the_message_buffer():
    original = smooth_rgb()
    step, data = pad_rows(encode_image(original, "rgb8").data, H, W * 3, 16)
    buffer = bytearray(data)  # writable, so a change shows through a view
    decoded = decode_image("rgb8", H, W, step, buffer)
    np.testing.assert_array_equal(decoded, original)
    assert np.shares_memory(decoded, np.frombuffer(buffer, np.uint8))
    assert decoded.strides == (step, 3, 1)
    changed = (int(original[1, 1, 0]) + 1) % 256
    buffer[step + 3] = changed  # row 1, pixel 1, red
    assert decoded[1, 1, 0] == changed


def test_ndarray_data_is_not_copied():
    data = np.frombuffer(encode_image(smooth_rgb(), "bgr8").data, np.uint8).copy()  # as rosbags gives it
    decoded = decode_image("bgr8", H, W, W * 3, data)
    assert np.shares_memory(decoded, data)


# --------------------------------------------------------------------------------- 16 bit


def test_big_endian_mono16_decodes_to_native_values():
    values = np.array([[0x0102, 0xFF00, 0x00FF], [65535, 0, 0x1234]], dtype=np.uint16)
    big = values.astype(">u2").tobytes()
    decoded = decode_image("mono16", 2, 3, 6, big, is_bigendian=True)
    np.testing.assert_array_equal(decoded, values)
    assert decoded.dtype == np.uint16 and decoded.dtype.isnative
    # The flag matters: the same bytes read as little-endian are the byte-swapped numbers.
    np.testing.assert_array_equal(decode_image("mono16", 2, 3, 6, big, is_bigendian=False), values.byteswap())


def test_padded_big_endian_16uc1_decodes():
    values = (np.arange(H * W, dtype=np.uint32).reshape(H, W) * 61).astype(np.uint16)
    step, data = pad_rows(values.astype(">u2").tobytes(), H, W * 2, 4)
    np.testing.assert_array_equal(decode_image("16UC1", H, W, step, data, is_bigendian=True), values)


def test_mono16_to_rgb8_scales_like_cv_bridge():
    """cv_bridge converts 16 -> 8 bit with convertTo(..., 255 / 65535): round(v * 255 / 65535)."""
    values = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    rgb = to_rgb8(values, "mono16")
    expected = np.floor(values.astype(np.float64) * 255.0 / 65535.0 + 0.5).astype(np.uint8)
    for channel in range(3):
        np.testing.assert_array_equal(rgb[..., channel], expected)


def test_rgb8_to_mono16_scales_by_257():
    grey = grey_rgb()
    np.testing.assert_array_equal(rgb8_to(grey, "mono16"), grey[..., 0].astype(np.uint16) * 257)


def test_encode_mono16_writes_host_order_and_flag():
    values = np.array([[1, 256], [0x1234, 65535]], dtype=np.uint16)
    fields = encode_image(values, "mono16")
    assert fields.is_bigendian == int(sys.byteorder == "big")
    assert fields.step == 4
    assert fields.data == values.astype("=u2").tobytes()
    # A big-endian numpy array encodes to the same host-order message.
    assert encode_image(values.astype(">u2"), "mono16") == fields


# --------------------------------------------------------------------------------- bad messages

GOOD = {"encoding": "rgb8", "height": 4, "width": 6, "step": 18}


@pytest.mark.parametrize("change, data_size, words, reason", [
    ({"encoding": "rgb9"}, 72, ["'rgb9'", "not supported"], Reject.UNSUPPORTED_ENCODING),
    ({"encoding": "32FC1"}, 72, ["'32FC1'", "not supported"], Reject.UNSUPPORTED_ENCODING),
    ({"height": 0, "step": 18}, 0, ["height 0"], Reject.BAD_SIZE),
    ({"width": 0, "step": 0}, 0, ["width 0"], Reject.BAD_SIZE),
    ({"step": 17}, 68, ["step 17", "6 x 3 bytes", "rgb8"], Reject.BAD_STEP),
    ({}, 71, ["71 bytes", "step 18 x height 4 = 72"], Reject.BAD_SIZE),
    ({}, 73, ["73 bytes", "= 72"], Reject.BAD_SIZE),  # longer than step * height: cv_bridge (C++) rejects it too
    ({}, 0, ["0 bytes"], Reject.BAD_SIZE),
    ({"encoding": "uyvy", "width": 5, "step": 10}, 40, ["width 5 is odd", "uyvy"], Reject.BAD_SIZE),
    ({"encoding": "yuv422_yuy2", "width": 3, "step": 6}, 24, ["width 3 is odd"], Reject.BAD_SIZE),
    ({"encoding": "mono16", "step": 11}, 44, ["step 11", "6 x 2 bytes"], Reject.BAD_STEP),
])
def test_bad_messages_raise_codec_error(change, data_size, words, reason):
    fields = {**GOOD, **change}
    with pytest.raises(ImageCodecError) as info:
        decode_image(fields["encoding"], fields["height"], fields["width"], fields["step"], bytes(data_size))
    for word in words:
        assert word in str(info.value)
    assert isinstance(info.value, RailSegError) and isinstance(info.value, ValueError)
    assert "\n" not in str(info.value)
    assert info.value.reason == reason  # the node counts this, never the message text


@pytest.mark.parametrize("array_in, encoding", [
    (np.zeros((4, 6), np.uint8), "rgb8"),
    (np.zeros((4, 6, 4), np.uint8), "bgr8"),
    (np.zeros((4, 6, 3), np.uint8), "rgba8"),
    (np.zeros((4, 6), np.uint16), "mono8"),
    (np.zeros((4, 6), np.uint8), "mono16"),
    (np.zeros((4, 6), np.float32), "16UC1"),
    (np.zeros((4, 6, 3), np.uint8), "mono8"),
    (np.zeros((4, 5, 2), np.uint8), "yuyv"),
    (np.zeros((0, 6, 3), np.uint8), "rgb8"),
    (np.zeros((4, 6, 3), np.uint8), "hsv8"),
    ([[1, 2], [3, 4]], "mono8"),
])
def test_arrays_that_do_not_fit_the_encoding_are_refused(array_in, encoding):
    with pytest.raises(ImageCodecError) as encoded:
        encode_image(array_in, encoding)
    with pytest.raises(ImageCodecError) as converted:
        to_rgb8(array_in, encoding)
    want = (Reject.UNSUPPORTED_ENCODING if encoding == "hsv8" else
            Reject.BAD_SIZE if encoding == "yuyv" or np.asarray(array_in).size == 0 else Reject.BAD_ARRAY)
    assert encoded.value.reason == converted.value.reason == want


def test_rgb8_to_refuses_non_rgb_input_and_odd_yuv_width():
    with pytest.raises(ImageCodecError):
        rgb8_to(np.zeros((4, 6), np.uint8), "bgr8")
    with pytest.raises(ImageCodecError, match="odd"):
        rgb8_to(smooth_rgb(4, 5), "uyvy")
    with pytest.raises(ImageCodecError, match="not supported"):
        rgb8_to(smooth_rgb(), "rgb16")


# --------------------------------------------------------------------------------- to_rgb8 / rgb8_to


def test_to_rgb8_returns_contiguous_rgb8_input_itself():
    original = smooth_rgb()
    assert to_rgb8(original, "rgb8") is original


def test_to_rgb8_makes_a_padded_rgb8_view_contiguous():
    step, data = pad_rows(encode_image(smooth_rgb(), "rgb8").data, H, W * 3, 7)
    view = decode_image("rgb8", H, W, step, data)
    rgb = to_rgb8(view, "rgb8")
    assert rgb.flags.c_contiguous and not view.flags.c_contiguous
    np.testing.assert_array_equal(rgb, smooth_rgb())


def test_channel_orders_of_the_rgb8_to_layouts():
    original = smooth_rgb()
    np.testing.assert_array_equal(rgb8_to(original, "bgr8"), original[..., ::-1])
    np.testing.assert_array_equal(rgb8_to(original, "8UC3"), original[..., ::-1])  # OpenCV order
    rgba = rgb8_to(original, "rgba8")
    np.testing.assert_array_equal(rgba[..., :3], original)
    assert (rgba[..., 3] == 255).all()
    np.testing.assert_array_equal(rgb8_to(original, "bgra8")[..., :3], original[..., ::-1])
    # Passing a BGR message off as RGB would swap red and blue: to_rgb8 must undo the order.
    np.testing.assert_array_equal(to_rgb8(original[..., ::-1].copy(), "bgr8"), original)


@pytest.mark.parametrize("encoding", BAYER)
def test_bayer_demosaics_to_the_original_colours(encoding):
    """A wrong ROS -> OpenCV Bayer code mapping swaps red and blue; the interior would be far off."""
    original = smooth_rgb()
    mosaic = rgb8_to(original, encoding)
    pattern = encoding[len("bayer_"):-1]
    for index, colour in enumerate(pattern):  # the mosaic keeps the pattern's channel at each site
        row, col = divmod(index, 2)
        np.testing.assert_array_equal(mosaic[row::2, col::2], original[row::2, col::2, "rgb".index(colour)])
    rgb = to_rgb8(mosaic, encoding)
    assert max_error(rgb[2:-2, 2:-2], original[2:-2, 2:-2]) <= 2
    assert max_error(rgb[2:-2, 2:-2, 0], original[2:-2, 2:-2, 2]) > 50  # red and blue do differ here


def test_bayer_patterns_are_not_interchangeable():
    original = smooth_rgb()
    mosaic = rgb8_to(original, "bayer_rggb8")
    wrong = to_rgb8(mosaic, "bayer_bggr8")
    assert max_error(wrong[2:-2, 2:-2], original[2:-2, 2:-2]) > 50


@pytest.mark.parametrize("encoding, code_name", [
    ("uyvy", "COLOR_RGB2YUV_UYVY"), ("yuyv", "COLOR_RGB2YUV_YUY2"),
])
def test_rgb8_to_yuv_matches_opencv_forward_conversion(encoding, code_name):
    """Where OpenCV has RGB -> packed YUV (4.7+), our numpy BT.601 version agrees within 1 level."""
    if not hasattr(cv2, code_name):
        pytest.skip(f"this OpenCV has no {code_name}")
    rgb = np.random.default_rng(3).integers(0, 256, (H, W, 3), dtype=np.uint8)
    assert max_error(rgb8_to(rgb, encoding), cv2.cvtColor(rgb, getattr(cv2, code_name))) <= 1


def test_yuv_packing_order():
    """UYVY is U Y0 V Y1, YUYV is Y0 U Y1 V; a flat colour has one U and one V for every pair."""
    flat = np.zeros((2, 4, 3), np.uint8)
    flat[...] = (200, 100, 50)
    uyvy, yuyv = rgb8_to(flat, "uyvy"), rgb8_to(flat, "yuyv")
    np.testing.assert_array_equal(uyvy[..., 1], yuyv[..., 0])  # luma
    np.testing.assert_array_equal(uyvy[..., 0], yuyv[..., 1])  # alternating U, V
    u, v = int(uyvy[0, 0, 0]), int(uyvy[0, 1, 0])
    assert u < 128 < v  # an orange has less blue (U) and more red (V) than grey
    assert max_error(to_rgb8(uyvy, "uyvy"), flat) <= 2
    assert max_error(to_rgb8(uyvy, "yuyv"), flat) > 50  # reading UYVY as YUYV is visibly wrong


# --------------------------------------------------------------------------------- compressed


def test_encode_compressed_format_strings():
    rgb = smooth_rgb()
    assert encode_compressed(rgb, "rgb8")[0] == "rgb8; jpeg compressed bgr8"
    assert encode_compressed(rgb[..., ::-1].copy(), "bgr8", "png")[0] == "bgr8; png compressed bgr8"
    assert encode_compressed(rgb8_to(rgb, "rgba8"), "rgba8")[0] == "rgba8; jpeg compressed bgr8"
    assert encode_compressed(rgb8_to(rgb, "mono8"), "mono8")[0] == "mono8; jpeg compressed "
    assert encode_compressed(rgb8_to(rgb, "16UC1"), "16UC1", "png")[0] == "16UC1; png compressed "
    assert encode_compressed(rgb8_to(rgb, "uyvy"), "uyvy", "png")[0] == "rgb8; png compressed bgr8"


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8", "8UC3"])
def test_jpeg_round_trip_keeps_colours(encoding):
    original = smooth_rgb()
    fmt, data = encode_compressed(rgb8_to(original, encoding), encoding, "jpeg", quality=95)
    assert data[:2] == b"\xff\xd8"  # a JPEG
    rgb = to_rgb8(*decode_compressed(fmt, data))
    assert np.abs(rgb.astype(np.int32) - original).mean() < 3
    assert max_error(rgb, original) < 40
    assert np.abs(rgb[..., 0].astype(np.int32) - original[..., 2]).mean() > 30  # red is not blue


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "8UC3", "rgba8", "bgra8", "mono8", "8UC1", "mono16",
                                      "16UC1", "yuyv", "bayer_grbg8"])
def test_png_round_trip_is_lossless(encoding):
    original = original_for(encoding)
    array_in = rgb8_to(original, encoding)
    fmt, data = encode_compressed(array_in, encoding, "png")
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    decoded, decoded_encoding = decode_compressed(fmt, data)
    np.testing.assert_array_equal(to_rgb8(decoded, decoded_encoding), to_rgb8(array_in, encoding))
    if encoding in ("mono16", "16UC1"):  # 16 bit survives the png
        assert decoded_encoding == "mono16"
        np.testing.assert_array_equal(decoded, array_in)


@pytest.mark.parametrize("fmt", [
    "bgr8; png compressed bgr8",
    "rgb8; png compressed bgr8",
    "bgra8; png compressed bgr8",
    "8UC3; png compressed ",
    "png",
    "",
])
def test_png_of_opencv_bgr_decodes_to_true_rgb_for_every_format(fmt):
    original = smooth_rgb()
    data = opencv_encode(".png", original[..., ::-1].copy())  # what the plugin compresses: BGR
    decoded, encoding = decode_compressed(fmt, data)
    assert encoding == "bgr8"
    np.testing.assert_array_equal(to_rgb8(decoded, encoding), original)


@pytest.mark.parametrize("fmt", ["rgb8; jpeg compressed bgr8", "bgr8; jpeg compressed bgr8", "jpeg"])
def test_jpeg_of_opencv_bgr_decodes_to_true_rgb(fmt):
    original = smooth_rgb()
    data = opencv_encode(".jpg", original[..., ::-1].copy(), [cv2.IMWRITE_JPEG_QUALITY, 95])
    rgb = to_rgb8(*decode_compressed(fmt, data))
    assert np.abs(rgb.astype(np.int32) - original).mean() < 3


def test_colour_format_without_compressed_bgr_is_rgb_ordered_data():
    """image_transport's subscriber reads such data as RGB (e.g. "rgb8; png compressed rgb8")."""
    original = smooth_rgb()
    data = opencv_encode(".png", original)  # the RGB array handed straight to imencode
    decoded, encoding = decode_compressed("rgb8; png compressed rgb8", data)
    assert encoding == "rgb8"
    np.testing.assert_array_equal(to_rgb8(decoded, encoding), original)


@pytest.mark.parametrize("fmt", ["mono8; png compressed ", "mono8; jpeg compressed ", "png", "jpeg"])
def test_grey_compressed_images_decode_as_mono8(fmt):
    grey = grey_rgb()[..., 0]
    ext = ".jpg" if "jpeg" in fmt else ".png"
    data = opencv_encode(ext, grey, [cv2.IMWRITE_JPEG_QUALITY, 100] if ext == ".jpg" else [])
    decoded, encoding = decode_compressed(fmt, data)
    assert encoding == "mono8" and decoded.shape == (H, W)
    assert max_error(decoded, grey) <= (0 if ext == ".png" else 8)


def test_16_bit_png_decodes_as_mono16():
    values = (np.arange(H * W, dtype=np.uint32).reshape(H, W) * 83).astype(np.uint16)
    data = opencv_encode(".png", values)
    decoded, encoding = decode_compressed("16UC1; png compressed", data)
    assert encoding == "mono16" and decoded.dtype == np.uint16
    np.testing.assert_array_equal(decoded, values)


def test_16_bit_colour_png_is_scaled_to_bgr8_like_cv_bridge():
    bgr16 = (smooth_rgb()[..., ::-1].astype(np.uint16) * 257 + 100)
    data = opencv_encode(".png", bgr16)
    decoded, encoding = decode_compressed("rgb16; png compressed bgr16", data)
    assert encoding == "bgr8"
    np.testing.assert_array_equal(decoded, np.floor(bgr16 * 255.0 / 65535.0 + 0.5).astype(np.uint8))


@pytest.mark.parametrize("fmt, data, words, reason", [
    ("rgb8; jpeg compressed bgr8", b"not an image", ["could not be decoded", "'rgb8; jpeg compressed bgr8'"],
     Reject.DECODE_FAILED),
    ("png", b"\x89PNG\r\n\x1a\n" + bytes(20), ["could not be decoded", "'png'"], Reject.DECODE_FAILED),
    ("jpeg", b"", ["empty", "'jpeg'"], Reject.DECODE_FAILED),
    ("16UC1; compressedDepth png", b"\x00" * 40, ["compressedDepth"], Reject.UNSUPPORTED_ENCODING),
])
def test_undecodable_compressed_data_raises(fmt, data, words, reason):
    with pytest.raises(ImageCodecError) as info:
        decode_compressed(fmt, data)
    for word in words:
        assert word in str(info.value)
    assert info.value.reason == reason


def test_encode_compressed_refuses_what_it_cannot_write():
    with pytest.raises(ImageCodecError, match="16-bit") as info:
        encode_compressed(np.zeros((4, 6), np.uint16), "mono16", "jpeg")
    assert info.value.reason == Reject.UNSUPPORTED_ENCODING
    with pytest.raises(ImageCodecError, match="'webp'") as info:
        encode_compressed(smooth_rgb(), "rgb8", "webp")
    assert info.value.reason == Reject.UNSUPPORTED_ENCODING
    with pytest.raises(ImageCodecError, match="quality 0") as info:
        encode_compressed(smooth_rgb(), "rgb8", "jpeg", quality=0)
    assert info.value.reason == Reject.ENCODE_FAILED



# --------------------------------------------------------------------------------- message objects


def test_rclpy_image_fill_serialise_and_read_back():
    image_type = pytest.importorskip("sensor_msgs.msg").Image
    serialization = pytest.importorskip("rclpy.serialization")
    original = smooth_rgb()
    msg = image_type()
    assert fill_image_msg(msg, rgb8_to(original, "bgr8"), "bgr8") is msg
    assert (msg.height, msg.width, msg.encoding, msg.step) == (H, W, "bgr8", W * 3)
    assert msg.is_bigendian == int(sys.byteorder == "big")
    assert isinstance(msg.data, array.array) and len(msg.data) == H * W * 3
    np.testing.assert_array_equal(image_msg_to_rgb8(msg), original)
    received = serialization.deserialize_message(serialization.serialize_message(msg), image_type)
    np.testing.assert_array_equal(image_msg_to_rgb8(received), original)


def test_rclpy_image_with_padded_big_endian_mono16():
    image_type = pytest.importorskip("sensor_msgs.msg").Image
    values = grey_rgb()[..., 0].astype(np.uint16) * 257
    step, data = pad_rows(values.astype(">u2").tobytes(), H, W * 2, 6)
    msg = image_type(height=H, width=W, encoding="mono16", is_bigendian=1, step=step)
    msg.data = array.array("B", data)
    np.testing.assert_array_equal(image_msg_to_rgb8(msg), grey_rgb())


def test_rclpy_fill_image_msg_mono16_round_trips():
    image_type = pytest.importorskip("sensor_msgs.msg").Image
    values = (np.arange(H * W, dtype=np.uint32).reshape(H, W) * 97).astype(np.uint16)
    msg = fill_image_msg(image_type(), values, "16UC1")
    assert msg.step == W * 2
    decoded = decode_image(msg.encoding, msg.height, msg.width, msg.step, msg.data, bool(msg.is_bigendian))
    np.testing.assert_array_equal(decoded, values)


def test_rclpy_compressed_image():
    compressed_type = pytest.importorskip("sensor_msgs.msg").CompressedImage
    original = smooth_rgb()
    fmt, data = encode_compressed(original, "rgb8", "png")
    msg = compressed_type(format=fmt)
    msg.data = array.array("B", data)
    np.testing.assert_array_equal(compressed_msg_to_rgb8(msg), original)


@pytest.fixture(scope="module")
def typestore():
    typesys = pytest.importorskip("rosbags.typesys")
    return typesys.get_typestore(typesys.Stores.ROS2_HUMBLE)


def _rosbags_header(typestore):
    time_type = typestore.types["builtin_interfaces/msg/Time"]
    return typestore.types["std_msgs/msg/Header"](stamp=time_type(sec=1, nanosec=2), frame_id="camera")


def test_rosbags_image_fill_serialise_and_read_back(typestore):
    image_type = typestore.types["sensor_msgs/msg/Image"]
    msg = image_type(header=_rosbags_header(typestore), height=0, width=0, encoding="", is_bigendian=0,
                     step=0, data=np.empty(0, np.uint8))
    original = smooth_rgb()
    frame = rgb8_to(original, "rgba8")
    assert fill_image_msg(msg, frame, "rgba8") is msg
    assert isinstance(msg.data, np.ndarray) and msg.data.dtype == np.uint8 and msg.data.ndim == 1
    assert np.shares_memory(msg.data, frame)  # no copy of a contiguous frame
    assert (msg.height, msg.width, msg.encoding, msg.step) == (H, W, "rgba8", W * 4)
    raw = typestore.serialize_cdr(msg, image_type.__msgtype__)
    received = typestore.deserialize_cdr(raw, image_type.__msgtype__)
    np.testing.assert_array_equal(image_msg_to_rgb8(received), original)


def test_rosbags_big_endian_mono16_message(typestore):
    image_type = typestore.types["sensor_msgs/msg/Image"]
    values = grey_rgb()[..., 0].astype(np.uint16) * 257
    data = np.frombuffer(values.astype(">u2").tobytes(), np.uint8)
    msg = image_type(header=_rosbags_header(typestore), height=H, width=W, encoding="mono16",
                     is_bigendian=1, step=W * 2, data=data)
    np.testing.assert_array_equal(image_msg_to_rgb8(msg), grey_rgb())


def test_rosbags_compressed_image(typestore):
    compressed_type = typestore.types["sensor_msgs/msg/CompressedImage"]
    original = smooth_rgb()
    fmt, data = encode_compressed(rgb8_to(original, "bgr8"), "bgr8", "png")
    msg = compressed_type(header=_rosbags_header(typestore), format=fmt, data=np.frombuffer(data, np.uint8))
    received = typestore.deserialize_cdr(typestore.serialize_cdr(msg, compressed_type.__msgtype__),
                                         compressed_type.__msgtype__)
    np.testing.assert_array_equal(compressed_msg_to_rgb8(received), original)


# --------------------------------------------------------------------------------- decoded-pixel limit

HUGE_SIDE = 20000


def huge_png(side: int = HUGE_SIDE) -> bytes:
    """A valid grey PNG of side x side zeros (~400 KB; 400 MB once decoded), written row block by row block
    so the test never holds the decoded image either."""
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    compressor = zlib.compressobj(9)
    block = bytes(side + 1) * 100  # filter byte 0 + one row of zeros, 100 rows at a time
    idat = b"".join(compressor.compress(block) for _ in range(side // 100)) + compressor.flush()
    header = side.to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])  # 8-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def huge_png_bytes() -> bytes:
    return huge_png()


def jpeg_claiming(height: int, width: int) -> bytes:
    """A small real JPEG whose start-of-frame header is rewritten to claim height x width."""
    data = bytearray(opencv_encode(".jpg", smooth_rgb(16, 16)))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp"])
def test_compressed_size_reads_the_header(ext):
    from rail_seg_ros.image_codec import compressed_size

    image = smooth_rgb(37, 53)
    assert compressed_size(opencv_encode(ext, image)) == (37, 53)
    assert compressed_size(b"not an image at all") is None


def test_small_png_that_decodes_huge_is_refused_from_its_header(huge_png_bytes):
    assert len(huge_png_bytes) < 500_000
    with pytest.raises(ImageCodecError, match=r"20000x20000 = 400.0 Mpx is larger than the limit of 50 Mpx") as info:
        decode_compressed("mono8; png compressed ", huge_png_bytes)
    assert info.value.reason == Reject.TOO_LARGE == "too_large"


def test_huge_png_is_refused_without_allocating_it(tmp_path, huge_png_bytes):
    """In a fresh process: refusing the 400 Mpx PNG keeps the peak memory near the interpreter's own."""
    import subprocess

    path = tmp_path / "huge.png"
    path.write_bytes(huge_png_bytes)
    script = (
        "import resource, sys, time\n"
        "from types import SimpleNamespace\n"
        "from rail_seg_ros.image_codec import ImageCodecError, compressed_msg_to_rgb8\n"
        "from rail_seg_ros.datasets import read_rgb\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "start = time.perf_counter()\n"
        "for call in (lambda: compressed_msg_to_rgb8(SimpleNamespace(format='png', data=data)),\n"
        "             lambda: read_rgb(sys.argv[1])):\n"
        "    try:\n"
        "        call()\n"
        "    except ImageCodecError as exc:\n"
        "        assert exc.reason == 'too_large', exc\n"
        "    else:\n"
        "        raise SystemExit('decoded')\n"
        "grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before\n"
        "print(grown_kb, time.perf_counter() - start)\n")
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    grown_kb, seconds = done.stdout.split()
    assert int(grown_kb) < 50_000 and float(seconds) < 1.0  # decoding would take 400 MB (1.2 GB as RGB)


def test_jpeg_start_of_frame_is_read_before_decoding():
    from rail_seg_ros.image_codec import compressed_size

    data = jpeg_claiming(20000, 30000)
    assert compressed_size(data) == (20000, 30000)
    with pytest.raises(ImageCodecError, match="30000x20000") as info:
        decode_compressed("rgb8; jpeg compressed bgr8", data)
    assert info.value.reason == Reject.TOO_LARGE


def test_max_pixels_is_the_callers_choice():
    data = opencv_encode(".png", smooth_rgb(40, 50))
    image, _ = decode_compressed("png", data)  # 2000 px: well under the default
    assert image.shape[:2] == (40, 50)
    with pytest.raises(ImageCodecError, match="limit of 0.001 Mpx") as info:
        decode_compressed("png", data, max_pixels=1000)
    assert info.value.reason == Reject.TOO_LARGE
    fields = encode_image(smooth_rgb(40, 50), "rgb8")
    with pytest.raises(ImageCodecError, match=r"Image \(rgb8\) of 50x40") as info:
        decode_image(fields.encoding, fields.height, fields.width, fields.step, fields.data, max_pixels=1999)
    assert info.value.reason == Reject.TOO_LARGE
    assert decode_image(fields.encoding, fields.height, fields.width, fields.step, fields.data,
                        max_pixels=2000).shape == (40, 50, 3)


def test_formats_without_a_readable_header_are_checked_once_decoded():
    data = opencv_encode(".tiff", smooth_rgb(40, 50))
    with pytest.raises(ImageCodecError, match="50x40") as info:
        decode_compressed("tiff", data, max_pixels=1000)
    assert info.value.reason == Reject.TOO_LARGE
