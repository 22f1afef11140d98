"""What a run writes: checkpoints, model card, log and plot of a tiny run from the CLI."""

import argparse

import pytest
import torch

from rail_seg_ros.commands import train as train_cmd
from rail_seg_ros.model_card import build_network, load_card
from rail_seg_ros.train.artifacts import LOG_COLUMNS

from .conftest import SIZE, read_log


def test_cli_tiny_run_writes_checkpoints_card_log_and_plot(pairs_root, tmp_path):
    out = tmp_path / "run"
    parser = argparse.ArgumentParser()
    train_cmd.add_arguments(parser)
    args = parser.parse_args(["--model", "squeezenas_mac_small", "--data", f"pairs:{pairs_root}", "--size", "64x128",
                              "--epochs", "2", "--batch", "4", "--optimizer", "adam", "--lr", "0.005", "--schedule",
                              "cosine", "--augment", "flip,scale,crop,color", "--seed", "1", "--threads", "2",
                              "--class-weight", "human=4,car=3",
                              "--device", "cpu", "--out", str(out), "--no-progress"])
    assert train_cmd.run(args) == 0
    for name in ("best.pt", "best.yaml", "last.pt", "log.csv", "curves.png", "config.yaml"):
        assert (out / name).is_file(), name
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = read_log(out / "log.csv")
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert list(rows[0]) == list(LOG_COLUMNS)
    assert int(rows[1]["step"]) == 2 * (9 // 4)  # 10 frames, 1 held out for validation, full batches of 4
    card = load_card(str(out / "best.yaml"))
    assert (card.architecture, card.label_set, card.input_size, card.color_order) == (
        "squeezenas_mac_small", "railsem19", SIZE, "rgb")
    assert card.source.startswith("rail-seg train --model squeezenas_mac_small")
    net = build_network(card)  # strict load of best.pt
    with torch.no_grad():
        assert net(torch.zeros(1, 3, *SIZE)).shape == (1, 19, *SIZE)
    best = max(float(r["val_miou"]) for r in rows)
    described = float(card.description.split("mIoU ")[1].split(" %")[0])
    assert described == pytest.approx(100 * best, abs=0.006)
    state = torch.load(str(out / "last.pt"), map_location="cpu", weights_only=True)
    assert (state["epoch"], state["step"], state["total_steps"]) == (2, 4, 4)
    assert state["config"]["class_weights"] == {"human": 4.0, "car": 3.0}   # and so --resume weighs them too
    assert "human: 4.0" in (out / "config.yaml").read_text()
    assert state["optimizer"]["state"]  # Adam moments were saved
