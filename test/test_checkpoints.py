"""Checkpoint formats users bring, and every way loading one can fail."""

import pickle

import numpy as np
import pytest
import torch
from conftest import shared_path

from rail_seg_ros.checkpoints import load_weights, read_checkpoint
from rail_seg_ros.errors import RailSegError
from rail_seg_ros.nets import build_model


@pytest.fixture(scope="module")
def state():
    torch.manual_seed(1)
    return build_model("squeezenas_mac_small", 19).state_dict()


def _same(model, state) -> bool:
    return all(torch.equal(model.state_dict()[k], v) for k, v in state.items())


def test_plain_state_dict(tmp_path, state):
    path = tmp_path / "plain.pth"
    torch.save(state, path)
    assert _same(load_weights(build_model("squeezenas_mac_small"), path), state)


def test_training_dict_with_numpy_scalars_and_module_prefix(tmp_path, state):
    """Like the public RailSem19 fine-tune: {'epoch', 'model_state_dict', 'optimizer_state_dict', 'loss', 'acc'}."""
    path = tmp_path / "train.pth"
    torch.save({"epoch": np.int64(12), "model_state_dict": {"module." + k: v for k, v in state.items()},
                "optimizer_state_dict": {"state": {}, "param_groups": [{"lr": 0.001}]},
                "loss": np.float64(0.25), "acc": np.float32(0.9)}, path)
    assert _same(load_weights(build_model("squeezenas_mac_small"), path), state)


def test_state_dict_key(tmp_path, state):
    path = tmp_path / "sd.pth"
    torch.save({"state_dict": state, "epoch": 3}, path)
    assert _same(load_weights(build_model("squeezenas_mac_small"), path), state)


def test_fp16_checkpoint_is_cast(tmp_path, state):
    path = tmp_path / "half.pth"
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in state.items()}, path)
    model = load_weights(build_model("squeezenas_mac_small"), path)
    assert model.state_dict()["decoder._1x1_TR.weight"].dtype == torch.float32


def test_public_checkpoints_load_strictly():
    for size in ("lat_small", "mac_small"):
        load_weights(build_model(f"squeezenas_{size}"), shared_path("squeezenas", "weights", f"{size}.pth"))


def test_missing_file(tmp_path):
    with pytest.raises(RailSegError, match="no such file"):
        read_checkpoint(tmp_path / "nope.pth")


def test_corrupt_file(tmp_path):
    path = tmp_path / "corrupt.pth"
    path.write_bytes(b"PK\x03\x04 this is not a checkpoint")
    with pytest.raises(RailSegError, match="not a readable PyTorch checkpoint"):
        read_checkpoint(path)


def test_truncated_file(tmp_path, state):
    path = tmp_path / "cut.pth"
    torch.save(state, path)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(RailSegError, match=str(path)):
        read_checkpoint(path)


class Payload:
    def __reduce__(self):
        return (print, ("arbitrary code ran",))


def test_arbitrary_objects_are_refused(tmp_path, state):
    path = tmp_path / "evil.pth"
    torch.save({"model_state_dict": state, "extra": Payload()}, path, pickle_module=pickle)
    with pytest.raises(RailSegError, match="refused to unpickle"):
        read_checkpoint(path)


def test_not_a_state_dict(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([1, 2, 3], path)
    with pytest.raises(RailSegError, match="holds no state_dict"):
        read_checkpoint(path)


def test_checkpoint_of_another_architecture_lists_the_keys(tmp_path, state):
    path = tmp_path / "mac.pth"
    torch.save(state, path)
    with pytest.raises(RailSegError) as info:
        load_weights(build_model("squeezenas_lat_small"), path)
    message = str(info.value)
    assert "does not fit squeezenas_lat_small" in message and "\n" not in message
    assert "mis-shaped: " in message and "missing: " in message and "unexpected: " in message


def test_other_class_count_is_mis_shaped(tmp_path):
    path = tmp_path / "five.pth"
    torch.save(build_model("squeezenas_mac_small", 5).state_dict(), path)
    with pytest.raises(RailSegError, match=r"decoder._1x1_TR.weight \(5, 128, 1, 1\) != \(19, 128, 1, 1\)"):
        load_weights(build_model("squeezenas_mac_small", 19), path)


def test_non_strict_ignores_missing_and_unexpected(tmp_path, state):
    path = tmp_path / "partial.pth"
    partial = {k: v for k, v in state.items() if not k.startswith("decoder.")}
    partial["extra.weight"] = torch.zeros(1)
    torch.save(partial, path)
    with pytest.raises(RailSegError, match="missing"):
        load_weights(build_model("squeezenas_mac_small"), path)
    load_weights(build_model("squeezenas_mac_small"), path, strict=False)
