"""Things that move and can stand in the way: people, cars, trucks and trains (sides and fronts)."""

import math
from typing import List

import numpy as np

from .canvas import Canvas
from .config import CAR, HUMAN, ON_RAILS
from .palette import ellipse, rect, shade
from .world import Prop


def draw_human(fr: Canvas, p: Prop) -> None:
    """A standing person: legs, torso, arms and head, all labelled human."""
    at = fr.anchor(p)
    if at is None:
        return
    x, z = at
    dt = p.data
    k = dt["height"] / 1.75
    spread = dt["stride"]
    leg = fr.thick(0.15 * k, z)
    arm = fr.thick(0.09 * k, z)
    parts = [
        (np.array([[-spread - leg, 0.0], [-spread, 0.0], [0.0, 0.88], [-leg, 0.88]]) * (1, k), dt["legs"]),
        (np.array([[spread, 0.0], [spread + leg, 0.0], [leg, 0.88], [0.0, 0.88]]) * (1, k), dt["legs"]),
        (np.array([[-0.2, 0.86], [0.2, 0.86], [0.22, 1.45], [-0.22, 1.45]]) * k, dt["top"]),
        (np.array([[-0.22 - arm, 0.9 * k], [-0.22, 0.9 * k], [-0.21, 1.42 * k], [-0.21 - arm, 1.42 * k]]),
         dt["top"]),
        (np.array([[0.22, 0.9 * k], [0.22 + arm, 0.9 * k], [0.21 + arm, 1.42 * k], [0.21, 1.42 * k]]),
         dt["top"]),
        (ellipse(0.0, 1.6 * k, 0.11 * k, 0.13 * k), dt["skin"]),
    ]
    for uv, colour in parts:
        fr.fill(fr.billboard(x, p.y0, z, uv), HUMAN, colour, z)
    fr.paint(fr.billboard(x, p.y0, z, ellipse(0.0, 1.665 * k, 0.085 * k, 0.055 * k)), dt["hair"])


def draw_vehicle_side(fr: Canvas, p: Prop) -> None:
    """A car or truck seen from the side, on a road crossing the line."""
    at = fr.anchor(p)
    if at is None:
        return
    x, z = at
    dt = p.data
    flip = dt["flip"]
    cls = dt["cls"]
    if cls == CAR:
        length = dt["vlength"]
        hl = length / 2
        body = np.array([[-hl, 0.3], [hl, 0.3], [hl + 0.05, 0.85], [hl * 0.5, 0.95], [hl * 0.25, 1.45],
                         [-hl * 0.55, 1.45], [-hl * 0.75, 0.95], [-hl - 0.05, 0.9]])
        window = np.array([[hl * 0.38, 1.0], [hl * 0.2, 1.38], [-hl * 0.5, 1.38], [-hl * 0.65, 1.0]])
        wheels = [(-hl * 0.62, 0.32), (hl * 0.62, 0.32)]
        shapes = [(body, dt["colour"])]
        details = [(window, (40, 48, 58))]
    else:
        length = dt["vlength"]
        box_end = length / 2 - 2.3
        body = rect(-length / 2, box_end, 1.0, 3.8)
        cab = np.array([[box_end + 0.15, 0.9], [length / 2, 0.9], [length / 2, 2.3], [length / 2 - 0.5, 3.3],
                        [box_end + 0.15, 3.3]])
        chassis = rect(-length / 2 + 0.3, length / 2 - 0.2, 0.55, 1.05)
        window = np.array([[length / 2 - 0.15, 2.3], [length / 2 - 0.6, 3.1], [box_end + 0.9, 3.1],
                           [box_end + 0.9, 2.3]])
        wheels = [(-length / 2 + 1.2, 0.5), (-length / 2 + 2.3, 0.5), (box_end + 1.1, 0.5)]
        shapes = [(chassis, (40, 40, 42)), (body, dt["box"]), (cab, dt["colour"])]
        details = [(window, (40, 48, 58))]
    radius = 0.32 if cls == CAR else 0.5
    shapes += [(ellipse(u, v, radius, radius), (25, 25, 25)) for u, v in wheels]
    for uv, colour in shapes:
        fr.fill(fr.billboard(x, p.y0, z, uv * (flip, 1)), cls, fr.front(colour), z)
    for uv, colour in details:
        fr.paint(fr.billboard(x, p.y0, z, uv * (flip, 1)), colour)


def draw_vehicle_end(fr: Canvas, p: Prop) -> None:
    """A car or truck seen from behind (or the front, when oncoming), on a road along the line."""
    at = fr.anchor(p)
    if at is None:
        return
    x, z = at
    dt = p.data
    cls, colour, oncoming = dt["cls"], dt["colour"], dt["oncoming"]
    lights = (250, 250, 225) if oncoming else (210, 30, 30)
    if cls == CAR:
        hw = dt["width"] / 2
        shapes = [(rect(-hw, hw, 0.3, 0.95), colour), (np.array([[-hw * 0.9, 0.95], [hw * 0.9, 0.95],
                                                                   [hw * 0.75, 1.45], [-hw * 0.75, 1.45]]), colour),
                  (rect(-hw * 0.95, -hw * 0.55, 0.05, 0.35), (25, 25, 25)),
                  (rect(hw * 0.55, hw * 0.95, 0.05, 0.35), (25, 25, 25))]
        details = [(np.array([[-hw * 0.78, 1.0], [hw * 0.78, 1.0], [hw * 0.66, 1.38], [-hw * 0.66, 1.38]]),
                    (40, 48, 58)),
                   (rect(-hw * 0.95, -hw * 0.7, 0.7, 0.85), lights), (rect(hw * 0.7, hw * 0.95, 0.7, 0.85), lights)]
    else:
        hw = 1.25
        shapes = [(rect(-hw * 0.9, hw * 0.9, 0.1, 1.0), (35, 35, 38)), (rect(-hw, hw, 0.9, 3.7), dt["box"])]
        details = [(rect(-hw * 0.9, -hw * 0.7, 0.95, 1.15), lights), (rect(hw * 0.7, hw * 0.9, 0.95, 1.15), lights)]
        if oncoming:
            details.append((rect(-hw * 0.85, hw * 0.85, 2.2, 3.0), (40, 48, 58)))
    for uv, c in shapes:
        fr.fill(fr.billboard(x, p.y0, z, uv), cls, fr.front(c), z)
    for uv, c in details:
        fr.paint(fr.billboard(x, p.y0, z, uv), c)



def draw_train_side(fr: Canvas, p: Prop, z: np.ndarray) -> None:
    """Windows (or a freight wagon's ribs), the gaps between cars and, labelled, the bogies below the body.

    Details are laid out along the whole train and clipped to this piece of it.
    """
    dt = p.data
    lo, hi = p.d, p.d + p.length

    def quads(ya: float, yb: float, da: np.ndarray, db: np.ndarray) -> List[np.ndarray]:
        da, db = np.clip(da, lo, hi), np.clip(db, lo, hi)
        keep = db - da > 1e-3
        return fr.side_quads(p.lat, np.float64(ya), np.float64(yb), da[keep], db[keep])

    def grid(pitch: float, width: float) -> np.ndarray:
        first = math.floor((lo - width - dt["origin"]) / pitch)
        return dt["origin"] + np.arange(first, math.ceil((hi - dt["origin"]) / pitch) + 1) * pitch

    ends = grid(dt["car_length"], 0.5)
    if dt["windows"]:
        da = grid(2.2, 1.6) + 0.2
        fr.paint(quads(2.0, 2.9, da, da + 1.4), (38, 44, 52))
    elif fr.cam.f * abs(p.lat) * 0.7 > 3.0 * max(lo - fr.s, fr.z_obj) ** 2:   # ribs, where they are apart
        da = grid(0.7, 0.12)
        fr.paint(quads(dt["y0"] + 0.1, dt["y1"] - 0.1, da, da + 0.12), shade(fr.side(dt["colour"]), 0.75))
    fr.paint(quads(dt["y0"], dt["y1"], ends - 0.3, ends + 0.3), (30, 30, 30))
    if dt["stripe"] is not None:
        fr.paint(np.concatenate([fr.project(p.lat, 1.55, z), fr.project(p.lat, 1.35, z)[::-1]]),
                 fr.side(dt["stripe"]))
    bogies = np.concatenate([ends + 1.2, ends - 3.7])
    fr.fill(quads(0.15, dt["y0"] + 0.05, bogies, bogies + 2.5), ON_RAILS, (35, 35, 36), float(z.mean()))



def draw_train_front(fr: Canvas, p: Prop, x: float, z: float) -> None:
    dt = p.data
    u0, u1, y0, y1 = dt["u0"], dt["u1"], dt["y0"], dt["y1"]
    cu, hw = (u0 + u1) / 2, (u1 - u0) / 2
    body = np.array([[u0, y0], [u1, y0], [u1, y1 - 0.5], [cu + hw * 0.7, y1], [cu - hw * 0.7, y1], [u0, y1 - 0.5]])
    fr.fill(fr.billboard(x, p.y0, z, body), ON_RAILS, fr.front(dt["colour"]), z)
    fr.fill(fr.billboard(x, p.y0, z, rect(cu - hw * 0.8, cu + hw * 0.8, 0.15, y0 + 0.05)), ON_RAILS,
            (35, 35, 36), z)
    glass = np.array([[u0 + 0.25, y1 - 1.5], [u1 - 0.25, y1 - 1.5], [u1 - 0.35, y1 - 0.5],
                      [u0 + 0.35, y1 - 0.5]])
    fr.paint(fr.billboard(x, p.y0, z, glass), (40, 48, 58))
    lights = (250, 245, 220) if dt["headlights"] else (200, 30, 30)
    for c in (u0 + 0.45, u1 - 0.45):
        fr.paint(fr.billboard(x, p.y0, z, ellipse(c, y0 + 0.5, 0.16, 0.16)), lights)
    if dt["stripe"] is not None:
        fr.paint(fr.billboard(x, p.y0, z, rect(u0, u1, 1.35, 1.55)), fr.front(dt["stripe"]))
