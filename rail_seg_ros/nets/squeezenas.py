"""The six SqueezeNAS networks (Shaw et al., ICCV-W 2019) in plain torch.

Module names follow the public release, so its checkpoints load with ``strict=True`` and no renaming.
The genotypes and hyperparameters are data (``SQUEEZENAS_CONFIGS`` in squeezenas_configs.py, which needs no
torch), as in the public code.

Two changes from the public code, neither of which alters its results at the sizes it runs:
- upsampling resizes to the target feature map's size (``size=``) rather than by a scale factor, so
  inputs that are not multiples of 16 work and TensorRT accepts the exported Resize;
- the LR-ASPP gate's 49-wide pooling window shrinks to the feature map when the map is smaller
  (inputs under 784 rows or columns), where the public code crashes.
"""

import re
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .squeezenas_configs import SKIP, SQUEEZENAS_CONFIGS, SqueezeNASConfig

__all__ = ["SQUEEZENAS_CONFIGS", "SqueezeNAS", "SqueezeNASConfig"]


def conv_bn_relu(c_in: int, c_out: int, kernel: int = 1, stride: int = 1, dilation: int = 1,
                 groups: int = 1) -> nn.Sequential:
    padding = (kernel - 1) // 2 * dilation
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, padding, dilation, groups, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class _NamedConvBNReLU(nn.Module):
    """conv -> BN -> ReLU with the ``conv``/``bn`` names the public decoders use."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 1, dilation: int = 1, groups: int = 1):
        super().__init__()
        padding = (kernel - 1) // 2 * dilation
        self.conv = nn.Conv2d(c_in, c_out, kernel, 1, padding, dilation, groups, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


def inverse_residual(op_name: str, c_in: int, c_out: int, stride: int) -> nn.Sequential:
    m = re.fullmatch(r"inverse_residual_k(\d)_e(\d)_g(\d)(_d2)?", op_name)
    if not m:
        raise ValueError(f"unknown SqueezeNAS op {op_name!r}")
    kernel, expansion, groups = int(m.group(1)), int(m.group(2)), int(m.group(3))
    dilation = 2 if m.group(4) else 1
    hidden = int(round(c_in * expansion))
    return nn.Sequential(
        nn.Conv2d(c_in, hidden, 1, groups=groups, bias=False),
        nn.BatchNorm2d(hidden),
        nn.ReLU(inplace=True),
        nn.Conv2d(hidden, hidden, kernel, stride, (kernel - 1) // 2 * dilation, dilation, groups=hidden,
                  bias=False),
        nn.BatchNorm2d(hidden),
        nn.ReLU(inplace=True),
        nn.Conv2d(hidden, c_out, 1, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    )


class _Projection(nn.Module):
    """``residual_skipish`` where it cannot be the identity at stride 1: ReLU -> 1x1 conv -> BN."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.op = nn.Sequential(nn.ReLU(inplace=False), nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class SuperBlock(nn.Module):
    """One searched block: the chosen op, plus the input when stride is 1 and channels match."""

    def __init__(self, op_name: str, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.residual = stride == 1 and c_in == c_out
        if op_name == SKIP:
            if self.residual:
                self.op = None  # the identity: the block adds nothing
            elif stride == 1:
                self.op = _Projection(c_in, c_out)
            else:
                raise ValueError("residual_skipish with stride 2 does not occur in the published networks")
            self.residual = False
        else:
            self.op = inverse_residual(op_name, c_in, c_out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.op is None:
            return x
        out = self.op(x)
        return out + x if self.residual else out


class Encoder(nn.Module):
    def __init__(self, config: SqueezeNASConfig):
        super().__init__()
        self.skip_index = config.skip_output_block_index
        self.conv1 = conv_bn_relu(3, config.init_channels, 3, stride=2)
        blocks: List[SuperBlock] = []
        self.block_channels: List[int] = []
        c_in = config.init_channels
        ops = iter(config.genotype)
        for group in config.blocks:
            for i in range(group.num_repeat):
                blocks.append(SuperBlock(next(ops), c_in, group.num_channels, group.stride if i == 0 else 1))
                c_in = group.num_channels
                self.block_channels.append(c_in)
        self.residuals = nn.ModuleList(blocks)
        self.last_conv = conv_bn_relu(c_in, config.last_channels) if config.last_channels else None
        self.out_channels = config.last_channels or c_in

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        x = self.conv1(x)
        skip = x
        for i, block in enumerate(self.residuals):
            x = block(x)
            if i == self.skip_index:
                skip = x
        if self.last_conv is not None:
            x = self.last_conv(x)
        return x, skip


def _resize(x: torch.Tensor, size: Sequence[int], align_corners: bool) -> torch.Tensor:
    return F.interpolate(x, size=(int(size[0]), int(size[1])), mode="bilinear", align_corners=align_corners)


class LRASPP(nn.Module):
    """Lite R-ASPP decoder of the small and large networks."""

    GATE_KERNEL = 49
    GATE_STRIDE = (16, 20)

    def __init__(self, high_channels: int, low_channels: int, mid_channels: int, num_classes: int):
        super().__init__()
        self._1x1_TL = _NamedConvBNReLU(high_channels, mid_channels)
        self._1x1_BL = nn.Conv2d(high_channels, mid_channels, 1)
        self._1x1_TR = nn.Conv2d(mid_channels, num_classes, 1)
        self._1x1_BR = nn.Conv2d(low_channels, num_classes, 1)

    def forward(self, high: torch.Tensor, low: torch.Tensor, out_size: Sequence[int]) -> torch.Tensor:
        h, w = high.shape[-2:]
        kernel = (min(self.GATE_KERNEL, int(h)), min(self.GATE_KERNEL, int(w)))
        gate = F.avg_pool2d(high, kernel, self.GATE_STRIDE)
        gate = torch.sigmoid(self._1x1_BL(gate))
        x = self._1x1_TL(high) * _resize(gate, (h, w), align_corners=False)
        x = self._1x1_TR(_resize(x, low.shape[-2:], align_corners=False))
        x = x + self._1x1_BR(low)
        return _resize(x, out_size, align_corners=True)


class ASPP(nn.Module):
    """ASPP of the xlarge networks: 1x1, three dilated depthwise 3x3, and image pooling."""

    def __init__(self, in_channels: int, mid_channels: int):
        super().__init__()
        self._1x1_1_conv = _NamedConvBNReLU(in_channels, mid_channels)
        self._3x3_1_conv = _NamedConvBNReLU(in_channels, mid_channels, 3, dilation=6, groups=mid_channels)
        self._3x3_2_conv = _NamedConvBNReLU(in_channels, mid_channels, 3, dilation=12, groups=mid_channels)
        self._3x3_3_conv = _NamedConvBNReLU(in_channels, mid_channels, 3, dilation=18, groups=mid_channels)
        self._1x1_2_conv = _NamedConvBNReLU(4 * mid_channels + in_channels, mid_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean(dim=(2, 3), keepdim=True).expand_as(x)  # global pool, nearest resize back
        parts = [self._1x1_1_conv(x), self._3x3_1_conv(x), self._3x3_2_conv(x), self._3x3_3_conv(x), pooled]
        return self._1x1_2_conv(torch.cat(parts, dim=1))


class SqueezeNAS(nn.Module):
    """A SqueezeNAS network for ``num_classes`` classes; returns logits at the input resolution."""

    def __init__(self, config: SqueezeNASConfig, num_classes: int = 19):
        super().__init__()
        self.config = config
        self.num_classes = num_classes
        self.encoder = Encoder(config)
        low_channels = self.encoder.block_channels[config.skip_output_block_index]
        if config.decoder == "lr_aspp":
            self.decoder = LRASPP(self.encoder.out_channels, low_channels, config.mid_channels, num_classes)
        elif config.decoder == "aspp":
            self.decoder = ASPP(self.encoder.out_channels, config.mid_channels)
            self.lowlevel1x1 = nn.Conv2d(low_channels, low_channels, 1)
            merged = config.mid_channels + low_channels
            self.logits2 = _NamedConvBNReLU(merged, merged, 3, groups=merged)
            self.logits3 = nn.Conv2d(merged, num_classes, 1)
        else:
            raise ValueError(f"unknown decoder {config.decoder!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out_size = x.shape[-2:]
        high, low = self.encoder(x)
        if self.config.decoder == "lr_aspp":
            return self.decoder(high, low, out_size)
        x = _resize(self.decoder(high), low.shape[-2:], align_corners=True)
        x = torch.cat([x, self.lowlevel1x1(low)], dim=1)
        x = self.logits3(self.logits2(x))
        return _resize(x, out_size, align_corners=True)
