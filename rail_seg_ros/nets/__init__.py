"""Networks: the torch-free registry (re-exported from registry.py) and the torch helpers that build and
measure them; torch is imported only inside these helpers, so the registry works without it."""

from typing import TYPE_CHECKING, List

from .registry import ARCHITECTURES, Architecture, get_architecture, require_torch, torch_installed

if TYPE_CHECKING:  # for the annotations only
    from torch import nn

__all__ = ["ARCHITECTURES", "Architecture", "build_model", "count_conv_macs", "count_parameters",
           "get_architecture", "require_torch", "torch_installed"]


def build_model(name: str, num_classes: int = 19, aux: bool = False) -> "nn.Module":
    """A freshly initialised network (eval mode) of architecture ``name``."""
    require_torch(f"building the {name} network")
    model = get_architecture(name).build(num_classes, aux=aux)
    model.arch_name = name  # named in load errors
    return model.eval()


def count_parameters(model: "nn.Module") -> int:
    """Trainable parameters (BN running statistics are buffers, not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_conv_macs(model: "nn.Module", height: int, width: int) -> float:
    """GigaMACs of every convolution for one 3 x height x width image, as the SqueezeNAS table counts them.

    ``out_elems * k_h * k_w * c_in / groups``; BN, activations, pooling and resizing are not counted.
    """
    import copy

    import torch
    from torch import nn

    total: List[int] = [0]

    def hook(conv: nn.Conv2d, _inputs, output: torch.Tensor) -> None:
        k_h, k_w = conv.kernel_size
        total[0] += output.numel() * k_h * k_w * conv.in_channels // conv.groups

    # On the "meta" device only shapes are computed: seconds of arithmetic at 1024x2048 (U-Net) become none.
    # A copy goes there, so the caller's weights stay where they are.
    shadow = copy.deepcopy(model).to("meta").eval()
    handles = [m.register_forward_hook(hook) for m in shadow.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        shadow(torch.zeros(1, 3, height, width, device="meta"))
    for h in handles:
        h.remove()
    return total[0] / 1e9
