"""rail-seg models: the published parameter and GigaMAC figures, at any input size."""

import json

import pytest
from conftest import rail_seg

from rail_seg_ros.cli import main


@pytest.mark.needs_torch
def test_models_table_matches_the_published_figures():
    result = rail_seg("models", "--input-size", "1024x2048", "--json")
    assert result.returncode == 0, result.stderr
    rows = {r["architecture"]: r for r in json.loads(result.stdout)["architectures"]}
    assert rows["squeezenas_lat_small"]["params"] == 465_774
    assert rows["squeezenas_lat_small"]["gmacs"] == pytest.approx(4.465, rel=0.005)
    assert rows["fast_scnn"]["params"] == 1_138_051
    assert rows["fast_scnn"]["gmacs"] == pytest.approx(6.708, rel=0.005)
    assert rows["lraspp_mobilenet_v3_large"]["params"] == 3_221_198  # 19 classes; torchvision lists 3,221,538 at 21
    assert rows["unet"]["params"] > 30_000_000  # the paper's widths
    assert len(rows) == 12 and all(r["unavailable"] is None for r in rows.values())


@pytest.mark.needs_torch
def test_models_at_another_size_scales_the_macs(capsys):
    assert main(["models", "--input-size", "512x1024", "--json"]) == 0
    rows = {r["architecture"]: r for r in json.loads(capsys.readouterr().out)["architectures"]}
    assert rows["squeezenas_mac_small"]["gmacs"] == pytest.approx(3.008 / 4, rel=0.01)
