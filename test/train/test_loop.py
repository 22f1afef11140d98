"""The training run: Fast-SCNN with OHEM, aux, batch 1 and amp on a CPU; exact resume; refused resume."""

import argparse
from dataclasses import replace

import pytest
import torch

from rail_seg_ros.commands import train as train_cmd
from rail_seg_ros.errors import RailSegError
from rail_seg_ros.model_card import build_network, load_card
from rail_seg_ros.train.loop import train

from .conftest import SIZE, read_log, tiny_config


def test_fast_scnn_ohem_aux_batch_of_one_and_amp_on_cpu(pairs_root, tmp_path):
    config = tiny_config(f"pairs:{pairs_root}", tmp_path / "fs", model="fast_scnn", epochs=1, batch=1,
                         amp=True, val_fraction=0.8)  # 2 training frames, batches of one
    assert (config.loss, config.aux, config.aux_weight, config.ohem_thresh) == ("ohem", True, 0.4, 0.7)
    result = train(config, progress=False, verbose=False)
    assert len(result.step_lrs) == 2
    assert any("--amp" in w for w in result.warnings)
    assert any("batch of 1" in w for w in result.warnings)
    state = torch.load(str(result.best_path), map_location="cpu", weights_only=True)
    assert not [k for k in state if k.startswith("auxlayer.")]  # the card builds the network without aux
    build_network(load_card(str(result.card_path)))
    last = torch.load(str(result.last_path), map_location="cpu", weights_only=True)
    assert any(k.startswith("auxlayer.") for k in last["model"])


def test_resume_follows_the_uninterrupted_run_exactly(pairs_root, tmp_path):
    config = tiny_config(f"pairs:{pairs_root}", tmp_path / "whole", schedule="poly", lr=0.01)
    whole = train(config, progress=False, verbose=False)
    parted = replace(config, out=str(tmp_path / "parted"))
    first = train(parted, progress=False, verbose=False, stop_after_epochs=1)
    assert len(first.history) == 1 and (tmp_path / "parted" / "last.pt").is_file()
    second = train(replace(parted, resume=parted.out), progress=False, verbose=False)
    assert second.first_step == len(first.step_lrs) > 0
    assert first.step_lrs + second.step_lrs == whole.step_lrs
    assert first.step_losses + second.step_losses == whole.step_losses
    assert whole.step_lrs[0] == config.lr and whole.step_lrs[-1] < whole.step_lrs[0]
    a = torch.load(str(tmp_path / "whole" / "last.pt"), map_location="cpu", weights_only=True)
    b = torch.load(str(tmp_path / "parted" / "last.pt"), map_location="cpu", weights_only=True)
    assert a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert [r["val_miou"] for r in whole.history] == [r["val_miou"] for r in second.history]
    assert len(read_log(tmp_path / "parted" / "log.csv")) == 2


def test_resume_refuses_changed_settings(pairs_root, tmp_path):
    config = tiny_config(f"pairs:{pairs_root}", tmp_path / "r", epochs=1, augment=())
    train(config, progress=False, verbose=False)
    with pytest.raises(RailSegError, match="lr"):
        train(replace(config, resume=config.out, lr=0.5), progress=False, verbose=False)
    parser = argparse.ArgumentParser()
    train_cmd.add_arguments(parser)
    with pytest.raises(RailSegError, match="--lr"):
        train_cmd.config_from_args(parser.parse_args(["--resume", config.out, "--lr", "0.1"]))
    resumed = train_cmd.config_from_args(parser.parse_args(["--resume", config.out, "--threads", "1"]))
    assert (resumed.resume, resumed.threads, resumed.lr, resumed.size) == (config.out, 1, config.lr, SIZE)
