"""bench.node_process: the parameters file and command line of the node the live bench starts."""

from pathlib import Path

import pytest
import yaml

from rail_seg_ros import bench
from rail_seg_ros.contract import NODE_NAME, PARAMETERS_BY_NAME, TRANSPORT_COMPRESSED
from rail_seg_ros.errors import RailSegError


def test_params_file_holds_the_contract_parameters(tmp_path, small_card):
    values = bench.spawn_parameters(str(small_card), None, "torch", "fp32", "cpu", str(tmp_path / "cache"), None,
                                    compressed=True)
    path = bench.write_params_file(values)
    try:
        params = yaml.safe_load(path.read_text())["/**"]["ros__parameters"]
    finally:
        path.unlink()
    assert set(params) <= set(PARAMETERS_BY_NAME)
    assert params["model"] == str(Path(small_card).resolve()) and params["weights"] == ""
    assert params["input_transport"] == TRANSPORT_COMPRESSED
    assert not {name for name in params if "qos" in name}  # the node's default QoS, as a user's node has
    assert params["engine_cache_dir"] == str((tmp_path / "cache").resolve())
    assert bench.spawn_parameters("rail_default", None, "auto", "fp32", "auto", None, None, False)["model"] == \
        "rail_default"  # a card name is passed on as it is


def test_params_file_refuses_what_the_node_would_refuse():
    with pytest.raises(RailSegError, match=f"no_such is not a parameter of {NODE_NAME}"):
        bench.write_params_file({"no_such": 1})
    with pytest.raises(RailSegError, match="device 'gpu' is not allowed"):
        bench.write_params_file({"device": "gpu"})


def test_node_command_line(tmp_path):
    command = bench.node_command("front", NODE_NAME, tmp_path / "p.yaml", ["publish_overlay:=false"])
    assert command[1:4] == ["-m", "rail_seg_ros.node", "--ros-args"]
    assert "__ns:=/front" in command and f"__node:={NODE_NAME}" in command
    assert command[-2:] == ["-p", "publish_overlay:=false"] and str(tmp_path / "p.yaml") in command
    with pytest.raises(RailSegError, match="expected NAME:=VALUE"):
        bench.node_command("front", NODE_NAME, tmp_path / "p.yaml", ["publish_overlay=false"])
