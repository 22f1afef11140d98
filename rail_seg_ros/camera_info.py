"""sensor_msgs/CameraInfo for an image that was resized (and possibly shifted) from the camera's frame.

The same convention as image_proc's resize node: a pixel coordinate u of the camera image maps to
``u * scale_x + offset_x`` in the output, so fx, cx (K) and fx', cx', Tx (P) scale by ``scale_x`` and
the principal point moves by the offset; likewise for y. Distortion (D) and rectification (R) do not
depend on the pixel grid and are kept; binning is kept.
"""

import copy
from typing import Tuple


def scale_factors(in_size: Tuple[int, int], out_size: Tuple[int, int]) -> Tuple[float, float]:
    """(scale_x, scale_y) from an input (height, width) to an output (height, width)."""
    return out_size[1] / in_size[1], out_size[0] / in_size[0]


def scale_camera_info(msg, out_width: int, out_height: int, scale_x: float, scale_y: float,
                      offset_x: float = 0.0, offset_y: float = 0.0):
    """A copy of CameraInfo ``msg`` for an output image of ``out_width`` x ``out_height`` pixels.

    ``scale_x``/``scale_y`` map camera pixels to output pixels, ``offset_x``/``offset_y`` (output
    pixels) is where the camera image's origin lands (non-zero when the image was padded in front).
    The header is kept unchanged.
    """
    out = copy.deepcopy(msg)
    out.width = int(out_width)
    out.height = int(out_height)
    k = [float(v) for v in msg.k]
    k[0] *= scale_x  # fx
    k[1] *= scale_x  # skew
    k[2] = k[2] * scale_x + offset_x  # cx
    k[4] *= scale_y  # fy
    k[5] = k[5] * scale_y + offset_y  # cy
    out.k = k
    p = [float(v) for v in msg.p]
    # P = [fx' s cx' Tx; 0 fy' cy' Ty; 0 0 1 0]; the offset enters like in K: row += offset * row 3
    p[0] *= scale_x
    p[1] *= scale_x
    p[2] = p[2] * scale_x + offset_x
    p[3] *= scale_x
    p[5] *= scale_y
    p[6] = p[6] * scale_y + offset_y
    p[7] *= scale_y
    out.p = p
    roi = out.roi
    if roi.width or roi.height or roi.x_offset or roi.y_offset:
        roi.x_offset = int(round(msg.roi.x_offset * scale_x + offset_x))
        roi.y_offset = int(round(msg.roi.y_offset * scale_y + offset_y))
        roi.width = int(round(msg.roi.width * scale_x))
        roi.height = int(round(msg.roi.height * scale_y))
    return out
