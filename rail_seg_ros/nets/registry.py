"""Every architecture by name, with what its inputs must satisfy; no torch here.

Model cards, the pipeline and the ONNX Runtime path read the registry on machines without torch (the
Jetson's Python 3.8 image may only have ONNX Runtime or TensorRT); torch is imported only when a network
is built.
"""

import importlib.util
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Dict

from ..errors import RailSegError
from .squeezenas_configs import SQUEEZENAS_CONFIGS

if TYPE_CHECKING:  # for the annotations only
    from torch import nn


@dataclass(frozen=True)
class Architecture:
    name: str
    build: Callable[..., "nn.Module"]  # build(num_classes, aux=False)
    public_label_set: str  # the label set its public weights were trained on
    input_multiple: int  # height and width must be multiples of this
    min_size: int  # smallest height or width it accepts
    note: str
    # ends with the bilinear align_corners resize of low_resolution_logits, which the sparse head reproduces
    # (graph.has_low_resolution_head of a built one); the comparison baselines do not
    low_resolution_head: bool = False


def _squeezenas(name: str) -> Callable[..., "nn.Module"]:
    def build(num_classes: int = 19, aux: bool = False) -> "nn.Module":
        from .squeezenas import SqueezeNAS

        return SqueezeNAS(SQUEEZENAS_CONFIGS[name], num_classes)

    return build


def _fast_scnn(num_classes: int = 19, aux: bool = False) -> "nn.Module":
    from .fast_scnn import FastSCNN

    return FastSCNN(num_classes, aux=aux)


ARCHITECTURES: Dict[str, Architecture] = {
    name: Architecture(name, _squeezenas(name), "cityscapes", 16, 64,
                       "multiples of 16 (the public code also needs >= 784 rows and columns; this one does not)",
                       low_resolution_head=True)
    for name in SQUEEZENAS_CONFIGS
}
ARCHITECTURES["fast_scnn"] = Architecture(
    "fast_scnn", _fast_scnn, "cityscapes", 32, 64, "multiples of 32 (pyramid pooling exact at any such size)",
    low_resolution_head=True)



def _baseline(name: str, builder: str, needs_torchvision: bool) -> Callable[..., "nn.Module"]:
    def build(num_classes: int = 19, aux: bool = False) -> "nn.Module":
        if needs_torchvision:
            require_torchvision(f"building the {name} network")
        from . import baselines

        return getattr(baselines, builder)(num_classes, aux=aux)

    return build


# The comparison baselines (nets/baselines.py, torchvision): no public weights for rail classes, so their
# cards name the label set they were trained on here; multiples of 16 keep every resize exact.
BASELINES = {
    "lraspp_mobilenet_v3_large": ("build_lraspp", True, "LR-ASPP MobileNetV3-Large (torchvision)"),
    "deeplabv3_mobilenet_v3_large": ("build_deeplabv3", True, "DeepLabV3 MobileNetV3-Large (torchvision)"),
    "deeplabv3plus_mobilenet_v2": ("build_deeplabv3plus", True,
                                   "DeepLabV3+, torchvision MobileNetV2 encoder, output stride 16"),
    "unet": ("build_unet", False, "U-Net, the paper's widths 64..1024"),
    "unet_small": ("build_unet_small", False, "U-Net layout at a quarter of the widths (16..256)"),
}
for _name, (_builder, _torchvision, _what) in BASELINES.items():
    ARCHITECTURES[_name] = Architecture(_name, _baseline(_name, _builder, _torchvision), "railsem19", 16, 64,
                                        f"multiples of 16; {_what}")

def get_architecture(name: str) -> Architecture:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise RailSegError(f"unknown architecture {name!r}; known: {', '.join(sorted(ARCHITECTURES))}") from None


def torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None


# The two operator schemas torchvision's Python registers fake kernels for without checking that its C++
# extension loaded; with them declared, its pure-Python model zoo imports (the C++ ops stay unusable).
_TORCHVISION_SCHEMAS = {"nms": "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
                        "qnms": "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor"}


def require_torchvision(purpose: str) -> None:
    """torchvision imported, or one line saying why not.

    The torchvision 0.28.0 wheel on the package index is the CUDA build: next to a CPU-only torch its C++
    extension (detection operators) does not load and its import stops at an undeclared operator. The
    networks here use none of those operators, so the schemas are declared and the import retried.
    """
    require_torch(purpose)
    try:
        import torchvision  # noqa: F401
        return
    except ImportError:
        raise RailSegError(f"{purpose} needs torchvision, which is not installed; install torchvision 0.28.0 "
                           f"(the release for torch 2.13)") from None
    except RuntimeError as exc:
        if "torchvision::nms does not exist" not in str(exc):
            raise RailSegError(f"{purpose}: torchvision does not load ({str(exc).splitlines()[0]})") from None
    import torch

    for name, schema in _TORCHVISION_SCHEMAS.items():
        torch.library.define(f"torchvision::{name}", schema)
    import torchvision  # noqa: F401, F811


def require_torch(purpose: str) -> None:
    """One clear error, instead of an ImportError traceback, where torch is needed but not installed."""
    if not torch_installed():
        version = f"{sys.version_info[0]}.{sys.version_info[1]}"
        raise RailSegError(f"{purpose} needs torch, which is not installed in this Python ({version}); install "
                           f"torch, or run a card with a shipped ONNX export (rail_default) on backend onnxruntime")
