"""Upright things, drawn last from far to near: poles, masts, wires, signals, signs, trees, walls and bridges."""

import math
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from .canvas import Canvas
from .config import CONSTRUCTION, FENCE, ON_RAILS, POLE, TRAFFIC_LIGHT, TRAFFIC_SIGN, VEGETATION
from .draw_objects import draw_human, draw_train_front, draw_train_side, draw_vehicle_end, draw_vehicle_side
from .palette import ellipse, rect, shade
from .world import Prop


def _draw_pole(fr: Canvas, p: Prop) -> None:
    """Lamp post or plain pole, with an optional arm reaching over the road."""
    at = fr.anchor(p)
    if at is None:
        return
    x, z = at
    dt = p.data
    w = fr.thick(dt["width"], z) / 2
    parts = [rect(-w, w, 0.0, dt["height"])]
    arm = dt.get("arm", 0.0)
    if arm:
        t = fr.thick(0.1, z) / 2
        parts.append(rect(min(0.0, arm), max(0.0, arm), dt["height"] - 2 * t, dt["height"]))
        parts.append(rect(arm - 0.25, arm + 0.25, dt["height"] - fr.thick(0.15, z), dt["height"]))
    for uv in parts:
        fr.fill(fr.billboard(x, p.y0, z, uv), POLE, dt["colour"], z)


def _draw_mast(fr: Canvas, p: Prop) -> None:
    """Catenary mast with its cantilever over the tracks (or a portal beam / span wire to another mast)."""
    at = fr.anchor(p)
    if at is None:
        return
    x, z = at
    dt = p.data
    w = fr.thick(dt["width"], z) / 2
    t = fr.thick(0.1, z) / 2
    colour = dt["colour"]
    fr.fill(fr.billboard(x, p.y0, z, rect(-w, w, 0.0, dt["height"])), POLE, colour, z)
    reach = dt["reach"]          # lateral distance the arm spans, signed
    arm_y = dt["arm_y"]
    if dt.get("span_wire"):           # a sagging wire to the opposite mast (street tramway)
        u = np.linspace(0.0, reach, 12)
        sag = 0.6 * (1 - (2 * u / reach - 1) ** 2)
        v = arm_y - sag
        poly = np.concatenate([np.stack([u, v + t], 1), np.stack([u[::-1], v[::-1] - t], 1)])
        fr.fill(fr.billboard(x, p.y0, z, poly), POLE, (40, 40, 40), z)
        return
    tb = fr.thick(0.18 if dt.get("portal") else 0.1, z) / 2
    fr.fill(fr.billboard(x, p.y0, z, rect(min(0.0, reach), max(0.0, reach), arm_y - tb, arm_y + tb)),
            POLE, colour, z)
    if not dt.get("portal"):
        brace = np.array([[0.0, arm_y - 1.4 - t], [reach * 0.7, arm_y - t], [reach * 0.7, arm_y + t],
                          [0.0, arm_y - 1.4 + t]])
        fr.fill(fr.billboard(x, p.y0, z, brace), POLE, colour, z)


def _draw_wire(fr: Canvas, p: Prop) -> None:
    """Contact or messenger wire above a track, labelled pole like its masts."""
    fr.fill(fr.line(p.d, p.d + p.length, p.lat, p.data["y"], 0.02), POLE, p.data["colour"],
            max(p.d - fr.s, 1.0))


def _draw_signal(fr: Canvas, p: Prop) -> None:
    """Signal or traffic light: a pole (pole) carrying a dark head with lamps (traffic-light)."""
    at = fr.anchor(p)
    if at is None:
        return
    x, z = at
    dt = p.data
    w = fr.thick(0.14, z) / 2
    fr.fill(fr.billboard(x, p.y0, z, rect(-w, w, 0.0, dt["height"])), POLE, dt["pole"], z)
    hw, hh, n = dt["head_w"], dt["head_h"], dt["lamps"]
    cu = dt["shift"]
    top = dt["height"] + (hh if dt["on_top"] else 0.0)
    if dt["horizontal"]:   # level-crossing lights: two lamps side by side on a bar
        body = rect(cu - hw * 1.4, cu + hw * 1.4, top - hh * 0.45, top)
        lamps = [ellipse(cu + k * hw * 0.75, top - hh * 0.22, hw * 0.3, hw * 0.3) for k in (-1, 1)]
    else:
        body = np.concatenate([[[cu - hw / 2, top - hh], [cu + hw / 2, top - hh]],   # rounded top
                               ellipse(cu, top - hw / 2, hw / 2, hw / 2)[:9]])
        step = (hh - hw * 0.6) / n
        lamps = [ellipse(cu, top - hw * 0.55 - step * (k + 0.5) + step * 0.1, hw * 0.3, hw * 0.3)
                 for k in range(n)]
    fr.fill(fr.billboard(x, p.y0, z, body), TRAFFIC_LIGHT, dt["housing"], z)
    for k, lamp in enumerate(lamps):
        colour = dt["lit"] if k == dt["lit_index"] else (45, 45, 45)
        fr.paint(fr.billboard(x, p.y0, z, lamp), colour)
    if dt.get("cross"):
        _draw_cross(fr, x, p.y0, z, cu, top + 0.9)


def _draw_cross(fr: Canvas, x: float, y0: float, z: float, cu: float, cv: float) -> None:
    """St Andrew's cross (traffic-sign) of a level crossing."""
    for angle in (0.6, -0.6):
        c, s = math.cos(angle), math.sin(angle)
        bar = rect(-0.65, 0.65, -0.09, 0.09) @ np.array([[c, s], [-s, c]]) + (cu, cv)
        inner = rect(-0.6, 0.6, -0.045, 0.045) @ np.array([[c, s], [-s, c]]) + (cu, cv)
        fr.fill(fr.billboard(x, y0, z, bar), TRAFFIC_SIGN, (200, 30, 30), z)
        fr.paint(fr.billboard(x, y0, z, inner), (235, 235, 235))


def _draw_sign(fr: Canvas, p: Prop) -> None:
    """A sign plate (traffic-sign) on a post (pole)."""
    at = fr.anchor(p)
    if at is None:
        return
    x, z = at
    dt = p.data
    w = fr.thick(0.08, z) / 2
    size, shape, cv = dt["size"], dt["shape"], dt["height"]
    fr.fill(fr.billboard(x, p.y0, z, rect(-w, w, 0.0, cv - size * 0.3)), POLE, dt["pole"], z)
    r = size / 2
    if shape == "triangle":
        outer = np.array([[-r, cv - r * 0.8], [r, cv - r * 0.8], [0.0, cv + r]])
        inner = np.array([[-r * 0.62, cv - r * 0.55], [r * 0.62, cv - r * 0.55], [0.0, cv + r * 0.55]])
    elif shape == "circle":
        outer, inner = ellipse(0.0, cv, r, r), ellipse(0.0, cv, r * 0.72, r * 0.72)
    elif shape == "diamond":
        outer = np.array([[0.0, cv - r], [r, cv], [0.0, cv + r], [-r, cv]])
        inner = (outer - (0.0, cv)) * 0.7 + (0.0, cv)
    else:   # board: speed, whistle or kilometre sign
        outer = rect(-r * 0.7, r * 0.7, cv - r, cv + r)
        inner = rect(-r * 0.25, r * 0.25, cv - r * 0.6, cv + r * 0.6)
    fr.fill(fr.billboard(x, p.y0, z, outer), TRAFFIC_SIGN, dt["rim"], z)
    fr.paint(fr.billboard(x, p.y0, z, inner), dt["face"])


def _draw_tree(fr: Canvas, p: Prop) -> None:
    at = fr.anchor(p)
    if at is None:
        return
    x, z = at
    dt = p.data
    h, r = dt["height"], dt["radius"]
    w = fr.thick(dt["trunk"], z) / 2
    fr.fill(fr.billboard(x, p.y0, z, rect(-w, w, 0.0, h - r)), VEGETATION, dt["trunk_colour"], z)
    if dt["conifer"]:
        k = np.arange(9)
        u = np.where(k % 2 == 0, 1.0, 0.6) * r * (1 - k / 9.0)
        v = (h - 2.2 * r) + k / 8.0 * 2.2 * r
        crown = np.concatenate([np.stack([-u, v], 1), np.stack([u[::-1], v[::-1]], 1)])
    else:
        crown = dt["outline"] * (r, r * 0.9) + (0.0, h - r)
    fr.fill(fr.billboard(x, p.y0, z, crown), VEGETATION, dt["colour"], z)
    if not dt["conifer"]:   # sunlit middle of the crown, inside its outline
        fr.paint(fr.billboard(x, p.y0, z, dt["outline"] * (r * 0.55, r * 0.5) + (0.0, h - r)),
                 shade(dt["colour"], 1.2))


def _draw_bush(fr: Canvas, p: Prop) -> None:
    at = fr.anchor(p)
    if at is None:
        return
    x, z = at
    r = p.data["radius"]
    outline = p.data["outline"] * (r * 1.3, r) + (0.0, r * 0.6)
    outline[:, 1] = np.maximum(outline[:, 1], 0.0)
    fr.fill(fr.billboard(x, p.y0, z, outline), VEGETATION, p.data["colour"], z)



def _wall_outline(fr: Canvas, p: Prop) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """Sample distances and top heights of an upright face along the line; None when out of view."""
    dt = p.data
    bumpy = dt.get("bumps")
    z = fr.zs(max(p.d, fr.s + fr.z_obj), p.d + p.length, int(np.clip(p.length * 1.5, 7, 80)) if bumpy else 0)
    if len(z) < 2:
        return None
    d = z + fr.s
    top = np.full(len(z), dt["y1"], dtype=float)
    if bumpy:
        for amp, freq, phase in bumpy:
            top += amp * np.abs(np.sin(d * freq + phase))
    return z, top


def _draw_wall(fr: Canvas, p: Prop) -> None:
    """A stretch of an upright face along the line: building, fence, hedge, forest edge or train side."""
    outline = _wall_outline(fr, p)
    if outline is None:
        return
    z, top = outline
    dt = p.data
    cls, pattern = dt["cls"], dt.get("pattern", "")
    if pattern == "railing":
        _draw_railing(fr, p, z)
        return
    poly = np.concatenate([fr.project(p.lat, top, z), fr.project(p.lat, np.full(len(z), dt["y0"]), z)[::-1]])
    fr.fill(poly, cls, fr.side(dt["colour"]), float(z.mean()))
    if pattern == "building":
        _draw_windows(fr, p)
    elif pattern == "train":
        draw_train_side(fr, p, z)
    elif pattern == "planks":
        pitch = 0.25
        if fr.cam.f * pitch * abs(p.lat) / max(z[0], 1.0) ** 2 > 3.0:
            da = np.arange(math.ceil(p.d / pitch) * pitch, p.d + p.length, pitch)
            fr.paint(fr.side_quads(p.lat, np.float64(dt["y0"]), np.float64(dt["y1"]), da, da + 0.03),
                     shade(fr.side(dt["colour"]), 0.7))


def _draw_railing(fr: Canvas, p: Prop, z: np.ndarray) -> None:
    """Posts and two rails of an open fence; what is behind shows through."""
    dt = p.data
    colour = fr.side(dt["colour"])
    for y in (dt["y1"], dt["y0"] + (dt["y1"] - dt["y0"]) * 0.45):
        fr.fill(fr.line(p.d, p.d + p.length, p.lat, y, 0.05), FENCE, colour, float(z.mean()))
    zp = np.arange(math.ceil(p.d / 2.5) * 2.5, p.d + p.length, 2.5) - fr.s
    zp = zp[zp > fr.z_obj]
    if len(zp):
        x = fr.world.offset(fr.s, zp) + p.lat
        w = np.maximum(0.08, fr.min_px * zp / fr.cam.f) / 2
        u = np.stack([x - w, x + w, x + w, x - w], 1)
        v = np.stack([np.full(len(zp), dt["y0"]), np.full(len(zp), dt["y0"]),
                      np.full(len(zp), dt["y1"]), np.full(len(zp), dt["y1"])], 1)
        fr.fill(fr.cam.project(u, v, np.repeat(zp[:, None], 4, 1)), FENCE, colour, float(zp.mean()))


def _draw_windows(fr: Canvas, p: Prop) -> None:
    dt = p.data
    pitch, width, base = dt["window_pitch"], dt["window_w"], dt["origin"]
    if fr.cam.f * abs(p.lat) * width < 1.2 * max(p.d - fr.s, fr.z_obj) ** 2:
        return   # windows narrower than a pixel
    k0 = math.ceil((p.d - base) / pitch)
    k1 = math.floor((p.d + p.length - base - width) / pitch)
    if k1 < k0:
        return
    da = base + np.arange(k0, k1 + 1) * pitch
    rows = np.arange(dt["y0"] + 1.0, dt["y1"] - 1.4, 3.0)
    if not len(rows):
        return
    dd, yy = np.meshgrid(da, rows)
    fr.paint(fr.side_quads(p.lat, yy.ravel(), yy.ravel() + 1.4, dd.ravel(), dd.ravel() + width),
             fr.side(dt["glass"]))



def _draw_front(fr: Canvas, p: Prop) -> None:
    """The end face of a building or a train that faces the camera."""
    at = fr.anchor(p)
    if at is None:
        return
    x, z = at
    dt = p.data
    u0, u1 = dt["u0"], dt["u1"]
    cls = dt["cls"]
    if cls == ON_RAILS:
        draw_train_front(fr, p, x, z)
        return
    fr.fill(fr.billboard(x, p.y0, z, rect(u0, u1, dt["y0"], dt["y1"])), cls, fr.front(dt["colour"]), z)
    if dt.get("pattern") == "building" and fr.cam.f * dt["window_w"] > 1.2 * z:
        cols = np.arange(u0 + 1.0, u1 - 1.0, dt["window_pitch"])
        rows = np.arange(dt["y0"] + 1.0, dt["y1"] - 1.4, 3.0)
        quads = [rect(c, c + dt["window_w"], r, r + 1.4) for c in cols for r in rows]
        if quads:
            fr.paint(fr.billboard(x, p.y0, z, np.stack(quads)), fr.front(dt["glass"]))



def _draw_bridge(fr: Canvas, p: Prop) -> None:
    """An overbridge: deck and piers (construction) with a railing (fence) on top."""
    at = fr.anchor(p)
    if at is None:
        return
    x, z = at
    dt = p.data
    deck0, deck1 = dt["deck"]
    colour = fr.front(dt["colour"])
    for pier in dt["piers"]:
        fr.fill(fr.billboard(x, 0.0, z, rect(pier - 0.6, pier + 0.6, 0.0, deck0)), CONSTRUCTION,
                shade(colour, 0.9), z)
    fr.fill(fr.billboard(x, 0.0, z, rect(-80.0, 80.0, deck0, deck1)), CONSTRUCTION, colour, z)
    t = fr.thick(0.06, z) / 2
    fr.fill(fr.billboard(x, 0.0, z, rect(-80.0, 80.0, deck1 + 1.0 - t, deck1 + 1.0 + t)), FENCE,
            dt["rail"], z)
    posts = np.arange(-80.0, 80.0, 2.0)
    w = fr.thick(0.06, z) / 2
    fr.fill(fr.billboard(x, 0.0, z, np.stack([rect(u - w, u + w, deck1, deck1 + 1.0) for u in posts])),
            FENCE, dt["rail"], z)


_DRAWERS: Dict[str, Callable[[Canvas, Prop], None]] = {
    "pole": _draw_pole, "mast": _draw_mast, "wire": _draw_wire, "signal": _draw_signal, "sign": _draw_sign,
    "tree": _draw_tree, "bush": _draw_bush, "human": draw_human, "vehicle_side": draw_vehicle_side,
    "vehicle_end": draw_vehicle_end, "wall": _draw_wall, "front": _draw_front, "bridge": _draw_bridge,
}


_MERGE_Z = 40.0  # beyond this, consecutive pieces of one wall are drawn as one (fewer calls, same look)


def _visible_props(fr: Canvas) -> List[Prop]:
    """Props in view; far pieces of the same wall merged into one."""
    out: List[Prop] = []
    start, end = fr.world.prop_range[:, 0] - fr.s, fr.world.prop_range[:, 1] - fr.s
    for i in np.flatnonzero((end >= fr.z_obj) & (start <= fr.far)):
        p = fr.world.props[i]
        z0 = start[i]
        if not p.length and fr.cam.f * p.data.get("height", 2.0) < fr.min_object_px * z0:
            continue    # too small to recognise: neither drawn nor labelled
        last = out[-1] if out else None
        if (p.kind in ("wall", "wire") and z0 > _MERGE_Z and last is not None and last.data is p.data
                and last.d - fr.s > _MERGE_Z and abs(last.d + last.length - p.d) < 1e-6):
            out[-1] = Prop(p.kind, p.lat, last.d, p.lat_span, last.length + p.length, p.y0, p.data)
        else:
            out.append(p)
    return out


def draw_props(fr: Canvas) -> List[Prop]:
    """Upright things from far to near, by the distance of their nearest point to the camera.

    Returns the props in view; prop ``i`` of them draws as instance ``i + 1`` (see ``Canvas.instances``)."""
    props = _visible_props(fr)
    order = []
    for i, p in enumerate(props):
        lo, hi = p.lat_span
        lat = 0.0 if lo <= 0.0 <= hi else min(abs(lo), abs(hi))
        order.append((-math.hypot(lat, max(p.d - fr.s, fr.z_obj)), i))
    order.sort()
    for _, i in order:
        p = props[i]
        fr.instance = i + 1
        _DRAWERS[p.kind](fr, p)
    fr.instance = 0
    return props
