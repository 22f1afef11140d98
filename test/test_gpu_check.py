"""benchmarks/gpu_check.py: the parts that run without a GPU (agreement, table, files, the no-CUDA stop)."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def load_gpu_check():
    sys.path.insert(0, str(ROOT / "benchmarks"))  # it imports speed.py beside it
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_agreement_and_the_fp16_verdict():
    gpu_check = load_gpu_check()
    reference = np.zeros((4, 50), np.uint8)
    labels = reference.copy()
    labels[0, :2] = 3
    assert gpu_check.label_agreement(labels, reference) == pytest.approx(0.99)
    assert gpu_check.label_agreement(reference, reference) == 1.0
    with pytest.raises(ValueError, match="shape"):
        gpu_check.label_agreement(labels[:2], reference)
    assert gpu_check.fp16_check(0.996) == "ok"
    assert gpu_check.fp16_check(0.99).startswith("below 99.5")
    assert gpu_check.fp16_check(None) == ""


def test_json_and_markdown_table(tmp_path):
    gpu_check = load_gpu_check()
    rows = [{"model": "fast_scnn", "size": "1024x2048", "engine": "torch eager", "precision": "fp16", "ms": 3.25,
             "fps": 307.7, "agreement_vs_fp32": 0.99871, "note": "ok"},
            {"model": "fast_scnn", "size": "1024x2048", "engine": "tensorrt", "precision": "fp16", "ms": None,
             "fps": None, "agreement_vs_fp32": None, "note": "failed: x"}]
    written = gpu_check.write_results(rows, {"gpu": "test"}, tmp_path / "check")
    assert [p.name for p in written] == ["check.json", "check.md"]
    assert json.loads(written[0].read_text())["rows"] == rows
    table = written[1].read_text().splitlines()
    assert "- gpu: test" in table
    body = [line for line in table if line.startswith("| fast_scnn")]
    assert len(body) == 2 and "| 3.25 |" in body[0] and "99.871 %" in body[0] and "failed: x" in body[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["check.json", "check.md"]  # nothing half-written left


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is here: the check would run")
def test_without_cuda_it_stops_with_one_line(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--out", str(tmp_path / "x")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "CUDA is not available" in done.stderr
    assert not list(tmp_path.iterdir())
