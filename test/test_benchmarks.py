"""The benchmark script runs end to end (figures are not checked: speed is not asserted in tests)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import ros_domain

from rail_seg_ros.contract import NODE_STAGES, Stage

ROOT = Path(__file__).resolve().parents[1]


def test_speed_script_measures_every_engine_and_the_pipeline(tmp_path):
    out = tmp_path / "speed.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "speed.py"), "--models", "squeezenas_mac_small",
         "--size", "128x256", "--outputs", "network,135x240", "--frames", "128x256,135x240", "--runs", "2",
         "--warmup", "1", "--settle", "0", "--no-node", "--json", str(out)],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(out.read_text())
    rows = figures["model_only"]
    engines = ("torch eager", "ort fp32 full", "ort fp32 sparse", "ort int8 sparse")
    assert [r["labels"] for r in rows] == ["128x256", "135x240"]
    assert all(r["size"] == [128, 256] and all(r[name] > 0 for name in engines) for r in rows)
    assert all(0.0 <= r["mixed"] <= 1.0 and 0.0 <= r["int8_agree"] <= 1.0 for r in rows)
    assert [p["frame"] for p in figures["pipeline"]] == [[128, 256], [135, 240]]
    assert all(p["pipeline_ms"] > 0 and p["model_ms"] > 0 and p["stages_ms"] for p in figures["pipeline"])
    assert "fps ratio" in done.stdout and "sprs/trch" in done.stdout and figures["node"] is None


def test_speed_script_reports_the_node_stage_times(tmp_path):
    out = tmp_path / "speed.json"
    env = dict(os.environ, ROS_DOMAIN_ID=str(ros_domain(73)), ROS_LOCALHOST_ONLY="1",
               ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "speed.py"), "--models", "squeezenas_mac_small",
         "--size", "128x256", "--outputs", "network", "--frames", "128x256", "--runs", "1", "--warmup", "0",
         "--settle", "0", "--int8-skip", "squeezenas_mac_small", "--node-frames", "3", "--json", str(out)],
        capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    node = json.loads(out.read_text())["node"]
    # every stage but track ahead, which is off without a camera height (track.mode auto)
    assert set(node) == set(NODE_STAGES) - {Stage.TRACK} and all(ms >= 0 for ms in node.values())
    assert "node stage times" in done.stdout


def test_label_sizes_script_measures_png_against_raw_mono8(tmp_path):
    out = tmp_path / "sizes.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "label_sizes.py"), "--scenes", "1",
                           "--repeats", "1", "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = list(json.loads(out.read_text()).values())
    assert [r["size"] for r in rows] == ["512x288", "1920x1080", "1920x1080"]
    assert rows[0]["frames"] == 30 and rows[2]["frames"] == 1
    assert all(0 < r["png_bytes_mean"] < r["raw_bytes"] and r["encode_ms_mean"] > 0 for r in rows)
