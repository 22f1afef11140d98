"""rail_seg_ros.contract: the node's interface defined once, ROS-free, and everything else agreeing with it.

The README tables, config/segment.yaml (test_node.py), the codec's encodings and the package's sources
are checked against it here.
"""

import ast
import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path
from typing import Dict, List

import pytest

from rail_seg_ros import contract
from rail_seg_ros.contract import (
    DIAGNOSTICS,
    NODE_NAME,
    NODE_STAGES,
    OUTPUTS,
    PARAMETERS,
    PARAMETERS_BY_NAME,
    PRIVATE,
    REASONS,
    REJECT_REASONS,
    Diag,
    join_name,
    output_topics,
    rejected_key,
    stage_key,
    status_name,
)
from rail_seg_ros.errors import FrameError, RailSegError
from rail_seg_ros.image_codec import ENCODINGS

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"


def test_the_contract_loads_without_ros_or_torch():
    code = ("import sys, rail_seg_ros.contract, rail_seg_ros.errors; "
            "print(sorted({'rclpy', 'torch'} & set(sys.modules)))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_outputs_encodings_and_their_parameters():
    names = [o.name for o in OUTPUTS]
    assert len(set(names)) == len(names) == 4
    for output in OUTPUTS:
        assert output.encoding in ENCODINGS
        assert PARAMETERS_BY_NAME[output.parameter].default in (True, False)
    assert contract.RECORDED_OUTPUTS == tuple(o.name for o in OUTPUTS if PARAMETERS_BY_NAME[o.parameter].default)


def test_names_and_topics():
    assert join_name("front", NODE_NAME) == f"/front/{NODE_NAME}" == join_name("/front/", f"/{NODE_NAME}")
    assert join_name("/", NODE_NAME) == join_name("", NODE_NAME) == f"/{NODE_NAME}"
    assert output_topics("/front")[contract.OUTPUT_LABELS] == f"/front/{NODE_NAME}/{contract.OUTPUT_LABELS}"
    assert status_name(join_name("front", NODE_NAME)) == f"front/{NODE_NAME}: segmentation"
    assert status_name(join_name("/", NODE_NAME)) == f"{NODE_NAME}: segmentation"
    assert contract.input_topic(True) == contract.INPUT_COMPRESSED and contract.input_topic(False) == "image"


def test_parameter_table():
    assert len(PARAMETERS_BY_NAME) == len(PARAMETERS)
    for param in PARAMETERS:
        assert param.check(param.default) is None, param.name
        assert param.description.endswith("."), param.name
    assert "not allowed" in PARAMETERS_BY_NAME["backend"].check("nope")
    assert "out of range" in PARAMETERS_BY_NAME["overlay_alpha"].check(1.5)
    assert "not allowed" in PARAMETERS_BY_NAME["warmup_frames"].check(True)  # a bool is no integer
    assert PARAMETERS_BY_NAME["device"].check("cuda:1") is None and PARAMETERS_BY_NAME["device"].check("gpu")


def test_a_frame_error_carries_a_reason_of_the_contract():
    assert {FrameError("x", reason).reason for reason in REASONS} == set(REASONS)
    assert isinstance(FrameError("x", contract.Reject.BAD_SIZE), RailSegError)
    with pytest.raises(ValueError, match="not a reject reason"):
        FrameError("x", "Image step 3 is smaller")  # a text, not a reason
    assert {v for k, v in vars(contract.Reject).items() if k.isupper()} == set(REASONS)


# ---- the README's tables are the contract's ----------------------------------------------------------

def readme_table(header: str) -> List[List[str]]:
    """The rows (cells stripped) of the README table whose header row starts with ``header``."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def yaml_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return '""' if value == "" else str(value)


def test_readme_parameter_table_is_the_contract():
    rows = readme_table("| parameter | default |")
    expected = [[f"`{p.name}`", f"`{yaml_text(p.default)}`", p.allowed, "yes" if p.runtime else "", p.description]
                for p in PARAMETERS]
    assert rows == expected


def test_readme_outputs_are_the_contract():
    rows = {row[0]: row for row in readme_table("| topic | type |")}
    images = {name for name, row in rows.items() if name.startswith(f"`{PRIVATE}") and row[1].startswith("Image")}
    assert images == {f"`{PRIVATE}{o.name}`" for o in OUTPUTS}
    for output in OUTPUTS:
        row = rows[f"`{PRIVATE}{output.name}`"]
        assert row[1] == f"Image {output.encoding}" and f"`{output.parameter}`" in row[2]
    assert f"`{PRIVATE}{contract.CAMERA_INFO_OUTPUT}`" in rows and f"`{contract.DIAGNOSTICS_TOPIC}`" in rows
    assert f"`{contract.INPUT_IMAGE}` (in)" in rows and f"`{contract.INPUT_COMPRESSED}` (in)" in rows


def test_readme_track_outputs_and_status_are_the_contract():
    rows = {row[0]: row for row in readme_table("| topic | type |")}
    for output in contract.TRACK_OUTPUTS:
        assert rows[f"`{PRIVATE}{output.name}`"][1:] == [output.msg_type, output.description]
    assert [[f"`{key}`", text] for key, text in contract.TRACK_STATUS_VALUES] == readme_table("| status key | value |")
    keys = {v for k, v in vars(contract.TrackStatusKey).items() if k.isupper()}
    assert keys == {key for key, _ in contract.TRACK_STATUS_VALUES}


def test_track_parameter_defaults_are_the_stages():
    from rail_seg_ros.track import config

    defaults = {p.name: p.default for p in PARAMETERS}
    assert defaults["track.gauge"] == config.STANDARD_GAUGE_M
    assert defaults["track.envelope_half_width"] == config.ENVELOPE_HALF_WIDTH_M
    assert defaults["track.envelope_height"] == config.ENVELOPE_HEIGHT_M
    assert defaults["track.obstacle_classes"] == ",".join(config.DEFAULT_OBSTACLES)
    stage = config.TrackConfig()
    assert (defaults["track.min_obstacle_pixels"], defaults["track.any_obstacle"], defaults["track.refine_pitch"]) == (
        stage.min_obstacle_pixels, stage.any_obstacle, stage.refine_pitch)


def test_readme_diagnostics_and_reasons_are_the_contract():
    assert [[f"`{key}`", text] for key, text in DIAGNOSTICS] == readme_table("| key | value |")
    assert [[f"`{key}`", text] for key, text in REJECT_REASONS] == readme_table("| reason | frames |")
    keys = {v for k, v in vars(Diag).items() if k.isupper()}
    assert keys | {rejected_key("<reason>"), stage_key("<stage>")} == {key for key, _ in DIAGNOSTICS}


# ---- nobody else spells them out ---------------------------------------------------------------------

def string_literals(path: Path) -> Dict[str, List[int]]:
    """Every plain string literal of a Python file (f-strings' text parts left out) -> its lines."""
    found: Dict[str, List[int]] = {}
    for token in tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline):
        if token.type == tokenize.STRING:
            try:
                value = ast.literal_eval(token.string)
            except (SyntaxError, ValueError):  # an f-string
                continue
            if isinstance(value, str):
                found.setdefault(value, []).append(token.start[0])
    return found


def test_the_node_contract_is_spelled_out_in_contract_py_only():
    """The node name, its output topics, stage keys, reject keys and its own diagnostics keys."""
    distinctive = {NODE_NAME, NODE_NAME + "/", join_name(NODE_NAME) + "/", status_name("")}
    distinctive |= {PRIVATE + name for name in [o.name for o in OUTPUTS] + [contract.CAMERA_INFO_OUTPUT]}
    distinctive |= {stage_key(stage) for stage in NODE_STAGES} | {rejected_key(r) for r in REASONS}
    distinctive |= {Diag.INPUT_RATE, Diag.OUTPUT_RATE, Diag.RECEIVED, Diag.PUBLISHED, Diag.LATENCY_P95,
                    Diag.LAST_ERROR, rejected_key("")}
    stages = set(NODE_STAGES)  # in the package only: tests time other things with the same words
    copies = []
    for folder in ("rail_seg_ros", "test", "launch", "examples", "benchmarks"):
        for path in sorted((REPO / folder).rglob("*.py")):
            if path.name == "contract.py":
                continue
            for value, lines in string_literals(path).items():
                if value in distinctive or (folder == "rail_seg_ros" and value in stages):
                    copies.append(f"{path.relative_to(REPO)}:{lines[0]} {value!r}")
    assert copies == []


def test_no_reject_reason_is_derived_from_message_text():
    node = (REPO / "rail_seg_ros" / "node.py").read_text(encoding="utf-8")
    assert ".reason" in node and not re.search(r"in text|str\(exc\)\.startswith|text\.startswith", node)
