"""The comparison baselines (nets/baselines.py): any class count, and each exports through the inference
graph to ONNX with ONNX Runtime's labels agreeing with torch's on >= 99.9 % of a frame."""

import cv2
import numpy as np
import pytest

from rail_seg_ros.model_card import ModelCard
from rail_seg_ros.nets import build_model, count_parameters
from rail_seg_ros.nets.registry import BASELINES

pytestmark = pytest.mark.needs_torch
SIZE = (96, 160)  # small: the export and both runs take seconds on a shared CPU


def _lively(model, frame):
    """BatchNorm statistics measured on the frame (as training would), not the fresh ones that make every pixel
    one class: realistic activations, so the argmax has something to decide."""
    import torch

    torch.manual_seed(0)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None  # a plain average over the batches seen
    image = torch.from_numpy(cv2.resize(frame, SIZE[::-1])).permute(2, 0, 1)[None].float() / 64.0 - 2.0
    model.train()
    with torch.no_grad():
        model(torch.cat([image, image.flip(3)]))
    return model.eval()


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baseline_exports_and_onnxruntime_agrees_with_torch(tmp_path, frame, name):
    import onnxruntime as ort

    from rail_seg_ros.export import compare_with_torch, export_onnx

    card = ModelCard(name=name, architecture=name, label_set="railsem19", input_size=SIZE)
    net = _lively(build_model(name, card.num_classes), frame)
    path = export_onnx(card, tmp_path / f"{name}.onnx", net=net)
    small = cv2.resize(frame, SIZE[::-1])
    check = compare_with_torch(path, card, net, [small])
    assert check["label_agreement"] >= 0.999, check
    labels = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"image": small[None]})[0]
    assert labels.shape == (1, *SIZE) and len(np.unique(labels)) > 1  # not one class everywhere


@pytest.mark.parametrize("name", ["lraspp_mobilenet_v3_large", "unet_small"])
def test_baseline_takes_any_class_count(name):
    import torch

    with torch.no_grad():
        out = build_model(name, 5)(torch.zeros(1, 3, 64, 96))
    assert out.shape == (1, 5, 64, 96)
    assert count_parameters(build_model(name, 5)) < count_parameters(build_model(name, 19))


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baseline_runs_on_the_onnxruntime_backend_without_the_sparse_head(tmp_path, frame, name):
    """The CPU provider's default (head auto) stops SqueezeNAS and Fast-SCNN before their final resize; a
    baseline has no such resize, so it runs its whole graph (as `rail-seg compare` runs it), and asking for
    the sparse head is one clear error."""
    from rail_seg_ros.backends.onnxruntime_backend import OnnxRuntimeBackend
    from rail_seg_ros.errors import RailSegError

    card = ModelCard(name=name, architecture=name, label_set="railsem19", input_size=SIZE)
    net = _lively(build_model(name, card.num_classes), frame)
    backend = OnnxRuntimeBackend(card, cache_dir=tmp_path, threads=1, net=net)
    assert not backend.low_resolution and "sparse head" not in backend.describe()
    labels = backend.infer(cv2.resize(frame, SIZE[::-1])[None])["labels"]
    assert labels.shape == (1, *SIZE) and labels.dtype == np.uint8
    with pytest.raises(RailSegError, match="sparse head reproduces"):
        OnnxRuntimeBackend(card, cache_dir=tmp_path, threads=1, net=net, head="sparse")
