"""What every part of the scene builder shares: the drive's random streams, its layout so far, and ``add``."""

from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np

from .config import RGB, Range, SceneConfig
from .palette import pick_colour, shade, uniform
from .world import Prop, Strip, Track


class LayoutBase:
    """The layout of one drive so far and the helpers that add to it (see :class:`.builder.Builder`)."""

    def __init__(self, rng: np.random.Generator, cfg: SceneConfig, length: float) -> None:
        self.rng, self.cfg, self.length = rng, cfg, length
        self.reach = length + 400.0          # crossings are laid out this far, so walls stop at the same places
        self.tracks: List[Track] = []
        self.strips: List[Strip] = []
        self.platforms: List[Strip] = []
        self.crossings: List[Tuple[float, float, RGB]] = []
        self.props: List[Prop] = []
        self.outer = {-1: 0.0, 1: 0.0}      # how far the railway (or street) reaches on each side
        self.spacing = uniform(rng, cfg.track_spacing)
        self.tl = self._track_look()
        self.style = ""
        self.objects: Dict[int, int] = {}    # people, vehicles and trains, for ground truth: id -> class id

    # -- helpers
    def _track_look(self) -> Dict[str, Any]:
        rng = self.rng
        ballast = pick_colour(rng, "ballast", 10)
        sleeper = pick_colour(rng, "sleeper", 8)
        blend = tuple(0.55 * b + 0.45 * s for b, s in zip(ballast, sleeper))
        return {
            "gauge": self.cfg.gauge, "sleeper_half": 1.3, "bed_half": 1.3 + float(rng.uniform(0.8, 1.4)),
            "tram_half": self.cfg.gauge / 2 + 0.4, "ballast": ballast, "ballast_dark": shade(ballast, 0.85),
            "sleeper": sleeper, "track_far": blend, "rail_side": pick_colour(rng, "rail_side", 8),
            "rail_head": pick_colour(rng, "rail_head", 8), "groove": (34, 32, 32), "head_embedded": pick_colour(rng, "rail_head", 8),
            "tram_paving": pick_colour(rng, "tram_paving", 8),
            "terrain": pick_colour(rng, "grass" if rng.random() < 0.7 else "dry", 10),
            "platform_face": pick_colour(rng, "concrete", 8),
        }

    def stream(self) -> np.random.Generator:
        """A generator of its own for something repeated along the line (one draw from ``rng``)."""
        return np.random.default_rng(int(self.rng.integers(1 << 62)))

    def along(self, per_100m: float, near: Range, p_near: Optional[float] = None, lo: float = 2.0,
              end: Optional[float] = None) -> Iterator[Tuple[float, np.random.Generator]]:
        """Distances along the line, each with the generator to draw its details from: often one
        within ``near`` (so single scenes show it close up), then a Poisson scatter up to ``end``."""
        r = self.stream()
        if r.random() < (self.cfg.p_near if p_near is None else p_near):
            yield uniform(r, near), r
        if per_100m <= 0:
            return
        d, end = lo, self.length if end is None else end
        while True:
            d += float(r.exponential(100.0 / per_100m))
            if d >= end:
                return
            yield d, r

    def free(self, d0: float, d1: float, platforms: bool = True) -> bool:
        """Whether no level crossing, cross street (or platform) lies in or near [d0, d1]."""
        return (all(d1 < c0 - 3 or d0 > c1 + 3 for c0, c1, _ in self.crossings)
                and (not platforms or all(d1 < p.d0 - 3 or d0 > p.d1 + 3 for p in self.platforms)))

    def base_at(self, lat: float, d: float) -> float:
        """Ground height under a point: the platform top where a platform is, else the rails' level."""
        for p in self.platforms:
            if p.d0 <= d <= p.d1 and min(p.lat0, p.lat1) <= lat <= max(p.lat0, p.lat1):
                return p.height
        return 0.0

    def runs(self, d0: float, d1: float) -> List[Tuple[float, float]]:
        """[d0, d1] with the crossings cut out (fences and walls stop at them)."""
        out, start = [], d0
        for c0, c1, _ in sorted(self.crossings):
            if c1 < start or c0 > d1:
                continue
            if c0 - 2 > start:
                out.append((start, c0 - 2))
            start = c1 + 2
        if start < d1:
            out.append((start, d1))
        return out

    def side(self, r: Optional[np.random.Generator] = None) -> int:
        return 1 if (r or self.rng).random() < 0.5 else -1

    def track_side_lat(self, side: int, r: np.random.Generator) -> float:
        """Just outside the railway on ``side`` (signals, signs, masts)."""
        extent = max([abs(t.offset) for t in self.tracks if t.offset * side > 0] + [0.0])
        return side * (extent + self.cfg.gauge / 2 + float(r.uniform(1.6, 2.4)))

    def new_object(self, cls: int) -> int:
        """An id for one person, vehicle or train (its props carry it as ``object_id``); draws nothing random."""
        self.objects[len(self.objects) + 1] = cls
        return len(self.objects)

    def add(self, kind: str, lat: float, d: float, span: Optional[Tuple[float, float]] = None,
            length: float = 0.0, base: Optional[float] = None, **data: Any) -> None:
        """An upright thing; it stands on the platform where one is (unless ``base`` says otherwise)."""
        base = self.base_at(lat, d) if base is None else base
        self.props.append(Prop(kind, lat, d, span or (lat, lat), length, base, data))

    def add_wall(self, lat: float, d0: float, d1: float, seg: float = 4.0, **data: Any) -> None:
        """A face along the line, stopping at crossings (see ``add_pieces``)."""
        for a, b in self.runs(d0, d1):
            self.add_pieces("wall", lat, a, b, seg, data)

    def add_pieces(self, kind: str, lat: float, d0: float, d1: float, seg: float, data: Dict[str, Any]) -> None:
        """Something long along the line, cut into short pieces so the far-to-near order stays right."""
        edges = np.append(np.arange(d0, d1, seg), d1)
        for e0, e1 in zip(edges[:-1], edges[1:]):
            if e1 - e0 > 1e-3:
                self.props.append(Prop(kind, lat, float(e0), (lat, lat), float(e1 - e0), 0.0, data))

    def add_wire(self, lat: float, y: float) -> None:
        self.add_pieces("wire", lat, -20.0, self.length + 20.0, 5.0, {"y": y, "colour": (48, 46, 44)})
