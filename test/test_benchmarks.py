"""The benchmark script runs end to end (figures are not checked: speed is not asserted in tests)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_speed_script_measures_every_engine_and_the_pipeline(tmp_path):
    out = tmp_path / "speed.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "speed.py"), "--models", "squeezenas_mac_small",
         "--sizes", "128x256", "--pipeline-size", "128x256", "--frames", "128x256,135x240", "--runs", "2",
         "--warmup", "1", "--settle", "0", "--json", str(out)],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(out.read_text())
    (row,) = figures["model_only"]
    engines = ("torch eager", "torch channels_last", "onnxruntime fp32", "onnxruntime int8")
    assert row["size"] == [128, 256] and all(row[name] > 0 for name in engines)
    assert [p["frame"] for p in figures["pipeline"]] == [[128, 256], [135, 240]]
    assert all(p["pipeline_ms"] > 0 and p["model_ms"] > 0 for p in figures["pipeline"])
    assert "fps ratio" in done.stdout and "ort/torch" in done.stdout
