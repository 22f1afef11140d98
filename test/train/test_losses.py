"""Training losses: the loss falls on a fixed batch; OHEM ignores 255 and keeps min_kept."""

import numpy as np
import pytest
import torch

from rail_seg_ros.graph import Preprocess
from rail_seg_ros.model_card import load_card
from rail_seg_ros.nets import build_model
from rail_seg_ros.train.config import make_config
from rail_seg_ros.train.loop import make_optimizer
from rail_seg_ros.train.losses import SegLoss, ohem_cross_entropy

from .conftest import SIZE, scene


def test_loss_falls_on_a_fixed_batch():
    torch.manual_seed(0)
    config = make_config("squeezenas_mac_small", recipe="synth", data="synth:1", size=SIZE, lr=5e-3)
    model = build_model(config.model, 19).train()
    card = load_card(config.model, input_size=SIZE, label_set="railsem19")
    pre = Preprocess(card)
    frames = [scene(i, *SIZE) for i in range(2)]
    x = pre(torch.from_numpy(np.stack([f[0] for f in frames])))
    y = torch.from_numpy(np.stack([f[1] for f in frames])).long()
    optimizer = make_optimizer(model, config)
    criterion = SegLoss("ce")
    losses = []
    for _ in range(25):
        loss = criterion(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]


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
    loss = ohem_cross_entropy(logits, target, thresh=0.7, min_kept=0)
    assert loss == pytest.approx(float(pixel[hard].mean()))
    valid = pixel[target != 255]
    five = ohem_cross_entropy(logits, target, thresh=0.7, min_kept=5)
    assert five == pytest.approx(float(valid.topk(5).values.mean()))
    everything = ohem_cross_entropy(logits, target, thresh=0.7, min_kept=1000)
    assert everything == pytest.approx(float(valid.mean()))
    ignored = torch.full_like(target, 255)
    logits.requires_grad_(True)
    zero = ohem_cross_entropy(logits, ignored)
    zero.backward()
    assert float(zero.detach()) == 0.0 and logits.grad is not None


def test_class_weights_scale_their_pixels_in_both_losses():
    torch.manual_seed(1)
    target = torch.randint(0, 3, (2, 6, 8))
    target[0, 0, :4] = 255
    logits = torch.randn(2, 3, 6, 8)
    weights = (1.0, 4.0, 1.0)
    pixel = torch.nn.functional.cross_entropy(logits, target, ignore_index=255, reduction="none")
    scale = torch.tensor(weights)[target.clamp(max=2)]
    valid = target != 255
    expected = float((pixel * scale)[valid].mean())
    assert SegLoss("ce", class_weights=weights)(logits, target) == pytest.approx(expected)
    assert SegLoss("ohem", min_kept=10**6, class_weights=weights)(logits, target) == pytest.approx(expected)
    # hardness is judged unweighted: the same pixels are kept, their losses weighed
    kept = SegLoss("ohem", thresh=0.5, min_kept=0, class_weights=weights)(logits, target)
    hard = valid & (pixel > -np.log(0.5))
    assert kept == pytest.approx(float((pixel * scale)[hard].mean()))
    assert SegLoss("ce")(logits, target) < SegLoss("ce", class_weights=weights)(logits, target)


def test_class_weights_come_from_the_option_by_class_name():
    from rail_seg_ros.labels import RAILSEM19
    from rail_seg_ros.train.config import class_weight_vector

    config = make_config("squeezenas_mac_small", data="synth:4", class_weights="human=4, car=2.5")
    vector = class_weight_vector(config)
    assert vector[RAILSEM19.names.index("human")] == 4.0 and vector[RAILSEM19.names.index("car")] == 2.5
    assert sum(vector) == pytest.approx(19 - 2 + 6.5)
    assert class_weight_vector(make_config("squeezenas_mac_small", data="synth:4")) is None
