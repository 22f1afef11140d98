"""The scene builder: one drive's world laid out from a seed, by style (main line, street tramway)."""

import math
from typing import Tuple

import numpy as np

from .build_track import TrackLayout
from .config import ROAD, SIDEWALK, SKY, STYLES, SceneConfig
from .palette import TEXTURE, pick_colour, uniform
from .world import CameraSpec, Look, Strip, Track, World


class Builder(TrackLayout):
    """Lays out one drive: tracks, ground bands and upright things up to ``length`` metres.

    Choices made once per drive come from ``rng`` in a fixed order; things repeated along the line
    come from streams of their own (``along``), so a longer drive only adds to a shorter one: the
    first frames of every drive with the same seed are the same.
    """

    def build(self) -> None:
        weights = np.asarray(self.cfg.style_weights, dtype=float)
        self.style = STYLES[int(self.rng.choice(3, p=weights / weights.sum()))]
        if self.style == "street tramway":
            self.street_tramway()
        else:
            self.mainline(street=self.style == "mainline+street")
        if self.cfg.p_track_obstacle > 0:   # never drawn from rng otherwise: default scenes stay as they were
            self.add_track_obstacle()

    def mainline(self, street: bool) -> None:
        rng, cfg = self.rng, self.cfg
        street_side = self.side() if street else 0
        self.tracks.append(Track(0.0, False))
        for side in (-1, 1):
            if side != street_side and rng.random() < cfg.p_neighbour:
                for k in range(1, 3 if rng.random() < 0.25 else 2):
                    self.tracks.append(Track(side * k * self.spacing, False))
        self.add_switches(embedded=False)
        for side in (-1, 1):
            self.outer[side] = self.track_side_lat(side, rng) * side + 0.3
        self.add_platforms(street_side)
        self.add_level_crossings()
        if rng.random() < cfg.p_catenary:
            self.add_catenary()
        self.add_signals()
        self.add_signs()
        self.add_trackside_people()
        self.add_trains([t for t in self.tracks if t.parallel and t.offset != 0.0], tram_style=False)
        if rng.random() < cfg.p_train_ahead:
            self.add_train_ahead(tram_style=False)
        self.add_bridges()
        if street_side:
            self.add_street(street_side)
        for side in (-1, 1):
            if side != street_side:
                self.add_countryside(side)

    def street_tramway(self) -> None:
        rng, cfg = self.rng, self.cfg
        self.tracks.append(Track(0.0, True))
        other = self.side()
        if rng.random() < 0.8:
            self.tracks.append(Track(other * float(rng.uniform(3.0, 3.4)), True))
        if rng.random() < cfg.p_switch * 0.5:
            ds = float(rng.uniform(10.0, 150.0))
            self.tracks.append(Track(-other * 3.2, True, d_start=ds, switch_at=ds, switch_len=25.0))
        tram = max(abs(t.offset) for t in self.tracks) + cfg.gauge / 2 + 0.5
        left = tram * (1 if other < 0 else 0.35) + 3.2 * int(rng.integers(1, 3))
        right = tram * (1 if other > 0 else 0.35) + 3.2 * int(rng.integers(1, 3))
        asphalt = pick_colour(rng, "asphalt", 8)
        marks = (-left + 3.2, right - 3.2) if left > 4 and right > 4 else ()
        self.strips.append(Strip(ROAD, asphalt, -left, right, pattern="lanes", marks=marks))
        for dc, r in self.along(0.3, near=(15.0, 80.0), p_near=cfg.p_crossing, lo=40.0, end=self.reach):
            if self.free(dc - 20, dc + 30):
                self.crossings.append((dc, dc + float(r.uniform(8.0, 13.0)), asphalt))
        pave = pick_colour(rng, "sidewalk", 8)
        for side, inner in ((-1, left), (1, right)):
            width = float(rng.uniform(2.5, 5.0))
            self.strips.append(Strip(SIDEWALK, pave, side * inner, side * (inner + width), height=0.12,
                                      pattern="tiles"))
            self.outer[side] = inner + width
            self.add_street_side(side, inner, width)
        self.add_street_catenary(-left + 0.4, right - 0.4)
        self.add_signs()
        self.add_trains([t for t in self.tracks if t.parallel and t.offset != 0.0], tram_style=True)
        if rng.random() < cfg.p_train_ahead:
            self.add_train_ahead(tram_style=True)


def make_look(rng: np.random.Generator, cfg: SceneConfig) -> Look:
    overcast = rng.random() < cfg.p_overcast
    if overcast:
        grey = float(rng.uniform(150, 200))
        top = np.array([grey, grey + 4, grey + 10])
        horizon = np.minimum(top + rng.uniform(15, 35), 245)
    else:
        top = np.array([rng.uniform(50, 110), rng.uniform(110, 160), rng.uniform(190, 240)])
        horizon = np.array([rng.uniform(175, 215), rng.uniform(195, 225), rng.uniform(220, 248)])
    temp = uniform(rng, cfg.temperature)
    texture = np.zeros((3, 256), np.float32)
    for cls, strengths in TEXTURE.items():
        texture[:, cls] = np.asarray(strengths) * rng.uniform(0.7, 1.3)
    texture[2, SKY] *= 2.5 if overcast else 1.0
    return Look(
        sky_top=top.astype(np.float32), sky_horizon=horizon.astype(np.float32),
        haze=horizon.astype(np.float32), visibility=uniform(rng, cfg.visibility), haze_max=float(rng.uniform(0.35, 0.6)),
        brightness=uniform(rng, cfg.brightness), contrast=uniform(rng, cfg.contrast),
        gains=np.array([1 + temp, 1.0, 1 - temp], np.float32), saturation=uniform(rng, cfg.saturation),
        gamma=uniform(rng, cfg.gamma), blur_sigma=uniform(rng, cfg.blur_sigma) if rng.random() < cfg.p_blur else 0.0,
        noise_sigma=uniform(rng, cfg.noise_sigma), texture=texture,
        shade_side=float(rng.uniform(0.65, 1.0)), shade_front=float(rng.uniform(0.8, 1.1)),
    )


def make_curve(rng: np.random.Generator, cfg: SceneConfig) -> Tuple[float, float, float, float]:
    k0 = 0.0 if rng.random() < cfg.p_straight else uniform(rng, cfg.curvature)
    k1 = uniform(rng, cfg.curvature_wave)
    omega = 2 * math.pi / uniform(rng, cfg.curvature_period)
    return k0, k1, omega, float(rng.uniform(0, 2 * math.pi))


def build_world(rng: np.random.Generator, cfg: SceneConfig, frames: int) -> World:
    speed = uniform(rng, cfg.speed)
    camera = CameraSpec(uniform(rng, cfg.camera_height), uniform(rng, cfg.focal), uniform(rng, cfg.horizon),
                         math.radians(uniform(rng, cfg.roll_deg)), uniform(rng, cfg.yaw),
                         (float(rng.uniform(0, 6.3)), float(rng.uniform(0, 6.3))))
    look = make_look(rng, cfg)
    curve = make_curve(rng, cfg)
    builder = Builder(rng, cfg, length=speed * frames + cfg.far)
    builder.build()
    return World(builder.style, camera, look, curve, builder.tracks, builder.strips, builder.platforms,
                  builder.crossings, builder.props, builder.skyline(), builder.tl, speed, builder.objects)
