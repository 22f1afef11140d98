"""Image sizes from compressed headers (PNG IHDR, JPEG start-of-frame, BMP), read without decoding, so a
small file claiming 20000x20000 pixels is refused before it is decoded (image_codec.check_pixels)."""

from typing import Optional, Tuple

import numpy as np

_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers (not DHT, JPG, DAC)


def _png_size(head: bytes) -> Optional[Tuple[int, int]]:
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR" or len(head) < 24:
        return None
    return int.from_bytes(head[20:24], "big"), int.from_bytes(head[16:20], "big")


def _jpeg_size(buf: np.ndarray) -> Optional[Tuple[int, int]]:
    """Height and width from the first start-of-frame segment, walking the segments from SOI."""
    data, pos, end = memoryview(buf), 2, buf.size
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        length = (data[pos + 2] << 8) | data[pos + 3]
        if marker in _JPEG_SOF:
            if pos + 9 > end:
                return None
            return (data[pos + 5] << 8) | data[pos + 6], (data[pos + 7] << 8) | data[pos + 8]
        if marker == 0xDA or length < 2:  # scan data before any frame header: not a JPEG we can read
            return None
        pos += 2 + length
    return None


def _bmp_size(head: bytes) -> Optional[Tuple[int, int]]:
    if head[:2] != b"BM" or len(head) < 26:
        return None
    width = int.from_bytes(head[18:22], "little", signed=True)
    height = int.from_bytes(head[22:26], "little", signed=True)
    return abs(height), abs(width)


def header_size(buf: np.ndarray) -> Optional[Tuple[int, int]]:
    """(height, width) that the bytes in ``buf`` (uint8) claim in a PNG, JPEG or BMP header; None otherwise."""
    head = buf[:32].tobytes()
    if head[:2] == b"\xff\xd8":
        return _jpeg_size(buf)
    return _png_size(head) or _bmp_size(head)
