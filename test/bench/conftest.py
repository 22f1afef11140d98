"""Fixtures of the bench tests: a DDS domain per test, a small bag of frames, the live command line."""

import os
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import pytest
from conftest import random_frames, ros_domain

from rail_seg_ros import bag


@pytest.fixture()
def dds(monkeypatch):
    """Pick a ROS domain of the test's own; DDS on localhost only."""
    def use(domain: int) -> Dict[str, str]:
        monkeypatch.setenv("ROS_DOMAIN_ID", str(ros_domain(domain)))
        monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
        monkeypatch.setenv("ROS_LOCALHOST_ONLY", "1")
        return dict(os.environ)
    return use


@pytest.fixture(scope="module")
def frames_bag(tmp_path_factory) -> Tuple[Path, list]:
    frames = random_frames(4, seed=1)
    path = bag.write_frames_bag(tmp_path_factory.mktemp("bags") / "drive", frames, fps=10.0, progress=False)
    return path, frames


@pytest.fixture()
def live_args() -> Callable[..., List[str]]:
    """live_args(bag, card, out, *extra): the arguments of a live ``rail-seg bench`` on the CPU."""
    def make(path: Path, card: Path, out: Path, *extra) -> List[str]:
        return ["bench", str(path), "--model", str(card), "--backend", "torch", "--device", "cpu", "--mode",
                "live", "--out", str(out), "--no-progress", *[str(e) for e in extra]]
    return make
