"""The networks match the published SqueezeNAS and Fast-SCNN facts: keys, shapes, sizes, outputs."""

import json

import cv2
import numpy as np
import pytest
import torch
from conftest import shared_path

from rail_seg_ros.checkpoints import load_weights
from rail_seg_ros.graph import SegmentationGraph
from rail_seg_ros.model_card import load_card
from rail_seg_ros.nets import ARCHITECTURES, build_model, count_conv_macs, count_parameters
from rail_seg_ros.nets.squeezenas import SQUEEZENAS_CONFIGS

SQUEEZENAS_NAMES = sorted(SQUEEZENAS_CONFIGS)

# The published table (shared/docs/squeezenas.md) and the Fast-SCNN figures of issue 2.
PUBLISHED = {
    "squeezenas_mac_small": (277_598, 3.008), "squeezenas_mac_large": (704_382, 9.386),
    "squeezenas_mac_xlarge": (1_819_563, 21.838), "squeezenas_lat_small": (465_774, 4.465),
    "squeezenas_lat_large": (1_918_734, 19.575), "squeezenas_lat_xlarge": (3_059_323, 32.729),
    "fast_scnn": (1_138_051, 6.708),
}


@pytest.fixture(scope="module")
def networks_json():
    return json.loads(shared_path("squeezenas", "networks.json").read_text())["networks"]


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameters_and_gmacs_match_the_published_table(name):
    model = build_model(name)
    params, gmacs = PUBLISHED[name]
    assert count_parameters(model) == params
    assert count_conv_macs(model, 1024, 2048) == pytest.approx(gmacs, rel=0.005)


@pytest.mark.parametrize("name", SQUEEZENAS_NAMES)
def test_squeezenas_state_dict_equals_the_public_one(name, networks_json):
    expected = networks_json[name]["state_dict"]
    actual = {k: list(v.shape) for k, v in build_model(name).state_dict().items()}
    assert actual == expected


@pytest.mark.parametrize("name", SQUEEZENAS_NAMES)
def test_genotypes_and_hyperparameters_are_the_published_ones(name, networks_json):
    config, published = SQUEEZENAS_CONFIGS[name], networks_json[name]
    assert list(config.genotype) == published["genotype"]
    hyper = published["hyperparameters"]
    assert config.init_channels == hyper["init_channels"]
    assert [(b.num_channels, b.num_repeat, b.stride) for b in config.blocks] == [
        (b["num_channels"], b["num_repeat"], b["stride"]) for b in hyper["blocks"]]
    assert config.skip_output_block_index == hyper["skip_output_block_index"]
    assert (config.mid_channels, config.last_channels, config.decoder) == (
        hyper["mid_channels"], hyper["last_channels"], published["decoder"])


def test_fast_scnn_state_dict_equals_the_public_implementation():
    expected = json.loads(shared_path("fast_scnn", "public_pytorch_state_dict.json").read_text())["state_dict"]
    actual = {k: list(v.shape) for k, v in build_model("fast_scnn").state_dict().items()}
    assert actual == expected


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
@pytest.mark.parametrize("classes", [19, 5])
def test_any_class_count_and_rail_camera_sizes(name, classes):
    """Every network takes 1088x1920-like sizes (what 1080p frames are resized to) and small ones."""
    model = build_model(name, classes)
    multiple = ARCHITECTURES[name].input_multiple
    height, width = 4 * multiple, 7 * multiple
    with torch.no_grad():
        out = model(torch.zeros(1, 3, height, width))
    assert out.shape == (1, classes, height, width)


@pytest.mark.parametrize("name", ["squeezenas_lat_small", "squeezenas_mac_large", "squeezenas_mac_xlarge", "fast_scnn"])
def test_full_hd_sized_input(name):
    """1088x1920 (1080p rounded up to a multiple of 16/32) runs where the public SqueezeNAS code crashes at 1080."""
    height = 1088 if ARCHITECTURES[name].input_multiple == 16 else 1088 + 32 - 1088 % 32
    with torch.no_grad():
        out = build_model(name, 19)(torch.zeros(1, 3, height, 1920))
    assert out.shape[-2:] == (height, 1920)


def test_fast_scnn_pyramid_pooling_equals_adaptive_pooling_at_any_size():
    from rail_seg_ros.nets.fast_scnn import _pool_to_bins

    x = torch.randn(1, 4, 32, 64)  # the 1/32 map of 1024x2048: not divisible by 3 or 6
    for bins in (1, 2, 3, 6):
        assert torch.allclose(_pool_to_bins(x, bins), torch.nn.functional.adaptive_avg_pool2d(x, bins), atol=1e-6)


def _normalised(rgb: np.ndarray) -> torch.Tensor:
    x = (rgb.astype(np.float32) / 255 - np.array([0.485, 0.456, 0.406], np.float32)) / np.array(
        [0.229, 0.224, 0.225], np.float32)
    return torch.from_numpy(x.transpose(2, 0, 1).copy())[None]


@pytest.mark.parametrize("size", ["lat_small", "mac_small"])
def test_public_weights_reproduce_the_reference_outputs(size, reference_input):
    card = load_card(f"squeezenas_{size}_cityscapes", weights=str(shared_path("squeezenas", "weights", f"{size}.pth")))
    model = load_weights(build_model(card.architecture), card.weights)
    with torch.no_grad():
        logits = model(_normalised(reference_input))[0].numpy()
    reference = np.load(shared_path("squeezenas", "reference", f"{size}_logits_stride16.npy"))
    assert np.abs(logits[:, ::16, ::16] - reference).max() < 1e-3
    labels = cv2.imread(str(shared_path("squeezenas", "reference", f"{size}_labels.png")), cv2.IMREAD_UNCHANGED)
    assert (logits.argmax(0) == labels).mean() >= 0.999
    # the deployable graph (uint8 frames in, normalisation and argmax inside) gives the same labels
    graph = SegmentationGraph(card, model).eval()
    with torch.no_grad():
        graph_labels = graph(torch.from_numpy(reference_input[None]))[0][0].numpy()
    assert (graph_labels == labels).mean() >= 0.999


def test_lat_xlarge_seeded_reference_checks_aspp_and_projection_block():
    state = torch.load(str(shared_path("squeezenas", "reference", "lat_xlarge_seeded_fp16.pth")), weights_only=True)
    model = build_model("squeezenas_lat_xlarge")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=True)
    rgb = cv2.cvtColor(cv2.imread(str(shared_path("squeezenas", "reference", "input_structured_256x512.png"))),
                       cv2.COLOR_BGR2RGB)
    with torch.no_grad():
        logits = model(_normalised(rgb))[0].numpy()
    reference = np.load(shared_path("squeezenas", "reference", "lat_xlarge_seeded_logits_stride4.npy"))
    assert np.abs(logits[:, ::4, ::4] - reference).max() < 1e-3
    labels = cv2.imread(str(shared_path("squeezenas", "reference", "lat_xlarge_seeded_labels.png")), cv2.IMREAD_UNCHANGED)
    assert (logits.argmax(0) == labels).mean() >= 0.999


def test_the_registry_says_which_networks_the_sparse_head_fits():
    from rail_seg_ros.graph import has_low_resolution_head

    for name in ("squeezenas_mac_small", "fast_scnn", "unet_small"):
        assert ARCHITECTURES[name].low_resolution_head == has_low_resolution_head(build_model(name)), name
