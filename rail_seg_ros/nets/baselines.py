"""The baseline networks the comparison reports used, built from torchvision (0.28, for torch 2.13).

- LR-ASPP and DeepLabV3 with a MobileNetV3-Large backbone are torchvision's own models (``weights=None,
  weights_backbone=None``: nothing is downloaded); only their forward returns the ``out`` tensor instead of
  a dict, so their state_dict keys stay torchvision's and its released checkpoints load from a file.
- DeepLabV3+ (Chen et al., ECCV 2018) with a MobileNetV2 encoder: torchvision's MobileNetV2 features
  (output stride 16 by dilation, as in the paper's MobileNetV2 setting) and torchvision's ASPP (rates 6, 12,
  18), then the paper's decoder: stride-4 features cut to 48 channels, two 3x3 convolutions of 256, x4 up.
- U-Net (Ronneberger et al., MICCAI 2015) in the paper's layout: four levels down (two 3x3 convolutions,
  2x2 max pool), 2x2 up-convolutions, skip concatenation, 1x1 classifier; "same" padding and BatchNorm so
  the output has the input's size. ``base`` 64 is the paper's width; smaller widths keep the layout.
segmentation-models-pytorch is not used: it pulls timm and huggingface_hub for what these few lines do.
torchvision is imported only by the three networks that use it (U-Net needs nothing beyond torch), after
registry.require_torchvision (which lets the index's CUDA build of torchvision import next to a CPU torch).
"""

from typing import Any, List

import torch
import torch.nn.functional as F
from torch import nn


def _tensor_output(model: nn.Module, num_classes: int) -> nn.Module:
    """The torchvision model, its forward returning the ``out`` scores instead of a dict (same modules and
    state_dict keys, so torchvision's checkpoints load from a file)."""
    base = type(model)

    def forward(self: Any, x: torch.Tensor) -> torch.Tensor:
        return base.forward(self, x)["out"]

    model.__class__ = type(f"{base.__name__}Scores", (base,), {"forward": forward})
    model.num_classes = num_classes
    # torchvision's MobileNetV3 keeps BatchNorm statistics with momentum 0.01 (for long ImageNet runs): after
    # a short training they are still the initial ones and eval-mode output is noise. torch's 0.1, as every
    # other network here; inference and checkpoints are unchanged.
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = 0.1
    return model


def build_lraspp(num_classes: int = 19, aux: bool = False) -> nn.Module:
    from torchvision.models.segmentation import lraspp_mobilenet_v3_large

    return _tensor_output(lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=num_classes),
                          num_classes)


def build_deeplabv3(num_classes: int = 19, aux: bool = False) -> nn.Module:
    from torchvision.models.segmentation import deeplabv3_mobilenet_v3_large

    model = deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=num_classes, aux_loss=False)
    return _tensor_output(model, num_classes)


def _conv_bn_relu(c_in: int, c_out: int, kernel: int = 3) -> List[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class DeepLabV3PlusMobileNetV2(nn.Module):
    LOW_LEVEL_END = 4  # features[:4] end at stride 4 (24 channels)
    DILATED_FROM = 14  # features[14:] would go to stride 32: dilated instead (output stride 16)

    def __init__(self, num_classes: int = 19):
        super().__init__()
        from torchvision.models import mobilenet_v2
        from torchvision.models.segmentation.deeplabv3 import ASPP

        self.num_classes = num_classes
        features = mobilenet_v2(weights=None).features
        for block in features[self.DILATED_FROM:]:
            for conv in block.modules():
                if isinstance(conv, nn.Conv2d) and conv.kernel_size == (3, 3):
                    if conv.stride == (2, 2):
                        conv.stride = (1, 1)
                    else:
                        conv.dilation, conv.padding = (2, 2), (2, 2)
        self.low_level = features[:self.LOW_LEVEL_END]
        self.high_level = features[self.LOW_LEVEL_END:]
        self.aspp = ASPP(1280, [6, 12, 18], 256)
        self.reduce = nn.Sequential(*_conv_bn_relu(24, 48, 1))
        self.decoder = nn.Sequential(*_conv_bn_relu(256 + 48, 256), *_conv_bn_relu(256, 256))
        self.classifier = nn.Conv2d(256, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.low_level(x)
        high = self.aspp(self.high_level(low))
        high = F.interpolate(high, size=low.shape[-2:], mode="bilinear", align_corners=False)
        scores = self.classifier(self.decoder(torch.cat([high, self.reduce(low)], dim=1)))
        return F.interpolate(scores, size=x.shape[-2:], mode="bilinear", align_corners=False)


class UNet(nn.Module):
    LEVELS = 4

    def __init__(self, num_classes: int = 19, base: int = 64):
        super().__init__()
        self.num_classes = num_classes
        widths = [base * 2 ** i for i in range(self.LEVELS + 1)]  # 64 .. 1024 in the paper
        self.down = nn.ModuleList()
        c_in = 3
        for width in widths:
            self.down.append(nn.Sequential(*_conv_bn_relu(c_in, width), *_conv_bn_relu(width, width)))
            c_in = width
        self.upconv = nn.ModuleList(nn.ConvTranspose2d(w * 2, w, 2, stride=2) for w in reversed(widths[:-1]))
        self.up = nn.ModuleList(nn.Sequential(*_conv_bn_relu(w * 2, w), *_conv_bn_relu(w, w))
                                for w in reversed(widths[:-1]))
        self.classifier = nn.Conv2d(base, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        skips.pop()
        for upconv, block in zip(self.upconv, self.up):
            x = block(torch.cat([skips.pop(), upconv(x)], dim=1))
        return self.classifier(x)


def build_deeplabv3plus(num_classes: int = 19, aux: bool = False) -> nn.Module:
    return DeepLabV3PlusMobileNetV2(num_classes)


def build_unet(num_classes: int = 19, aux: bool = False) -> nn.Module:
    return UNet(num_classes, base=64)


def build_unet_small(num_classes: int = 19, aux: bool = False) -> nn.Module:
    return UNet(num_classes, base=16)
