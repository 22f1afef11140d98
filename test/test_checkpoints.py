"""Checkpoint formats users bring, and every way loading one can fail."""

import pickle
import zipfile

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


# ---- checkpoints saved with numpy 1.x (the public squeezenas_train RailSem19 fine-tunes) ----------------

NUMPY2_MODULE = b"numpy._core.multiarray"
NUMPY1_MODULE = b"numpy.core.multiarray"


def save_as_numpy1(obj, path):
    """torch.save ``obj``, then make its pickle name numpy 1.x's module paths, as numpy 1.x writes them.

    The pickle's GLOBAL opcodes are newline-terminated text, so renaming a module keeps the stream valid;
    every other zip member is copied as it is. Works whichever numpy this test runs under.
    """
    staged = path.with_name(path.name + ".staged")
    torch.save(obj, staged)
    with zipfile.ZipFile(staged) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("/data.pkl"):
                data = data.replace(NUMPY2_MODULE, NUMPY1_MODULE)
                assert NUMPY1_MODULE + b"\nscalar" in data and NUMPY2_MODULE not in data
            target.writestr(info, data)
    staged.unlink()


def training_dict(state):
    """The squeezenas_train layout: numpy scalars and a numpy dtype next to the weights."""
    return {"epoch": np.int64(40), "model_state_dict": {"module." + k: v for k, v in state.items()},
            "optimizer_state_dict": {"state": {}, "param_groups": [{"lr": np.float64(1e-4)}]},
            "loss": np.float64(0.31), "acc": np.float32(0.88), "miou": np.float16(0.6),
            "dtype": np.dtype("float32")}


def test_numpy1_training_dict_loads_strictly(tmp_path, state):
    path = tmp_path / "railsem19_numpy1.pth"
    save_as_numpy1(training_dict(state), path)
    assert _same(load_weights(build_model("squeezenas_mac_small"), path), state)


def test_numpy1_training_dict_segments(tmp_path, state):
    """A card naming a numpy-1 checkpoint builds a Segmenter (torch, weights_only) and segments a frame."""
    from rail_seg_ros.pipeline import Segmenter

    path = tmp_path / "railsem19_numpy1.pth"
    save_as_numpy1(training_dict(state), path)
    card = tmp_path / "rs19.yaml"
    card.write_text(f"architecture: squeezenas_mac_small\nlabel_set: railsem19\ninput_size: [64, 128]\n"
                    f"color_order: bgr\nweights: {path.name}\n")
    segmenter = Segmenter.from_options(str(card), backend="torch", device="cpu")
    frame = np.random.default_rng(0).integers(0, 256, (90, 160, 3), dtype=np.uint8)
    labels = segmenter.process(frame).labels
    assert labels.shape == (90, 160) and labels.max() < 19


def test_numpy1_pickle_still_refuses_callables(tmp_path, state):
    """Allowing numpy 1.x's scalar path allows nothing more: a numpy 1.x path to a function is refused."""
    path = tmp_path / "evil_numpy1.pth"
    torch.save({"model_state_dict": state, "loss": np.float64(1.0)}, path)
    rewritten = tmp_path / "evil.pth"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(rewritten, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("/data.pkl"):  # same length, another numpy 1.x callable
                data = data.replace(NUMPY2_MODULE + b"\nscalar", b"numpy.core.multiarray\n_reconstruct")
            target.writestr(info, data)
    with pytest.raises(RailSegError, match=r"refused to unpickle .*numpy\.core\.multiarray\._reconstruct"):
        read_checkpoint(rewritten)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused(tmp_path, state, bad):
    path = tmp_path / "diverged.pth"
    broken = dict(state)
    key = "decoder._1x1_TR.weight"
    broken[key] = broken[key].clone()
    broken[key].view(-1)[3] = bad
    torch.save(broken, path)
    with pytest.raises(RailSegError, match=r"NaN or infinite values in decoder\._1x1_TR\.weight"):
        load_weights(build_model("squeezenas_mac_small"), path)


def test_weights_path_that_is_a_folder(tmp_path):
    with pytest.raises(RailSegError, match="is a folder, not a checkpoint file"):
        read_checkpoint(tmp_path)
