"""Beyond the railway: countryside, buildings, streets beside the line and the skyline."""

from typing import Optional, Tuple

import numpy as np

from .build_objects import ObjectLayout
from .config import CONSTRUCTION, FENCE, RGB, ROAD, SIDEWALK, VEGETATION
from .palette import PALETTE, blob, pick, pick_colour, shade
from .world import Strip, Track


class SurroundingsLayout(ObjectLayout):
    """Lays out what lies beside the railway (streets bring their own traffic, people and trams)."""

    def add_countryside(self, side: int) -> None:
        """Fence, buildings, forest edge, trees and bushes beyond the railway on ``side``."""
        rng, cfg = self.rng, self.cfg
        lat = self.outer[side]
        if rng.random() < cfg.p_fence:
            lat += float(rng.uniform(0.5, 3.0))
            colour, pattern, height = pick_colour(rng, "fence"), pick(rng, ("railing", "railing", "planks")), float(
                rng.uniform(1.1, 2.2))
            r = self.stream()
            d = float(r.uniform(-20.0, 40.0))
            while d < self.length:
                run = float(r.uniform(60.0, 400.0))
                self.add_wall(side * lat, d, d + run, cls=FENCE, colour=colour, y0=0.0, y1=height, pattern=pattern)
                d += run + float(r.uniform(20.0, 200.0))
        for d, r in self.along(cfg.trees_per_100m, near=(5.0, 40.0), p_near=0.5, lo=-10.0):
            self.add_tree(r, side * (lat + float(r.exponential(6.0)) + 2.0), d)
        for d, r in self.along(cfg.trees_per_100m * 0.6, near=(5.0, 30.0), p_near=0.4, lo=-10.0):
            radius = float(r.uniform(0.6, 1.8))
            b_lat = side * (lat + float(r.uniform(0.5, 6.0)))
            self.add("bush", b_lat, d, (b_lat - radius, b_lat + radius), radius=radius, outline=blob(r),
                     colour=pick_colour(r, "foliage", 14))
        if rng.random() < cfg.p_buildings:
            lat += float(rng.uniform(3.0, 14.0))
            r = self.stream()
            d = float(r.uniform(-30.0, 40.0))
            while d < self.length:
                length = float(r.uniform(8.0, 30.0))
                self.add_building(r, side, lat + float(r.uniform(0.0, 4.0)), d, length, float(r.uniform(4.0, 14.0)))
                d += length + float(r.uniform(3.0, 40.0))
        if rng.random() < cfg.p_forest:
            lat += float(rng.uniform(3.0, 15.0))
            r = self.stream()
            d = float(r.uniform(-30.0, 80.0))
            while d < self.length:
                length = float(r.uniform(40.0, 200.0))
                bumps = [(float(r.uniform(1.0, 3.0)), float(r.uniform(0.2, 0.6)), float(r.uniform(0.0, 6.0)))
                         for _ in range(2)]
                self.add_wall(side * lat, d, d + length, seg=6.0, cls=VEGETATION, colour=pick_colour(r, "foliage", 12),
                              y0=0.0, y1=float(r.uniform(6.0, 14.0)), bumps=bumps)
                d += length + float(r.uniform(10.0, 80.0))

    def add_tree(self, r: np.random.Generator, lat: float, d: float, base: Optional[float] = None) -> None:
        height = float(r.uniform(4.0, 14.0))
        radius = height * float(r.uniform(0.2, 0.35))
        self.add("tree", lat, d, (lat - radius, lat + radius), base=base, height=height, radius=radius,
                 trunk=float(r.uniform(0.2, 0.4)), conifer=r.random() < 0.3, outline=blob(r),
                 colour=pick_colour(r, "foliage", 14), trunk_colour=pick_colour(r, "trunk", 8))

    def add_building(self, r: np.random.Generator, side: int, lat: float, d0: float, length: float, height: float,
                     base: float = 0.0) -> None:
        """A building beside the line: its long face toward the track and its near end."""
        depth = float(r.uniform(8.0, 15.0))
        data = dict(cls=CONSTRUCTION, colour=pick_colour(r, "wall"), y0=base, y1=base + height, pattern="building",
                    glass=pick_colour(r, "glass", 8), window_pitch=float(r.uniform(2.6, 4.0)),
                    window_w=float(r.uniform(1.0, 1.6)), origin=d0 + 0.8)
        self.add_wall(side * lat, d0, d0 + length, **data)
        u0, u1 = (0.0, depth) if side > 0 else (-depth, 0.0)
        self.add("front", side * lat, d0, (min(side * lat, side * (lat + depth)), max(side * lat, side * (lat + depth))),
                 u0=u0, u1=u1, **data)

    # -- streets
    def add_street(self, side: int) -> None:
        """A street with a tramway beside the railway on ``side``: sidewalks, lanes, cars, buildings."""
        rng = self.rng
        lat = self.outer[side] + float(rng.uniform(1.5, 5.0))
        if rng.random() < 0.5:
            self.add_wall(side * (lat - 0.8), -20.0, self.length + 20.0, cls=FENCE, colour=pick_colour(rng, "fence"),
                          y0=0.0, y1=float(rng.uniform(1.1, 2.0)), pattern="railing")
        pave, asphalt = pick_colour(rng, "sidewalk", 8), pick_colour(rng, "asphalt", 8)
        road0 = lat + float(rng.uniform(2.0, 3.5))
        lanes = 3.2
        tram0 = road0 + lanes
        centres = [tram0 + 1.6 + 3.2 * k for k in range(1 if rng.random() < 0.4 else 2)]
        road1 = centres[-1] + 1.6 + lanes
        width = float(rng.uniform(2.5, 4.5))
        self.strips.append(Strip(SIDEWALK, pave, *sorted((side * lat, side * road0)), height=0.12, pattern="tiles"))
        self.strips.append(Strip(ROAD, asphalt, *sorted((side * road0, side * road1)), pattern="lanes",
                                  marks=(side * tram0, side * (road1 - lanes))))
        self.strips.append(Strip(SIDEWALK, pave, *sorted((side * road1, side * (road1 + width))), height=0.12,
                                  pattern="tiles"))
        street_tracks = [Track(side * c, True) for c in centres]
        self.tracks.extend(street_tracks)
        self.add_lane_traffic(side * (road0 + lanes / 2), oncoming=side < 0)
        self.add_lane_traffic(side * (road1 - lanes / 2), oncoming=side > 0)
        for d, r in self.along(self.cfg.people_per_100m, near=(10.0, 50.0)):
            self.add_human(r, side * (road1 + float(r.uniform(0.5, width - 0.3))), d, base=0.12)
        self.add_trains(street_tracks, tram_style=True)
        self.add_traffic_lights(side * (road0 - 0.5), side * (road1 + 0.5))
        self.add_street_buildings(side, road1 + width)
        self.outer[side] = road1 + width

    def add_street_side(self, side: int, road_edge: float, width: float) -> None:
        """Everything along one side of a tramway street: traffic, people, lamps, trees, buildings."""
        rng = self.rng
        self.add_lane_traffic(side * (road_edge - 1.6), oncoming=side < 0)
        for d, r in self.along(self.cfg.people_per_100m * 1.5, near=(8.0, 45.0)):
            self.add_human(r, side * (road_edge + float(r.uniform(0.4, width - 0.3))), d, base=0.12)
        if rng.random() < 0.5:
            r = self.stream()
            for d in np.arange(float(r.uniform(0.0, 15.0)), self.length, float(r.uniform(10.0, 18.0))):
                if self.free(float(d), float(d)):
                    self.add_tree(r, side * (road_edge + width * 0.5), float(d), base=0.12)
        self.add_traffic_lights(side * (road_edge + 0.4), None)
        self.add_street_buildings(side, road_edge + width)


    def add_traffic_lights(self, lat: float, other: Optional[float]) -> None:
        """Traffic lights before every cross street, and often one near the start."""
        r = self.stream()
        spots = [c0 - 1.5 for c0, _, _ in self.crossings if c0 < self.length]
        if r.random() < self.cfg.p_near or not spots:
            spots.insert(0, float(r.uniform(12.0, 60.0)))
        for d in spots:
            for where in (lat, other):
                if where is None:
                    continue
                side = 1 if where > 0 else -1
                lit_index = int(r.integers(3))
                self.add("signal", where, d, height=float(r.uniform(2.4, 3.4)), head_w=0.4, head_h=1.1, lamps=3,
                         lit_index=lit_index, lit=PALETTE["lamp"][int(r.integers(3))],
                         housing=(28, 28, 30) if r.random() < 0.6 else (60, 62, 40), pole=pick_colour(r, "pole"),
                         shift=-side * 0.3, on_top=True, horizontal=False)

    def add_street_buildings(self, side: int, lat: float) -> None:
        r = self.stream()
        d = float(r.uniform(-40.0, 0.0))
        while d < self.length:
            length = float(r.uniform(10.0, 35.0))
            for a, b in self.runs(d, d + length):
                self.add_building(r, side, lat + float(r.uniform(0.0, 1.0)), a, b - a, float(r.uniform(8.0, 22.0)))
            d += length + (float(r.uniform(2.0, 20.0)) if r.random() < 0.25 else 0.0)

    def add_street_catenary(self, lat_l: float, lat_r: float) -> None:
        rng = self.rng
        colour = pick_colour(rng, "pole")
        pitch = float(rng.uniform(28.0, 40.0))
        arm_y = float(rng.uniform(6.2, 6.8))
        for d in np.arange(float(rng.uniform(-pitch, 0.0)), self.length + pitch, pitch):
            self.add("mast", lat_l, float(d), (lat_l, lat_r), height=arm_y + 1.2, width=0.26, colour=colour,
                     reach=lat_r - lat_l, arm_y=arm_y, span_wire=True)
            self.add("mast", lat_r, float(d), height=arm_y + 1.2, width=0.26, colour=colour, reach=0.0,
                     arm_y=arm_y, span_wire=False)
        for t in self.tracks:
            if t.parallel:
                self.add_wire(t.offset, 5.8)

    # -- horizon
    def skyline(self) -> Tuple[np.ndarray, np.ndarray, int, RGB]:
        """Distant town blocks (street scenes, often) or a tree line, as heights over the horizon."""
        rng = self.rng
        angles = np.linspace(-2.5, 2.5, 120)
        if self.style == "street tramway" or (self.style == "mainline+street" and rng.random() < 0.5):
            blocks = np.repeat(rng.uniform(6.0, 40.0, 30), 4) / 700.0
            return angles, blocks, CONSTRUCTION, shade(pick_colour(rng, "concrete"), 0.9)
        walk = np.cumsum(rng.normal(0.0, 1.0, len(angles)))
        walk = np.convolve(walk - walk.mean(), np.ones(5) / 5, mode="same")
        heights = np.clip(14.0 + 3.0 * walk + 4.0 * np.abs(rng.normal(0.0, 1.0, len(angles))), 3.0, 40.0) / 700.0
        return angles, heights, VEGETATION, pick_colour(rng, "foliage", 10)
