"""What the track-ahead stage is told: gauge, clearance envelope, obstacle classes and limits.

The class ids are RailSem19's (``rail_seg_ros.labels.RAILSEM19``): the stage reads label maps of that set.
"""

import math
from dataclasses import dataclass
from typing import FrozenSet, Tuple

import numpy as np

from ..errors import RailSegError
from ..labels import RAILSEM19

CLASS_ID = {name: i for i, name in enumerate(RAILSEM19.names)}
RAIL_CLASSES = (CLASS_ID["rail-raised"], CLASS_ID["rail-embedded"])
TRACK_CLASSES = (CLASS_ID["rail-track"], CLASS_ID["tram-track"])
# never an obstacle, even with any_obstacle: the track itself, the ground beside it, the sky
NOT_OBSTACLE = RAIL_CLASSES + TRACK_CLASSES + tuple(
    CLASS_ID[n] for n in ("trackbed", "road", "sidewalk", "terrain", "sky"))
DEFAULT_OBSTACLES = ("human", "car", "truck", "on-rails")

STANDARD_GAUGE_M = 1.435
# UIC 505-1 kinematic gauge: about 1.7 m either side of the track centre line, about 4.65 m (GC) above the rails
ENVELOPE_HALF_WIDTH_M = 1.7
ENVELOPE_HEIGHT_M = 4.65


@dataclass(frozen=True)
class TrackConfig:
    """Parameters of :class:`rail_seg_ros.track.TrackAhead`; the defaults suit standard-gauge main lines."""

    gauge_m: float = STANDARD_GAUGE_M              # between the rails' centre lines as labelled
    envelope_half_width_m: float = ENVELOPE_HALF_WIDTH_M
    envelope_height_m: float = ENVELOPE_HEIGHT_M
    obstacle_classes: Tuple[str, ...] = DEFAULT_OBSTACLES
    any_obstacle: bool = False                     # also anything not track, trackbed, rail, ground or sky
    min_obstacle_pixels: int = 20                  # smaller regions are label noise
    max_range_m: float = 300.0                     # the ego track is not followed farther than this
    min_gauge_px: float = 3.0                      # ... nor where the rails are closer than this in the image
    max_gap_ratio: float = 4.0                     # coast past occlusions up to this many times the last distance
    refine_pitch: bool = False                     # use the pitch the rails' gauge gives (it is always reported)

    def __post_init__(self) -> None:
        for name in ("gauge_m", "envelope_half_width_m", "envelope_height_m", "max_range_m", "min_gauge_px"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise RailSegError(f"track config: {name} {value!r} must be a positive number")
        if self.envelope_half_width_m < self.gauge_m / 2:
            raise RailSegError(f"track config: envelope half-width {self.envelope_half_width_m} m is narrower than "
                               f"half the gauge ({self.gauge_m / 2} m)")
        if self.max_gap_ratio < 1.0:
            raise RailSegError(f"track config: max_gap_ratio {self.max_gap_ratio} must be at least 1")
        if int(self.min_obstacle_pixels) < 1:
            raise RailSegError(f"track config: min_obstacle_pixels {self.min_obstacle_pixels} must be at least 1")
        unknown = [c for c in self.obstacle_classes if c not in CLASS_ID]
        if unknown:
            raise RailSegError(f"track config: obstacle class {unknown[0]!r} is not a RailSem19 class "
                               f"({', '.join(RAILSEM19.names)})")

    @property
    def obstacle_ids(self) -> FrozenSet[int]:
        ids = {CLASS_ID[c] for c in self.obstacle_classes}
        if self.any_obstacle:
            ids |= set(range(RAILSEM19.num_classes)) - set(NOT_OBSTACLE)
        return frozenset(ids)


def class_lut(ids) -> np.ndarray:
    """256-entry uint8 table: 1 for the given class ids, 0 elsewhere (for ``cv2.LUT`` or indexing)."""
    lut = np.zeros(256, np.uint8)
    lut[list(ids)] = 1
    return lut
