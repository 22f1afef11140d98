"""Rendering: scenes, drives and dataset frames from seeds, each drawn from the ground up and finished."""

import math
from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple

import numpy as np

from ..errors import RailSegError
from .builder import build_world
from .canvas import Canvas
from .config import MIN_SIZE, SceneConfig
from .draw_ground import draw_sky_and_ground, draw_skyline, draw_strips, draw_tracks
from .draw_props import draw_props
from .finish import finish_image
from .world import Prop, SceneCamera, World


def check_size(height: int, width: int) -> None:
    if int(height) < MIN_SIZE or int(width) < MIN_SIZE:
        raise RailSegError(f"frame size {height}x{width} is too small; both sides must be at least {MIN_SIZE} px")


def shake(world: World, cfg: SceneConfig, index: int) -> Tuple[float, float]:
    """Pitch and roll wobble (radians) of frame ``index`` of a drive; zero on the first frame, so a scene
    and the first frame of its drive are the same picture."""
    amp = math.radians(cfg.shake_deg)
    ph = world.camera.shake_phase
    pitch = 0.5 * amp * (math.sin(0.9 * index + ph[0]) - math.sin(ph[0]))
    roll = amp * (math.sin(0.7 * index + ph[1]) - math.sin(ph[1]))
    return pitch, roll


@dataclass
class Scene:
    """One rendered frame and what made it: the world, the camera and where along the line it stood."""

    image: np.ndarray                  # H x W x 3 uint8 RGB
    labels: np.ndarray                 # H x W uint8 RailSem19 ids
    world: World
    camera: SceneCamera
    s: float                           # the camera's distance along the line (metres)
    config: SceneConfig
    props: List[Prop]                  # the upright things in view, in instance order
    instances: Optional[np.ndarray]    # H x W int32: 1 + index in ``props`` of what drew each pixel, 0 ground


def render_frame(world: World, cfg: SceneConfig, height: int, width: int, index: int,
                 rng: np.random.Generator, instances: bool = False) -> Scene:
    """Frame ``index`` of a drive; ``instances`` also keeps the map of which prop drew each pixel."""
    fr = Canvas(world, SceneCamera(height, width, world.camera, *shake(world, cfg, index)), index * world.speed, cfg,
                instances)
    draw_sky_and_ground(fr)
    draw_skyline(fr)
    draw_strips(fr, world.strips)
    draw_tracks(fr)
    draw_strips(fr, world.platforms)
    props = draw_props(fr)
    return Scene(finish_image(fr, rng), fr.lab, world, fr.cam, fr.s, cfg, props, fr.instances)


def _check_seed(seed: int) -> None:
    if seed < 0:
        raise RailSegError(f"seed must not be negative, got {seed}")


def _drive(n: int, height: int, width: int, seed: int, config: Optional[SceneConfig],
           instances: bool) -> Iterator[Scene]:
    check_size(height, width)
    if n < 0:
        raise RailSegError(f"number of frames must not be negative, got {n}")
    _check_seed(seed)
    cfg = config or SceneConfig()
    world = build_world(np.random.default_rng([seed, 0]), cfg, n)
    for i in range(n):
        yield render_frame(world, cfg, height, width, i, np.random.default_rng([seed, 1, i]), instances)


def render_sequence(n: int, height: int, width: int, seed: int,
                    config: Optional[SceneConfig] = None) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """``n`` consecutive frames of one drive: the camera moves along the track, the scene comes closer.

    Yields (HxWx3 uint8 RGB image, HxW uint8 RailSem19 ids). The same arguments give the same frames.
    """
    for scene in _drive(n, height, width, seed, config, instances=False):
        yield scene.image, scene.labels


def render_scene(height: int, width: int, seed: int,
                 config: Optional[SceneConfig] = None) -> Tuple[np.ndarray, np.ndarray]:
    """One scene: (HxWx3 uint8 RGB image, HxW uint8 RailSem19 ids), the same for the same seed.

    Every pixel gets one of the 19 classes; the label is the class of what was drawn last there.
    """
    return next(render_sequence(1, height, width, seed, config))


def make_scene(height: int, width: int, seed: int, config: Optional[SceneConfig] = None) -> Scene:
    """The scene ``render_scene`` draws for these arguments, with its world and camera (for ground truth)."""
    return next(_drive(1, height, width, seed, config, instances=True))


def frame_seed(seed: int, index: int) -> int:
    """The ``render_scene`` seed of frame ``index`` of a dataset written with ``seed`` (not sequence)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint32)[0])


def iter_scenes(n: int, height: int, width: int, seed: int, sequence: bool = False,
                config: Optional[SceneConfig] = None, instances: bool = True) -> Iterator[Scene]:
    """``n`` scenes: one drive (``sequence``) or independent scenes with seeds ``frame_seed(seed, i)``."""
    if sequence:
        yield from _drive(n, height, width, seed, config, instances)
        return
    check_size(height, width)
    _check_seed(seed)
    for i in range(n):
        yield next(_drive(1, height, width, frame_seed(seed, i), config, instances))


def iter_frames(n: int, height: int, width: int, seed: int, sequence: bool = False,
                config: Optional[SceneConfig] = None) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """``n`` (image, labels) frames: one drive (``sequence``) or independent scenes (see ``iter_scenes``)."""
    for scene in iter_scenes(n, height, width, seed, sequence, config, instances=False):
        yield scene.image, scene.labels
