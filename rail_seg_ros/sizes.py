"""Image sizes as users write them (``HxW``); no heavy imports, so light commands start fast."""

from typing import Tuple

from .errors import RailSegError


def parse_size(text: str) -> Tuple[int, int]:
    """``HxW`` -> (H, W)."""
    parts = str(text).lower().split("x")
    try:
        height, width = (int(p) for p in parts)
    except ValueError:
        raise RailSegError(f"size {text!r} is not HxW (for example 1024x2048)") from None
    if height <= 0 or width <= 0:
        raise RailSegError(f"size {text!r}: height and width must be positive")
    return height, width
