"""Colours, textures and unit shapes the scenes are made of, and the random draws that pick them."""

from typing import Any, Dict, Sequence, Tuple

import numpy as np

from .config import (
    CAR,
    CONSTRUCTION,
    FENCE,
    HUMAN,
    ON_RAILS,
    POLE,
    RAIL_EMBEDDED,
    RAIL_RAISED,
    RAIL_TRACK,
    RGB,
    ROAD,
    SIDEWALK,
    SKY,
    TERRAIN,
    TRACKBED,
    TRAFFIC_LIGHT,
    TRAFFIC_SIGN,
    TRAM_TRACK,
    TRUCK,
    VEGETATION,
    Range,
)

PALETTE: Dict[str, Sequence[RGB]] = {
    "grass": ((104, 128, 62), (122, 140, 70), (138, 146, 86), (96, 118, 58), (150, 150, 96)),
    "dry": ((150, 140, 100), (164, 150, 108), (128, 114, 84)),
    "foliage": ((52, 82, 36), (64, 96, 40), (44, 70, 34), (76, 98, 46), (58, 78, 44)),
    "trunk": ((70, 56, 42), (90, 74, 58), (60, 52, 46)),
    "ballast": ((128, 122, 112), (116, 108, 100), (140, 132, 120), (106, 100, 96)),
    "sleeper": ((170, 168, 160), (150, 148, 142), (92, 72, 56), (78, 62, 50)),
    "rail_side": ((96, 70, 56), (84, 66, 58), (110, 82, 62)),
    "rail_head": ((200, 200, 204), (180, 182, 186), (214, 210, 206)),
    "asphalt": ((84, 84, 90), (96, 96, 100), (72, 74, 80), (104, 102, 104)),
    "sidewalk": ((176, 168, 158), (190, 182, 170), (160, 150, 140), (170, 128, 118)),
    "tram_paving": ((156, 150, 140), (138, 128, 118), (170, 164, 150), (124, 118, 112)),
    "wall": ((168, 96, 74), (196, 180, 150), (160, 160, 158), (214, 210, 200), (140, 120, 100),
             (188, 160, 120), (120, 124, 130)),
    "roof": ((80, 60, 56), (60, 62, 68), (120, 70, 56)),
    "glass": ((52, 62, 78), (70, 84, 100), (40, 48, 58), (90, 104, 116)),
    "concrete": ((150, 150, 146), (132, 130, 126), (170, 166, 158)),
    "fence": ((124, 96, 70), (72, 96, 78), (150, 150, 150), (96, 96, 96), (60, 66, 60)),
    "pole": ((130, 132, 136), (160, 160, 158), (92, 94, 98), (112, 102, 92), (178, 176, 170)),
    "vehicle": ((170, 30, 30), (30, 60, 140), (200, 200, 204), (40, 40, 44), (230, 230, 230),
                (120, 124, 130), (30, 110, 70), (200, 150, 40), (90, 30, 40)),
    "truck_box": ((230, 230, 226), (200, 200, 196), (60, 90, 150), (170, 40, 40), (50, 110, 70),
                  (210, 170, 40)),
    "train": ((200, 40, 40), (230, 230, 226), (40, 80, 160), (230, 190, 40), (40, 120, 90),
              (180, 184, 190), (120, 70, 50)),
    "clothes": ((240, 120, 30), (210, 230, 50), (40, 44, 70), (150, 30, 40), (60, 90, 140), (90, 90, 90),
                (30, 30, 30), (120, 80, 140), (200, 200, 200)),
    "drab": ((128, 122, 112), (106, 100, 96), (140, 132, 120), (84, 84, 90), (96, 96, 100), (72, 74, 80),
             (156, 150, 140), (124, 118, 112), (150, 150, 146)),  # ballast, asphalt, paving, concrete
    "skin": ((232, 190, 160), (196, 150, 116), (140, 100, 76), (100, 70, 56)),
    "trousers": ((40, 40, 50), (50, 70, 110), (70, 70, 70), (90, 80, 60)),
    "lamp": ((255, 40, 30), (60, 255, 120), (255, 200, 40), (250, 250, 240)),
}

# Texture strength per class: (per-pixel grain, small blotches, large blotches), multiplicative.
TEXTURE: Dict[int, Tuple[float, float, float]] = {
    ROAD: (0.05, 0.04, 0.06), SIDEWALK: (0.04, 0.03, 0.05), CONSTRUCTION: (0.03, 0.03, 0.07),
    TRAM_TRACK: (0.05, 0.05, 0.05), FENCE: (0.04, 0.03, 0.04), POLE: (0.02, 0.02, 0.03),
    TRAFFIC_LIGHT: (0.02, 0.0, 0.0), TRAFFIC_SIGN: (0.02, 0.0, 0.02), VEGETATION: (0.10, 0.22, 0.12),
    TERRAIN: (0.07, 0.08, 0.14), SKY: (0.004, 0.0, 0.04), HUMAN: (0.03, 0.02, 0.0),
    RAIL_TRACK: (0.12, 0.06, 0.04), CAR: (0.02, 0.01, 0.03), TRUCK: (0.02, 0.02, 0.04),
    TRACKBED: (0.16, 0.09, 0.05), ON_RAILS: (0.02, 0.02, 0.03), RAIL_RAISED: (0.05, 0.02, 0.02),
    RAIL_EMBEDDED: (0.05, 0.02, 0.02),
}


def uniform(rng: np.random.Generator, r: Range) -> float:
    return float(rng.uniform(r[0], r[1]))


def pick(rng: np.random.Generator, items: Sequence[Any]) -> Any:
    return items[int(rng.integers(len(items)))]


def pick_colour(rng: np.random.Generator, name: str, jitter: float = 14.0) -> RGB:
    """A colour of family ``name``, jittered so no two objects are quite alike."""
    base = np.asarray(pick(rng, PALETTE[name]), dtype=float)
    rgb = np.clip(base + rng.uniform(-jitter, jitter, 3), 0, 255)
    return (float(rgb[0]), float(rgb[1]), float(rgb[2]))


def shade(rgb: RGB, k: float) -> RGB:
    return (min(rgb[0] * k, 255.0), min(rgb[1] * k, 255.0), min(rgb[2] * k, 255.0))


def rect(u0: float, u1: float, v0: float, v1: float) -> np.ndarray:
    return np.array([[u0, v0], [u1, v0], [u1, v1], [u0, v1]], dtype=float)


_CIRCLE = np.stack([np.cos(np.linspace(0, 2 * np.pi, 16, endpoint=False)),
                    np.sin(np.linspace(0, 2 * np.pi, 16, endpoint=False))], axis=1)


def ellipse(cu: float, cv: float, ru: float, rv: float) -> np.ndarray:
    return _CIRCLE * (ru, rv) + (cu, cv)


def blob(rng: np.random.Generator, n: int = 18, rough: float = 0.22) -> np.ndarray:
    """A closed irregular unit outline (tree crowns, bushes)."""
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    radius = 1 + rough * rng.standard_normal(n)
    radius = np.clip((radius + np.roll(radius, 1) + np.roll(radius, -1)) / 3, 0.55, 1.4)
    return np.stack([np.cos(angles) * radius, np.sin(angles) * radius], axis=1)


def smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)
