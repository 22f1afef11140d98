"""The Jetson target runs Python 3.8 (JetPack 5): every shipped source file must parse and run there."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["rail_seg_ros", "launch", "benchmarks", "examples", "setup.py"]


def _vermin() -> str:
    found = shutil.which("vermin") or str(Path(sys.executable).with_name("vermin"))
    if not Path(found).exists():
        pytest.skip("vermin is not installed (it is in requirements.txt)")
    return found


def test_sources_need_no_more_than_python_3_8():
    paths = [str(ROOT / p) for p in SOURCES if (ROOT / p).exists()]
    result = subprocess.run([_vermin(), "-t=3.8-", "--no-tips", "--violations", "--eval-annotations",
                             "--no-parse-comments", *paths], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_vermin_catches_newer_syntax(tmp_path):
    """The check above can fail: a 3.10 match statement is reported."""
    sample = tmp_path / "new.py"
    sample.write_text("def f(x):\n    match x:\n        case 1:\n            return 2\n")
    result = subprocess.run([_vermin(), "-t=3.8-", "--no-tips", "--violations", str(sample)],
                            capture_output=True, text=True)
    assert result.returncode != 0
