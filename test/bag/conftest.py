"""Fixtures of the bag tests."""

from pathlib import Path
from typing import Dict

import pytest
from conftest import make_frames

from rail_seg_ros import bag


@pytest.fixture()
def small_bags(tmp_path: Path) -> Dict[str, Path]:
    return {
        storage: bag.write_frames_bag(tmp_path / storage, make_frames(3), storage=storage, compressed=True,
                                      camera_info=True, progress=False)
        for storage in bag.STORAGES
    }
