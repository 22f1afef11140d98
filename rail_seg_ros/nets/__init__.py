"""Network registry: every architecture by name, with what its inputs must satisfy."""

from dataclasses import dataclass
from typing import Callable, Dict, List, Tuple

import torch
from torch import nn

from ..errors import RailSegError
from .fast_scnn import FastSCNN
from .squeezenas import SQUEEZENAS_CONFIGS, SqueezeNAS


@dataclass(frozen=True)
class Architecture:
    name: str
    build: Callable[..., nn.Module]  # build(num_classes, aux=False)
    public_label_set: str  # the label set its public weights were trained on
    input_multiple: int  # height and width must be multiples of this
    min_size: int  # smallest height or width it accepts
    note: str


def _squeezenas(name: str) -> Callable[..., nn.Module]:
    def build(num_classes: int = 19, aux: bool = False) -> nn.Module:
        return SqueezeNAS(SQUEEZENAS_CONFIGS[name], num_classes)

    return build


def _fast_scnn(num_classes: int = 19, aux: bool = False) -> nn.Module:
    return FastSCNN(num_classes, aux=aux)


ARCHITECTURES: Dict[str, Architecture] = {
    name: Architecture(name, _squeezenas(name), "cityscapes", 16, 64,
                       "multiples of 16 (the public code also needs >= 784 rows and columns; this one does not)")
    for name in SQUEEZENAS_CONFIGS
}
ARCHITECTURES["fast_scnn"] = Architecture(
    "fast_scnn", _fast_scnn, "cityscapes", 32, 64, "multiples of 32 (pyramid pooling exact at any such size)")


def get_architecture(name: str) -> Architecture:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise RailSegError(f"unknown architecture {name!r}; known: {', '.join(sorted(ARCHITECTURES))}") from None


def build_model(name: str, num_classes: int = 19, aux: bool = False) -> nn.Module:
    """A freshly initialised network (eval mode) of architecture ``name``."""
    model = get_architecture(name).build(num_classes, aux=aux)
    model.arch_name = name  # named in load errors
    return model.eval()


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (BN running statistics are buffers, not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_conv_macs(model: nn.Module, height: int, width: int) -> float:
    """GigaMACs of every convolution for one 3 x height x width image, as the SqueezeNAS table counts them.

    ``out_elems * k_h * k_w * c_in / groups``; BN, activations, pooling and resizing are not counted.
    """
    total: List[int] = [0]

    def hook(conv: nn.Conv2d, _inputs: Tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        k_h, k_w = conv.kernel_size
        total[0] += output.numel() * k_h * k_w * conv.in_channels // conv.groups

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            # The "meta" device would skip the arithmetic, but interpolate needs real sizes: a zero image is cheap.
            model(torch.zeros(1, 3, height, width))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total[0] / 1e9
