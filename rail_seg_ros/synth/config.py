"""What the synthetic scenes contain (``SceneConfig``), the RailSem19 class ids they draw, and fixed names."""

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Tuple

from ..errors import RailSegError
from ..labels import RAILSEM19

Range = Tuple[float, float]
RGB = Tuple[float, float, float]

_ID = {name: i for i, name in enumerate(RAILSEM19.names)}
ROAD = _ID["road"]
SIDEWALK = _ID["sidewalk"]
CONSTRUCTION = _ID["construction"]
TRAM_TRACK = _ID["tram-track"]
FENCE = _ID["fence"]
POLE = _ID["pole"]
TRAFFIC_LIGHT = _ID["traffic-light"]
TRAFFIC_SIGN = _ID["traffic-sign"]
VEGETATION = _ID["vegetation"]
TERRAIN = _ID["terrain"]
SKY = _ID["sky"]
HUMAN = _ID["human"]
RAIL_TRACK = _ID["rail-track"]
CAR = _ID["car"]
TRUCK = _ID["truck"]
TRACKBED = _ID["trackbed"]
ON_RAILS = _ID["on-rails"]
RAIL_RAISED = _ID["rail-raised"]
RAIL_EMBEDDED = _ID["rail-embedded"]

STYLES = ("mainline", "mainline+street", "street tramway")
IMAGE_DIR = Path("jpgs") / "rs19_val"
LABEL_DIR = Path("uint8") / "rs19_val"
MIN_SIZE = 32


@dataclass
class SceneConfig:
    """What the scenes contain: ranges ``(lo, hi)`` are drawn uniformly once per scene, ``p_*`` are
    probabilities per scene (or per side), densities are per 100 m of line.

    The defaults put every RailSem19 class into most frames, so a small network sees each class
    often and from many sides; widen the ranges for harder data.
    """

    # kind of line: ballasted main line / main line beside a street with a tramway / street tramway
    style_weights: Tuple[float, float, float] = (0.45, 0.25, 0.30)
    # camera
    camera_height: Range = (1.9, 2.8)          # metres above the rails
    focal: Range = (0.75, 1.0)                 # focal length / image width
    horizon: Range = (0.34, 0.48)              # horizon row / image height (camera pitch)
    roll_deg: Range = (-2.5, 2.5)              # horizon tilt
    yaw: Range = (-0.04, 0.04)                 # vanishing point shift / image width
    # line geometry
    gauge: float = 1.435
    curvature: Range = (-1 / 350, 1 / 350)     # 1/radius where the drive starts
    p_straight: float = 0.25
    curvature_wave: Range = (0.0, 1 / 700)     # how much the curvature changes along the line
    curvature_period: Range = (250.0, 700.0)
    track_spacing: Range = (4.0, 5.0)
    p_neighbour: float = 0.55                  # per side, main line
    p_switch: float = 0.4
    p_crossing: float = 0.55                   # level crossing (main line) / cross street (tramway)
    p_platform: float = 0.35
    p_catenary: float = 0.7
    p_train: float = 0.7                       # a train or tram on a neighbouring track
    p_train_ahead: float = 0.08
    p_bridge: float = 0.15
    p_fence: float = 0.55                      # per side
    p_buildings: float = 0.5                   # per side, main line
    p_forest: float = 0.45                     # per side, main line
    signals_per_100m: float = 1.2
    signs_per_100m: float = 2.5
    trees_per_100m: float = 6.0
    people_per_100m: float = 3.0
    cars_per_100m: float = 5.0
    truck_share: float = 0.3
    p_near: float = 0.75                       # each kind of small object also gets one within ~60 m
    p_track_obstacle: float = 0.0              # a person, car or truck on the ego track ahead (tests of the
    track_obstacle_range: Range = (8.0, 120.0)  # track-ahead stage; never drawn at 0), this far ahead (m)
    p_drab_clothes: float = 0.0                # people dressed in the greys of ballast, asphalt and paving:
                                               # hard cases for training (never drawn at 0)
    # light and camera
    brightness: Range = (0.75, 1.2)
    contrast: Range = (0.75, 1.15)
    temperature: Range = (-0.1, 0.1)           # + warmer (more red, less blue)
    saturation: Range = (0.7, 1.2)
    gamma: Range = (0.85, 1.2)
    visibility: Range = (250.0, 2500.0)        # metres, for haze
    p_overcast: float = 0.35
    p_blur: float = 0.35
    blur_sigma: Range = (0.4, 1.2)             # pixels at 512 px width
    noise_sigma: Range = (1.0, 5.0)            # grey levels
    # drawing and sequences
    far: float = 300.0                         # metres drawn ahead of the camera
    min_line_px: float = 5.0                   # thinnest structure (rails, poles, wires), px at <= 512 px width
    min_object_px: float = 24.0                # objects smaller than this (px tall at 512 px width) are not
                                               # drawn: like annotators, labels skip what cannot be recognised
    speed: Range = (0.6, 1.8)                  # metres per frame in sequences
    shake_deg: float = 0.25                    # pitch/roll wobble between frames of a sequence

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == Range and (len(value) != 2 or value[0] > value[1]):
                raise RailSegError(f"SceneConfig.{f.name}: expected (low, high) with low <= high, got {value}")
