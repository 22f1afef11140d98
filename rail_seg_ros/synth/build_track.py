"""The railway: switches, level crossings, platforms, catenary, signals, signs and bridges."""


import numpy as np

from .build_surroundings import SurroundingsLayout
from .config import FENCE, SIDEWALK
from .palette import PALETTE, pick, pick_colour
from .world import Strip, Track


class TrackLayout(SurroundingsLayout):
    """Lays out the railway's own installations along the tracks."""

    def add_switches(self, embedded: bool) -> None:
        """One switch near the start (a crossover or a track leaving/joining), more crossovers further on."""
        rng, cfg = self.rng, self.cfg
        if rng.random() < cfg.p_switch:
            side = self.side()
            offset = side * self.spacing
            ds, length = float(rng.uniform(6.0, 120.0)), float(rng.uniform(30.0, 45.0))
            diverging = rng.random() < 0.65
            if any(abs(t.offset - offset) < 0.1 for t in self.tracks):
                d0, d1 = (ds, ds + length) if diverging else (ds - length, ds)
            else:
                d0, d1 = (ds, 1e9) if diverging else (-1e9, ds)
            self.tracks.append(Track(offset, embedded, d0, d1, ds, length, diverging))
        neighbours = [t.offset for t in self.tracks if t.parallel and abs(t.offset) == self.spacing]
        for ds, r in self.along(0.1, near=(0.0, 0.0), p_near=0.0, lo=150.0):
            if neighbours:
                length, diverging = float(r.uniform(30.0, 45.0)), r.random() < 0.5
                d0, d1 = (ds, ds + length) if diverging else (ds - length, ds)
                self.tracks.append(Track(pick(r, neighbours), embedded, d0, d1, ds, length, diverging))

    def add_level_crossings(self) -> None:
        cfg = self.cfg
        for dc, r in self.along(0.1, near=(12.0, 90.0), p_near=cfg.p_crossing, lo=60.0, end=self.reach):
            if not self.free(dc - 30, dc + 40):
                continue
            width = float(r.uniform(6.0, 9.0))
            self.crossings.append((dc, dc + width, pick_colour(r, "asphalt", 8)))
            for side in (-1, 1):
                d = dc - 1.2 if side > 0 else dc + width + 1.2
                self.add("signal", side * (self.outer[side] + 0.4), d, height=2.6, head_w=0.34, head_h=0.6, lamps=2,
                         lit_index=int(r.integers(2)), lit=(255, 50, 30), housing=(28, 28, 30), pole=(220, 220, 220),
                         shift=0.0, on_top=True, horizontal=True, cross=True)
                edge = self.outer[side] + 2.5
                for _ in range(int(r.integers(0, 4))):
                    edge += self.add_vehicle_side(r, side, edge, dc + width * (0.72 if side > 0 else 0.28))
            if r.random() < 0.5:
                side = self.side(r)
                self.add_human(r, side * (self.outer[side] + float(r.uniform(1.0, 4.0))),
                               dc + float(r.uniform(1.0, width - 1.0)))

    def add_platforms(self, street_side: int) -> None:
        """Station platforms beside the outermost track of a side, with people, lamps and a building."""
        sides = [s for s in (-1, 1) if s != street_side]
        for d0, r in self.along(0.08, near=(-60.0, 50.0), p_near=self.cfg.p_platform, lo=100.0):
            d1 = d0 + float(r.uniform(90.0, 260.0))
            side = pick(r, sides)
            if self.free(d0 - 20, d1):
                self.add_platform(r, side, d0, d1)

    def add_platform(self, r: np.random.Generator, side: int, d0: float, d1: float) -> None:
        extent = max([abs(t.offset) for t in self.tracks if t.offset * side > 0] + [0.0])
        edge = extent + float(r.uniform(1.6, 1.8))
        width, height = float(r.uniform(4.0, 9.0)), float(r.uniform(0.55, 0.96))
        lo, hi = sorted((side * edge, side * (edge + width)))
        self.platforms.append(Strip(SIDEWALK, pick_colour(r, "sidewalk", 10), lo, hi, d0, d1, height, "platform"))
        back = edge + width
        lo = max(d0, 4.0)
        hi = max(d1, lo + 1.0)
        for _ in range(int(r.integers(2, 9))):   # most of them toward the near end
            d = float(r.uniform(lo, min(hi, lo + 60.0) if r.random() < 0.6 else hi))
            self.add_human(r, side * (edge + float(r.uniform(1.0, width - 0.5))), d, base=height)
        pole = pick_colour(r, "pole")
        for d in np.arange(d0 + float(r.uniform(3.0, 12.0)), d1, float(r.uniform(12.0, 25.0))):
            self.add("pole", side * (edge + width * 0.65), float(d), base=height, height=float(r.uniform(3.5, 5.0)),
                     width=0.14, colour=pole, arm=-side * 0.8)
        if r.random() < 0.65:
            self.add_building(r, side, back + 0.3, d0 + float(r.uniform(0.0, 30.0)), float(r.uniform(15.0, 60.0)),
                              float(r.uniform(4.0, 10.0)), base=height)
        else:
            self.add_wall(side * back, d0, d1, cls=FENCE, colour=pick_colour(r, "fence"), y0=height,
                          y1=height + float(r.uniform(1.2, 2.0)), pattern=pick(r, ("railing", "planks")))
        self.outer[side] = max(self.outer[side], back + 0.5)

    def add_catenary(self) -> None:
        """Masts with cantilevers (or portals over all tracks) and two wires above every track."""
        rng = self.rng
        parallel = [t.offset for t in self.tracks if t.parallel]
        lo, hi = min(parallel), max(parallel)
        pitch = float(rng.uniform(45.0, 65.0))
        portal = lo < 0 < hi and rng.random() < 0.5
        mast_side = self.side() if hi == lo == 0 else (1 if hi <= -lo else -1)
        colour = pick_colour(rng, "pole")
        lat_r = hi + self.cfg.gauge / 2 + float(rng.uniform(1.8, 2.3))
        lat_l = lo - self.cfg.gauge / 2 - float(rng.uniform(1.8, 2.3))
        arm_y = float(rng.uniform(6.3, 7.0))
        for d in np.arange(-float(rng.uniform(0.0, pitch)), self.length + pitch, pitch):
            d = float(d)
            if not self.free(d, d, platforms=False):
                continue
            if portal:
                self.add("mast", lat_l, d, (lat_l, lat_r), height=arm_y + 0.6, width=0.3, colour=colour,
                         reach=lat_r - lat_l, arm_y=arm_y + 0.3, portal=True)
                self.add("mast", lat_r, d, height=arm_y + 0.6, width=0.3, colour=colour, reach=0.0,
                         arm_y=arm_y, portal=True)
            else:
                lat = lat_r if mast_side > 0 else lat_l
                far = lo - 0.8 if mast_side > 0 else hi + 0.8
                self.add("mast", lat, d, (min(lat, far), max(lat, far)), height=arm_y + 0.8, width=0.25,
                         colour=colour, reach=far - lat, arm_y=arm_y)
        for offset in parallel:
            for y in (5.4, arm_y - 0.2):
                self.add_wire(offset, y)

    def add_signals(self) -> None:
        for d, r in self.along(self.cfg.signals_per_100m, near=(12.0, 50.0)):
            side = 1 if r.random() < 0.7 else -1
            dwarf = r.random() < 0.15
            lit_index = int(r.integers(0, 3))
            self.add("signal", self.track_side_lat(side, r), d, height=0.4 if dwarf else float(r.uniform(3.0, 5.5)),
                     head_w=0.5 if dwarf else float(r.uniform(0.5, 0.65)),
                     head_h=0.75 if dwarf else float(r.uniform(1.3, 1.9)), lamps=2 if dwarf else 3,
                     lit_index=lit_index, lit=PALETTE["lamp"][lit_index],
                     housing=(24, 24, 26) if r.random() < 0.7 else (40, 44, 40), pole=pick_colour(r, "pole"),
                     shift=-side * 0.3, on_top=True, horizontal=False)

    def add_signs(self) -> None:
        for d, r in self.along(self.cfg.signs_per_100m, near=(8.0, 35.0)):
            side = 1 if r.random() < 0.6 else -1
            if self.style == "street tramway":
                lat = side * (self.outer[side] - 1.5)
            else:
                lat = self.track_side_lat(side, r)
            shape = pick(r, ("board", "board", "triangle", "circle", "diamond"))
            rim, face = {
                "board": pick(r, (((235, 235, 230), (30, 30, 30)), ((230, 200, 40), (30, 30, 30)),
                                   ((30, 70, 170), (235, 235, 235)))),
                "triangle": ((200, 30, 30), (238, 238, 232)),
                "circle": pick(r, (((200, 30, 30), (238, 238, 232)), ((30, 70, 170), (40, 90, 190)))),
                "diamond": ((240, 240, 235), (230, 190, 30)),
            }[shape]
            self.add("sign", lat, d, height=float(r.uniform(1.6, 3.2)), size=float(r.uniform(0.6, 1.0)),
                     shape=shape, rim=rim, face=face, pole=pick_colour(r, "pole"))

    def add_bridges(self) -> None:
        for d, r in self.along(0.05, near=(40.0, 160.0), p_near=self.cfg.p_bridge, lo=200.0):
            if not self.free(d - 5, d + 5):
                continue
            deck0 = float(r.uniform(6.6, 7.6))
            self.add("bridge", 0.0, d, (-80.0, 80.0), colour=pick_colour(r, "concrete"),
                     deck=(deck0, deck0 + float(r.uniform(1.0, 2.0))),
                     piers=[-self.outer[-1] - 0.5, self.outer[1] + 0.5], rail=pick_colour(r, "fence"))
