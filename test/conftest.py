"""Shared test fixtures: the public SqueezeNAS fixtures from ../shared (tests skip where it is absent),
and small random-weight model cards that run fast on a CPU."""

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

# DDS stays on this machine in every test that starts a participant (each module sets its own domain).
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_LOCALHOST_ONLY", "1")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FIXTURES = SHARED / "fixtures"
SQUEEZENAS = FIXTURES / "squeezenas"


def shared_path(*parts: str) -> Path:
    path = FIXTURES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared fixtures are not beside this checkout)")
    return path


@pytest.fixture(scope="session")
def reference_input() -> np.ndarray:
    """The reference 1024x2048 input as RGB."""
    bgr = cv2.imread(str(shared_path("squeezenas", "reference", "input_structured_1024x2048.png")))
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One engine cache for the session: each graph is exported once."""
    return tmp_path_factory.mktemp("engine-cache")


def write_small_card(directory: Path, architecture: str = "squeezenas_mac_small", label_set: str = "railsem19",
                     size=(128, 256), seed: int = 0, resize: str = "stretch") -> Path:
    """A card with seeded random weights at a small input size: fast, and needs nothing from ../shared."""
    from rail_seg_ros.nets import build_model

    torch.manual_seed(seed)
    model = build_model(architecture, 19)
    for module in model.modules():  # fresh BN statistics make every pixel one class; these do not
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_var.fill_(0.05)
    weights = directory / f"{architecture}-{seed}.pt"
    torch.save(model.state_dict(), weights)
    card = directory / f"{architecture}-{seed}.yaml"
    card.write_text(
        f"architecture: {architecture}\nlabel_set: {label_set}\ninput_size: [{size[0]}, {size[1]}]\n"
        f"resize: {resize}\nweights: {weights.name}\n")
    return card


@pytest.fixture(scope="session")
def small_card(tmp_path_factory) -> Path:
    return write_small_card(tmp_path_factory.mktemp("card"))
