"""Image effects after drawing: texture by class, haze by depth, light, blur and sensor noise (image only)."""

import functools

import cv2
import numpy as np

from .canvas import Canvas
from .world import Look


@functools.lru_cache(maxsize=2)
def _texture_bank(height: int, width: int) -> np.ndarray:
    """Noise fields twice the frame size (grain, small and large blotches), cropped at random per frame."""
    rng = np.random.default_rng(0x5EED)
    scale = width / 512
    fields = []
    for sigma in (0.0, 1.6 * scale, 9.0 * scale):
        noise = rng.standard_normal((2 * height, 2 * width)).astype(np.float32)
        if sigma:
            noise = cv2.GaussianBlur(noise, (0, 0), sigma)
        fields.append(np.clip(noise / max(float(noise.std()), 1e-6), -2.5, 2.5))
    bank = np.stack(fields)
    bank.setflags(write=False)
    return bank


def _colour_matrix(look: Look) -> np.ndarray:
    """Saturation, contrast, brightness and colour temperature as one 3x4 affine colour map."""
    sat = look.saturation * np.eye(3) + (1.0 - look.saturation) / 3.0
    gain = np.diag(look.brightness * look.gains)
    matrix = gain @ (look.contrast * sat)
    offset = gain @ np.full(3, 128.0 * (1.0 - look.contrast))
    return np.hstack([matrix, offset[:, None]]).astype(np.float32)


def finish_image(fr: Canvas, rng: np.random.Generator) -> np.ndarray:
    """Texture by class, haze by depth, then light, blur and sensor noise: all on the image only."""
    look, lab = fr.world.look, fr.lab
    h, w = lab.shape
    bank = _texture_bank(h, w)
    oy, ox = int(rng.integers(0, h)), int(rng.integers(0, w))
    tex = bank[:, oy:oy + h, ox:ox + w]
    mod = 1.0 + look.texture[0][lab] * tex[0] + look.texture[1][lab] * tex[1] + look.texture[2][lab] * tex[2]
    img = fr.img.astype(np.float32) * mod[..., None]
    haze = (look.haze_max * (1.0 - np.exp(-fr.depth / look.visibility)))[..., None]
    img += (look.haze - img) * haze
    img = cv2.transform(img, _colour_matrix(look))
    if look.blur_sigma > 0:
        img = cv2.GaussianBlur(img, (0, 0), look.blur_sigma * w / 512)
    if look.noise_sigma > 0:
        ny, nx = int(rng.integers(0, h)), int(rng.integers(0, w))
        grain = cv2.merge([bank[0, ny:ny + h, nx:nx + w], bank[0, h - ny:2 * h - ny, nx:nx + w],
                           bank[0, ny:ny + h, w - nx:2 * w - nx]])
        img = cv2.scaleAdd(grain, look.noise_sigma, img)
    out = np.clip(img, 0, 255).astype(np.uint8)
    lut = (255.0 * (np.arange(256) / 255.0) ** look.gamma).astype(np.uint8)
    return cv2.LUT(out, lut)
