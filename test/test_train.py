"""Training: outputs and model card of a tiny run, overfitting, exact resume, schedules, OHEM, --init, errors."""

import argparse
import csv
import math
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from rail_seg_ros import train as tr
from rail_seg_ros.commands import train as train_cmd
from rail_seg_ros.errors import RailSegError
from rail_seg_ros.graph import Preprocess
from rail_seg_ros.labels import RAILSEM19
from rail_seg_ros.model_card import build_network, load_card
from rail_seg_ros.nets import build_model

SIZE = (64, 128)


def scene(index: int, height: int = 80, width: int = 160):
    """An image whose colours follow its labels (learnable): bands of palette colours with noise."""
    rng = np.random.default_rng(index)
    ys, xs = np.mgrid[0:height, 0:width]
    labels = np.where(ys < height // 3, 10, np.where(xs < width // 2 + 8 * (index % 3), 12, 8)).astype(np.uint8)
    labels[height - 10:, : width // 4] = 3
    labels[:4, :4] = 255
    image = RAILSEM19.palette[labels].astype(np.int16) + rng.integers(-20, 21, size=(height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8), labels


@pytest.fixture(scope="module")
def pairs_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pairs")
    (root / "images").mkdir()
    (root / "labels").mkdir()
    for i in range(10):
        image, labels = scene(i)
        cv2.imwrite(str(root / "images" / f"f{i:02d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(root / "labels" / f"f{i:02d}.png"), labels)
    return root


def tiny_config(data: str, out: Path, **values) -> tr.TrainConfig:
    settings = dict(data=data, out=str(out), size=SIZE, epochs=2, batch=4, seed=3, threads=2, device="cpu")
    settings.update(values)
    return tr.make_config(settings.pop("model", "squeezenas_mac_small"), **settings)


def read_log(path: Path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ---- a whole run ---------------------------------------------------------------------------------------------


def test_cli_tiny_run_writes_checkpoints_card_log_and_plot(pairs_root, tmp_path):
    out = tmp_path / "run"
    parser = argparse.ArgumentParser()
    train_cmd.add_arguments(parser)
    args = parser.parse_args(["--model", "squeezenas_mac_small", "--data", f"pairs:{pairs_root}", "--size", "64x128",
                              "--epochs", "2", "--batch", "4", "--optimizer", "adam", "--lr", "0.005", "--schedule",
                              "cosine", "--augment", "flip,scale,crop,color", "--seed", "1", "--threads", "2",
                              "--device", "cpu", "--out", str(out), "--no-progress"])
    assert train_cmd.run(args) == 0
    for name in ("best.pt", "best.yaml", "last.pt", "log.csv", "curves.png", "config.yaml"):
        assert (out / name).is_file(), name
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = read_log(out / "log.csv")
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert list(rows[0]) == list(tr.LOG_COLUMNS)
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
    assert state["optimizer"]["state"]  # Adam moments were saved


def test_fast_scnn_ohem_aux_batch_of_one_and_amp_on_cpu(pairs_root, tmp_path):
    config = tiny_config(f"pairs:{pairs_root}", tmp_path / "fs", model="fast_scnn", epochs=1, batch=1,
                         amp=True, val_fraction=0.8)  # 2 training frames, batches of one
    assert (config.loss, config.aux, config.aux_weight, config.ohem_thresh) == ("ohem", True, 0.4, 0.7)
    result = tr.train(config, progress=False, verbose=False)
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
    whole = tr.train(config, progress=False, verbose=False)
    parted = replace(config, out=str(tmp_path / "parted"))
    first = tr.train(parted, progress=False, verbose=False, stop_after_epochs=1)
    assert len(first.history) == 1 and (tmp_path / "parted" / "last.pt").is_file()
    second = tr.train(replace(parted, resume=parted.out), progress=False, verbose=False)
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
    tr.train(config, progress=False, verbose=False)
    with pytest.raises(RailSegError, match="lr"):
        tr.train(replace(config, resume=config.out, lr=0.5), progress=False, verbose=False)
    parser = argparse.ArgumentParser()
    train_cmd.add_arguments(parser)
    with pytest.raises(RailSegError, match="--lr"):
        train_cmd.config_from_args(parser.parse_args(["--resume", config.out, "--lr", "0.1"]))
    resumed = train_cmd.config_from_args(parser.parse_args(["--resume", config.out, "--threads", "1"]))
    assert (resumed.resume, resumed.threads, resumed.lr, resumed.size) == (config.out, 1, config.lr, SIZE)


# ---- pieces ----------------------------------------------------------------------------------------------------


def test_loss_falls_on_a_fixed_batch():
    torch.manual_seed(0)
    config = tr.make_config("squeezenas_mac_small", recipe="synth", data="synth:1", size=SIZE, lr=5e-3)
    model = build_model(config.model, 19).train()
    card = load_card(config.model, input_size=SIZE, label_set="railsem19")
    pre = Preprocess(card)
    frames = [scene(i, *SIZE) for i in range(2)]
    x = pre(torch.from_numpy(np.stack([f[0] for f in frames])))
    y = torch.from_numpy(np.stack([f[1] for f in frames])).long()
    optimizer = tr.make_optimizer(model, config)
    criterion = tr.SegLoss("ce")
    losses = []
    for _ in range(25):
        loss = criterion(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]


def test_lr_schedules_at_known_steps():
    c = tr.TrainConfig(lr=1e-3, lr_end=1e-5, schedule="poly", power=0.9)
    assert tr.lr_at(0, 100, c) == pytest.approx(1e-3)
    assert tr.lr_at(50, 100, c) == pytest.approx(1e-5 + (1e-3 - 1e-5) * 0.5 ** 0.9)
    assert tr.lr_at(100, 100, c) == pytest.approx(1e-5)
    cos = replace(c, schedule="cosine", lr_end=0.0)
    assert tr.lr_at(0, 100, cos) == pytest.approx(1e-3)
    assert tr.lr_at(50, 100, cos) == pytest.approx(5e-4)
    assert tr.lr_at(25, 100, cos) == pytest.approx(1e-3 * (1 + math.cos(math.pi / 4)) / 2)
    step = replace(c, schedule="step", milestones=(0.5, 0.75), gamma=0.1)
    assert [tr.lr_at(s, 100, step) for s in (0, 49, 50, 74, 75, 99)] == pytest.approx(
        [1e-3, 1e-3, 1e-4, 1e-4, 1e-5, 1e-5])


def test_ohem_ignores_255_and_keeps_at_least_min_kept():
    torch.manual_seed(0)
    target = torch.randint(0, 4, (1, 4, 8))
    logits = torch.randn(1, 4, 4, 8)
    logits.scatter_(1, target[:, None], 6.0)  # every pixel easy (p > 0.9) ...
    hard = torch.zeros(1, 4, 8, dtype=torch.bool)
    hard[0, 0, :3] = True
    logits[0, :, 0, :3] = torch.tensor([4.0, 0.0, 0.0, 0.0])[:, None]
    target[0, 0, :3] = 1  # ... but three pixels
    target[0, 3, :] = 255
    logits[0, :, 3, :] = torch.tensor([50.0, -50.0, 0.0, 0.0])[:, None]  # huge loss for any id but 0: ignored
    pixel = torch.nn.functional.cross_entropy(logits, target, ignore_index=255, reduction="none")
    loss = tr.ohem_cross_entropy(logits, target, thresh=0.7, min_kept=0)
    assert loss == pytest.approx(float(pixel[hard].mean()))
    valid = pixel[target != 255]
    five = tr.ohem_cross_entropy(logits, target, thresh=0.7, min_kept=5)
    assert five == pytest.approx(float(valid.topk(5).values.mean()))
    everything = tr.ohem_cross_entropy(logits, target, thresh=0.7, min_kept=1000)
    assert everything == pytest.approx(float(valid.mean()))
    ignored = torch.full_like(target, 255)
    logits.requires_grad_(True)
    zero = tr.ohem_cross_entropy(logits, ignored)
    zero.backward()
    assert float(zero.detach()) == 0.0 and logits.grad is not None


def test_init_from_other_class_count_reinitialises_only_the_classifier(tmp_path):
    torch.manual_seed(1)
    other = build_model("squeezenas_mac_small", num_classes=7).state_dict()
    path = tmp_path / "seven.pt"
    torch.save({"model_state_dict": other, "epoch": 3}, str(path))
    model = build_model("squeezenas_mac_small", 19)
    report = tr.init_weights(model, str(path), "squeezenas_mac_small")
    assert report.reinitialised == ["decoder._1x1_BR", "decoder._1x1_TR"]
    own = model.state_dict()
    heads = [k for k in own if k.startswith(("decoder._1x1_BR.", "decoder._1x1_TR."))]
    assert report.loaded == len(own) - len(heads)
    assert all(torch.equal(own[k], other[k]) for k in own if k not in heads)
    assert all(own[k].shape[0] == 19 for k in heads)

    fast = build_model("fast_scnn", 7)
    fast_path = tmp_path / "fast.pt"
    torch.save(fast.state_dict(), str(fast_path))
    report = tr.init_weights(build_model("fast_scnn", 19, aux=True), str(fast_path), "fast_scnn")
    assert (report.reinitialised, report.fresh) == (["classifier.conv.1"], ["auxlayer.0", "auxlayer.1", "auxlayer.4"])

    with pytest.raises(RailSegError, match="does not fit squeezenas_mac_small") as err:
        tr.init_weights(build_model("squeezenas_mac_small", 19), str(fast_path), "squeezenas_mac_small")
    assert "\n" not in str(err.value)


def test_same_class_count_keeps_the_classifier_unless_asked(tmp_path):
    torch.manual_seed(2)
    source = build_model("squeezenas_mac_small", 19).state_dict()
    path = tmp_path / "cs.pt"
    torch.save(source, str(path))
    kept = build_model("squeezenas_mac_small", 19)
    assert tr.init_weights(kept, str(path), "squeezenas_mac_small").reinitialised == []
    assert torch.equal(kept.state_dict()["decoder._1x1_TR.weight"], source["decoder._1x1_TR.weight"])
    fresh = build_model("squeezenas_mac_small", 19)
    report = tr.init_weights(fresh, str(path), "squeezenas_mac_small", reinit_classifier=True)
    assert report.reinitialised == ["decoder._1x1_BR", "decoder._1x1_TR"]
    assert not torch.equal(fresh.state_dict()["decoder._1x1_TR.weight"], source["decoder._1x1_TR.weight"])


@pytest.mark.parametrize("spec", ["imagenet:/data", "synth:many", "synth:0", "pairs:", "railsem19", "bag"])
def test_bad_data_spec_is_one_line(spec):
    with pytest.raises(RailSegError) as err:
        tr.make_config("squeezenas_mac_small", data=spec, size=SIZE)
    assert "\n" not in str(err.value) and "--data" in str(err.value)


def test_bad_values_are_one_line(tmp_path):
    for values, words in ((dict(size="60x128"), "--size"), (dict(augment="flip,rotate"), "rotate"),
                          (dict(epochs=0), "--epochs"), (dict(recipe="yolo"), "recipe")):
        with pytest.raises(RailSegError, match=words) as err:
            tr.make_config("squeezenas_mac_small", data="synth:4", **values)
        assert "\n" not in str(err.value)
    missing = tiny_config(f"pairs:{tmp_path / 'nowhere'}", tmp_path / "o")
    with pytest.raises(RailSegError) as err:
        tr.train(missing, progress=False, verbose=False)
    assert "\n" not in str(err.value)


def test_augmentation_pads_labels_with_ignore_and_is_seeded():
    image, labels = scene(0, *SIZE)
    a = tr.augment_pair(image, labels, np.random.default_rng(5), tr.AUGMENTATIONS, (0.5, 0.5))
    b = tr.augment_pair(image, labels, np.random.default_rng(5), tr.AUGMENTATIONS, (0.5, 0.5))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    rgb, lab, jitter = a
    assert rgb.shape == (*SIZE, 3) and lab.shape == SIZE
    assert (lab == 255).mean() >= 0.7  # zoomed out to a quarter of the area: the rest is padding
    assert set(np.unique(lab)) <= set(np.unique(labels)) | {255}
    assert not np.allclose(jitter, 1.0)
    same = tr.color_jitter(torch.from_numpy(rgb[None]), torch.ones(1, 3))
    assert torch.equal(same[0], torch.from_numpy(rgb))


def test_synth_validation_never_uses_training_seeds():
    synth = pytest.importorskip("rail_seg_ros.synth")
    config = tr.make_config("squeezenas_mac_small", data="synth:3", size=SIZE)
    train_frames, val_frames = tr.build_datasets(config)
    assert (len(train_frames), len(val_frames)) == (3, 8)
    rgb, labels = synth.render_scene(SIZE[0], SIZE[1], tr.SYNTH_VAL_SEED)
    assert np.array_equal(val_frames.get(0)[0], rgb) and np.array_equal(val_frames.get(0)[1], labels)
    assert np.array_equal(train_frames.get(2)[0], synth.render_scene(SIZE[0], SIZE[1], 2)[0])


def test_bag_frames_with_ground_truth(tmp_path):
    bag = pytest.importorskip("rail_seg_ros.bag")
    frames = [scene(i) for i in range(3)] + [(scene(3)[0], None)]
    path = bag.write_frames_bag(tmp_path / "b", frames, progress=False)
    warnings = []
    config = tr.make_config("squeezenas_mac_small", data=f"bag:{path}", size=SIZE)
    loaded = tr.build_frames(config.data, config, warn=warnings.append)
    assert len(loaded) == 3 and any("without ground truth" in w for w in warnings)
    rgb, labels = loaded.get(1)
    assert rgb.shape == (*SIZE, 3) and labels.dtype == np.uint8
    assert np.array_equal(labels, cv2.resize(scene(1)[1], SIZE[::-1], interpolation=cv2.INTER_NEAREST))


def test_loader_processes_give_the_same_batches(pairs_root, tmp_path):
    config = tiny_config(f"pairs:{pairs_root}", tmp_path / "w0", epochs=1)
    in_process = tr.train(config, progress=False, verbose=False)
    workers = tr.train(replace(config, out=str(tmp_path / "w1"), workers=1), progress=False, verbose=False)
    assert workers.step_losses == in_process.step_losses
