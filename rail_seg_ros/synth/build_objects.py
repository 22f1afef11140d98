"""People, road vehicles and trains: the things the track-ahead stage calls obstacles."""

from typing import Dict, Optional, Sequence

import numpy as np

from .build_base import LayoutBase
from .config import CAR, HUMAN, ON_RAILS, TRUCK
from .palette import pick, pick_colour, uniform
from .world import Track


class ObjectLayout(LayoutBase):
    """Places people, cars, trucks and trains."""

    def add_vehicle_side(self, r: np.random.Generator, side: int, edge: float, d: float) -> float:
        """A car or truck waiting at a level crossing, side on; returns the room it takes."""
        truck = r.random() < self.cfg.truck_share
        length = float(r.uniform(8.0, 14.0)) if truck else float(r.uniform(3.9, 4.8))
        centre = side * (edge + length / 2)
        cls = TRUCK if truck else CAR
        self.add("vehicle_side", centre, d, (centre - length / 2, centre + length / 2), cls=cls,
                 object_id=self.new_object(cls), vlength=length, flip=-side, colour=pick_colour(r, "vehicle"), box=pick_colour(r, "truck_box"))
        return length + float(r.uniform(1.0, 4.0))

    def add_human(self, r: np.random.Generator, lat: float, d: float, base: Optional[float] = None) -> None:
        # drab: dressed like the ground they stand on, which a network reads as ground; the draw is made
        # only when asked for, so the default scenes stay as they were
        drab = self.cfg.p_drab_clothes > 0 and r.random() < self.cfg.p_drab_clothes
        top = pick_colour(r, "drab" if drab else "clothes", 10)
        self.add("human", lat, d, (lat - 0.3, lat + 0.3), base=base, object_id=self.new_object(HUMAN), height=float(r.uniform(1.55, 1.9)),
                 stride=float(r.uniform(0.0, 0.18)), top=top, legs=pick_colour(r, "drab" if drab else "trousers", 10),
                 skin=pick_colour(r, "skin", 8), hair=pick(r, ((30, 24, 20), (90, 60, 30), (160, 150, 140), top)))

    def add_trackside_people(self) -> None:
        for d, r in self.along(self.cfg.people_per_100m * 0.5, near=(8.0, 45.0), p_near=0.45):
            side = self.side(r)
            self.add_human(r, side * (self.outer[side] + float(r.uniform(0.3, 3.0))), d)

    def add_trains(self, tracks: Sequence[Track], tram_style: bool) -> None:
        """Trains (or trams) standing on ``tracks``: their sides along the line, their fronts when in view."""
        if not tracks:
            return
        taken: Dict[float, float] = {}
        for d0, r in self.along(0.12, near=(-40.0, 60.0), p_near=self.cfg.p_train, lo=60.0):
            track = pick(r, tracks)
            length = float(r.uniform(25.0, 45.0)) if tram_style else float(r.uniform(40.0, 220.0))
            if d0 > taken.get(track.offset, -1e9) + 15:
                self.add_train(r, track, d0, length, tram_style)
                taken[track.offset] = d0 + length

    def add_train(self, r: np.random.Generator, track: Track, d0: float, length: float, tram_style: bool) -> None:
        half = 1.3 if tram_style else 1.45
        face = track.offset - np.sign(track.offset) * half
        freight = not tram_style and r.random() < 0.3
        colour = pick_colour(r, "truck_box" if freight else "train", 10)
        stripe = pick_colour(r, "train", 10) if r.random() < 0.6 and not freight else None
        y1 = 3.6 if tram_style else float(r.uniform(3.8, 4.2))
        common = dict(cls=ON_RAILS, colour=colour, y0=0.45 if tram_style else 0.9, y1=y1, stripe=stripe,
                      object_id=self.new_object(ON_RAILS))
        self.add_wall(face, d0, d0 + length, seg=5.0, pattern="train", car_length=float(r.uniform(14.0, 26.0)),
                      origin=d0, windows=not freight, **common)
        self.add("front", track.offset, d0, (track.offset - half, track.offset + half), u0=-half, u1=half,
                 headlights=r.random() < 0.6, **common)

    def add_train_ahead(self, tram_style: bool) -> None:
        rng = self.rng
        half = 1.3 if tram_style else 1.45
        self.add("front", 0.0, float(rng.uniform(40.0, 180.0)), (-half, half), cls=ON_RAILS,
                 object_id=self.new_object(ON_RAILS), colour=pick_colour(rng, "train", 10), u0=-half, u1=half, y0=0.45 if tram_style else 0.9, y1=3.9,
                 stripe=None, headlights=False)

    def add_lane_traffic(self, lat: float, oncoming: bool) -> None:
        for d, r in self.along(self.cfg.cars_per_100m * 0.5, near=(8.0, 50.0), p_near=0.5):
            self.add_vehicle_end(r, lat, d, oncoming, anywhere=False)

    def add_vehicle_end(self, r: np.random.Generator, lat: float, d: float, oncoming: bool, anywhere: bool) -> None:
        """A car or truck seen from behind (or the front); not on a crossing or platform unless ``anywhere``."""
        truck = r.random() < self.cfg.truck_share
        width = 2.5 if truck else float(r.uniform(1.7, 1.9))
        colour, box = pick_colour(r, "vehicle"), pick_colour(r, "truck_box")
        if anywhere or self.free(d, d):
            cls = TRUCK if truck else CAR
            self.add("vehicle_end", lat, d, (lat - width / 2, lat + width / 2), cls=cls,
                     object_id=self.new_object(cls), colour=colour, box=box, width=width, oncoming=oncoming)

    def add_track_obstacle(self) -> None:
        """Maybe a person or a road vehicle standing on the ego track ahead (``SceneConfig.p_track_obstacle``)."""
        r = self.stream()
        if r.random() >= self.cfg.p_track_obstacle:
            return
        d = uniform(r, self.cfg.track_obstacle_range)
        if r.random() < 0.6:
            self.add_human(r, float(r.uniform(-1.2, 1.2)), d)
        else:
            self.add_vehicle_end(r, float(r.uniform(-0.6, 0.6)), d, oncoming=r.random() < 0.5, anywhere=True)
