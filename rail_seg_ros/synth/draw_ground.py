"""Ground layers, drawn first: sky and terrain, the skyline, ground bands (roads, platforms) and the tracks."""

import math
from typing import Callable, List, Sequence, Tuple

import cv2
import numpy as np

from .canvas import Canvas
from .config import CONSTRUCTION, RAIL_EMBEDDED, RAIL_RAISED, RAIL_TRACK, RGB, ROAD, TERRAIN, TRACKBED, TRAM_TRACK
from .palette import rect, shade
from .world import Strip, Track

# height of the centre line of a rail's labelled body above the ground: raised on ballast, or set into a road
RAISED_RAIL_Y = 0.1
EMBEDDED_RAIL_Y = 0.0


def draw_sky_and_ground(fr: Canvas) -> None:
    """Sky gradient above the horizon, terrain below it; ground depth for haze."""
    look, cam = fr.world.look, fr.cam
    rows = cam.unrotated_rows()
    small = cv2.resize(rows, (max(cam.width // 8, 2), max(cam.height // 8, 2)), interpolation=cv2.INTER_AREA)
    t = np.clip(small / max(cam.horizon, 1.0), 0.0, 1.0)[..., None] ** 1.6
    sky = (look.sky_top + (look.sky_horizon - look.sky_top) * t).astype(np.float32)
    fr.img[:] = cv2.resize(sky, (cam.width, cam.height), interpolation=cv2.INTER_LINEAR).astype(np.uint8)
    below = rows - cam.horizon
    fr.depth[:] = np.where(below > 0.5, cam.f * cam.cam_height / np.maximum(below, 0.5), 0.0)
    w, h = cam.width, cam.height
    ground = np.array([[-2 * w, cam.horizon], [3 * w, cam.horizon], [3 * w, 4 * h], [-2 * w, 4 * h]], float)
    fr.fill(cam.rotate(ground[:, 0], ground[:, 1]), TERRAIN, fr.world.track_look["terrain"])


def draw_skyline(fr: Canvas) -> None:
    """Distant tree line or town along the horizon; it pans as the line curves."""
    angles, heights, cls, colour = fr.world.skyline
    cam = fr.cam
    u = cam.cx + cam.f * (angles - (fr.world.heading(fr.s) - fr.world.heading(0.0)))
    top = cam.horizon - cam.f * heights
    bottom = np.full(len(u), cam.horizon + 1.5)
    poly = np.concatenate([cam.rotate(u, top), cam.rotate(u[::-1], bottom)])
    fr.fill(poly, cls, colour, 700.0)


def draw_strips(fr: Canvas, strips: Sequence[Strip]) -> None:
    for strip in strips:
        poly = fr.band(strip.d0, strip.d1, strip.lat0, strip.lat1, strip.height)
        fr.fill(poly, strip.cls, strip.colour)
        if poly is None:
            continue
        if strip.pattern == "lanes":
            _draw_lane_marks(fr, strip)
        elif strip.pattern == "tiles":   # a light kerb stone along the road edge
            edge, other = sorted((strip.lat0, strip.lat1), key=abs)
            inward = 0.25 if other > edge else -0.25
            fr.paint(fr.band(strip.d0, strip.d1, edge, edge + inward, strip.height), shade(strip.colour, 1.18))
        elif strip.pattern == "platform":
            _draw_platform_edge(fr, strip)


def _draw_lane_marks(fr: Canvas, strip: Strip) -> None:
    d0 = max(strip.d0, fr.s)
    start = math.floor(d0 / 9.0) * 9.0
    da = np.arange(start, min(strip.d1, fr.s + fr.far * 0.5), 9.0)
    for lat in strip.marks:
        fr.paint(fr.ground_quads(np.float64(lat - 0.08), np.float64(lat + 0.08), da, da + 3.0), (215, 215, 210))


def _draw_platform_edge(fr: Canvas, strip: Strip) -> None:
    """Platform edge face (construction) toward the track, and the white safety line on top."""
    inner = strip.lat0 if abs(strip.lat0) < abs(strip.lat1) else strip.lat1
    sign = 1.0 if inner > 0 else -1.0
    z = fr.zs(strip.d0, strip.d1)
    if len(z) >= 2:
        face = np.concatenate([fr.project(inner, strip.height, z), fr.project(inner, 0.0, z)[::-1]])
        fr.fill(face, CONSTRUCTION, fr.side(fr.world.track_look["platform_face"]))
        line = fr.band(strip.d0, strip.d1, inner + sign * 0.55, inner + sign * 0.7, strip.height)
        fr.paint(line, (235, 235, 228))
    z0 = strip.d0 - fr.s
    if fr.z_obj < z0 < fr.far:   # the platform's near end
        uv = rect(min(strip.lat0, strip.lat1), max(strip.lat0, strip.lat1), 0.0, strip.height)
        x = float(fr.world.offset(fr.s, np.asarray(z0)))
        fr.fill(fr.billboard(x, 0.0, z0, uv), CONSTRUCTION, fr.front(fr.world.track_look["platform_face"]), z0)


def draw_tracks(fr: Canvas) -> None:
    """Trackbed, track area, sleepers, crossings and rails, in that order, for all tracks."""
    world, tl = fr.world, fr.world.track_look
    ballast = [t for t in world.tracks if not t.embedded]
    embedded = [t for t in world.tracks if t.embedded]
    for t in ballast:
        fr.fill(fr.band(t.d_start, t.d_end, _plus(t, -tl["bed_half"]), _plus(t, tl["bed_half"])),
                TRACKBED, tl["ballast"])
    parallel = [t.offset for t in ballast if t.parallel]
    if len(parallel) > 1:   # ballast runs on between neighbouring tracks
        fr.fill(fr.band(-1e9, 1e9, min(parallel), max(parallel)), TRACKBED, tl["ballast"])
    for t in ballast:
        fr.fill(fr.band(t.d_start, t.d_end, _plus(t, -tl["sleeper_half"]), _plus(t, tl["sleeper_half"])),
                RAIL_TRACK, tl["track_far"])
        _draw_sleepers(fr, t)
    for d0, d1, colour in world.crossings:
        fr.fill(fr.band(d0, d1, -60.0, 60.0), ROAD, colour)
    for t in embedded:
        fr.fill(fr.band(t.d_start, t.d_end, _plus(t, -tl["tram_half"]), _plus(t, tl["tram_half"])),
                TRAM_TRACK, tl["tram_paving"])
        _draw_tram_joints(fr, t)
    for t in world.tracks:
        _draw_rails(fr, t)


def _plus(track: Track, delta: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda d: track.lateral(d) + delta


def _draw_sleepers(fr: Canvas, track: Track) -> None:
    """Sleepers near the camera over a ballast-coloured base; farther on the track area is their blend."""
    tl = fr.world.track_look
    pitch, half = 0.6, tl["sleeper_half"]
    # beyond this distance sleepers are closer than ~2 px on screen and the blended colour stands in
    z_max = min(math.sqrt(fr.cam.f * fr.cam.cam_height * pitch / fr.min_px), fr.far)
    d0, d1 = max(track.d_start, fr.s + fr.z_ground), min(track.d_end, fr.s + z_max)
    if d1 <= d0:
        return
    fr.paint(fr.band(d0, d1, _plus(track, -half), _plus(track, half)), tl["ballast_dark"])
    da = np.arange(math.ceil(d0 / pitch) * pitch, d1 - 0.25, pitch)
    lat = track.lateral(da + 0.13)
    fr.paint(fr.ground_quads(lat - half + 0.05, lat + half - 0.05, da, da + 0.26, 0.02), tl["sleeper"])


def _draw_tram_joints(fr: Canvas, track: Track) -> None:
    """Joints between the paving slabs of a tram track, drawn only where they are several pixels apart."""
    tl = fr.world.track_look
    d1 = min(track.d_end, fr.s + 30.0)
    d0 = max(track.d_start, fr.s + fr.z_ground)
    if d1 <= d0:
        return
    da = np.arange(math.ceil(d0 / 1.5) * 1.5, d1, 1.5)
    lat = track.lateral(da)
    fr.paint(fr.ground_quads(lat - tl["tram_half"], lat + tl["tram_half"], da, da + 0.06),
             shade(tl["tram_paving"], 0.75))


def _draw_rails(fr: Canvas, track: Track) -> None:
    """Two rails: raised on ballast, embedded in a road or through a level crossing."""
    tl, g = fr.world.track_look, fr.world.track_look["gauge"]
    pieces = split_by_crossings(track.d_start, track.d_end, fr.world.crossings)
    for d0, d1, in_crossing in pieces:
        embedded = track.embedded or in_crossing
        cls = RAIL_EMBEDDED if embedded else RAIL_RAISED
        body, head = (tl["groove"], tl["head_embedded"]) if embedded else (tl["rail_side"], tl["rail_head"])
        width = 0.12 if embedded else 0.16
        for side in (-1, 1):
            lat = _plus(track, side * g / 2)
            fr.fill(fr.line(d0, d1, lat, EMBEDDED_RAIL_Y if embedded else RAISED_RAIL_Y, width), cls, body)
            fr.paint(fr.line(d0, d1, _plus(track, side * (g / 2 - 0.02)), 0.02 if embedded else 0.17, 0.055,
                             fr.min_px * 0.4), head)


def split_by_crossings(d0: float, d1: float,
                        crossings: Sequence[Tuple[float, float, RGB]]) -> List[Tuple[float, float, bool]]:
    pieces, start = [], d0
    for c0, c1, _ in sorted(crossings):
        if c1 <= start or c0 >= d1:
            continue
        if c0 > start:
            pieces.append((start, c0, False))
        pieces.append((max(c0, start), min(c1, d1), True))
        start = min(c1, d1)
    if start < d1:
        pieces.append((start, d1, False))
    return pieces
