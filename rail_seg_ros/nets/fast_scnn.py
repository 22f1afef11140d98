"""Fast-SCNN (Poudel et al., BMVC 2019) in plain torch.

Follows the paper, with the module names of the most widely used public PyTorch implementation so
its checkpoints load strictly. Two departures that keep its results at the sizes it runs:
- the pyramid pooling uses fixed average-pool windows computed from the feature map's size instead of
  adaptive pooling, which ONNX lacks (the windows are exactly adaptive pooling's, at any size);
- upsampling resizes to explicit sizes, which TensorRT accepts everywhere.
"""

from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

PYRAMID_BINS = (1, 2, 3, 6)


class _ConvBNReLU(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int = 3, stride: int = 1, padding: int = 0):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class _DSConv(nn.Module):
    """Depthwise separable convolution: 3x3 depthwise -> BN -> ReLU -> 1x1 -> BN -> ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(c_in, c_in, 3, stride, 1, groups=c_in, bias=False),
            nn.BatchNorm2d(c_in),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class _DWConv(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, groups=c_in, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class LinearBottleneck(nn.Module):
    """MobileNetV2 inverted residual with expansion ``t``."""

    def __init__(self, c_in: int, c_out: int, t: int = 6, stride: int = 2):
        super().__init__()
        self.use_shortcut = stride == 1 and c_in == c_out
        self.block = nn.Sequential(
            _ConvBNReLU(c_in, c_in * t, 1),
            _DWConv(c_in * t, c_in * t, stride),
            nn.Conv2d(c_in * t, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + out if self.use_shortcut else out


def _bin_edges(size: int, bins: int) -> List[Tuple[int, int]]:
    """The windows adaptive pooling uses: [floor(i*n/b), ceil((i+1)*n/b))."""
    return [((i * size) // bins, -((-(i + 1) * size) // bins)) for i in range(bins)]


def _pool_to_bins(x: torch.Tensor, bins: int) -> torch.Tensor:
    """Adaptive average pooling to ``bins`` x ``bins`` with fixed windows, so ONNX and TensorRT take it.

    A single pool when the map divides; otherwise each (overlapping) window separately, exactly as
    ``adaptive_avg_pool2d`` does, which on a 1/32 map is at most 36 tiny reductions.
    """
    h, w = int(x.shape[-2]), int(x.shape[-1])
    if h % bins == 0 and w % bins == 0:
        return F.avg_pool2d(x, (h // bins, w // bins))
    rows = []
    for top, bottom in _bin_edges(h, bins):
        cells = [x[:, :, top:bottom, left:right].mean(dim=(2, 3), keepdim=True) for left, right in _bin_edges(w, bins)]
        rows.append(torch.cat(cells, dim=3))
    return torch.cat(rows, dim=2)


class PyramidPooling(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        inter = c_in // 4
        self.conv1 = _ConvBNReLU(c_in, inter, 1)
        self.conv2 = _ConvBNReLU(c_in, inter, 1)
        self.conv3 = _ConvBNReLU(c_in, inter, 1)
        self.conv4 = _ConvBNReLU(c_in, inter, 1)
        self.out = _ConvBNReLU(c_in * 2, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        feats: List[torch.Tensor] = [x]
        for conv, bins in zip((self.conv1, self.conv2, self.conv3, self.conv4), PYRAMID_BINS):
            feats.append(_resize(conv(_pool_to_bins(x, bins)), size))
        return self.out(torch.cat(feats, dim=1))


class LearningToDownsample(nn.Module):
    def __init__(self, c1: int = 32, c2: int = 48, c_out: int = 64):
        super().__init__()
        self.conv = _ConvBNReLU(3, c1, 3, 2)  # no padding, as in the public implementation
        self.dsconv1 = _DSConv(c1, c2, 2)
        self.dsconv2 = _DSConv(c2, c_out, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dsconv2(self.dsconv1(self.conv(x)))


class GlobalFeatureExtractor(nn.Module):
    def __init__(self, c_in: int = 64, block_channels: Sequence[int] = (64, 96, 128), c_out: int = 128,
                 t: int = 6, num_blocks: Sequence[int] = (3, 3, 3)):
        super().__init__()
        strides = (2, 2, 1)
        layers = []
        for channels, repeats, stride in zip(block_channels, num_blocks, strides):
            blocks = [LinearBottleneck(c_in, channels, t, stride)]
            blocks += [LinearBottleneck(channels, channels, t, 1) for _ in range(1, repeats)]
            layers.append(nn.Sequential(*blocks))
            c_in = channels
        self.bottleneck1, self.bottleneck2, self.bottleneck3 = layers
        self.ppm = PyramidPooling(block_channels[-1], c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ppm(self.bottleneck3(self.bottleneck2(self.bottleneck1(x))))


class FeatureFusionModule(nn.Module):
    def __init__(self, high_channels: int, low_channels: int, c_out: int):
        super().__init__()
        self.dwconv = _DWConv(low_channels, c_out, 1)
        self.conv_lower_res = nn.Sequential(nn.Conv2d(c_out, c_out, 1), nn.BatchNorm2d(c_out))
        self.conv_higher_res = nn.Sequential(nn.Conv2d(high_channels, c_out, 1), nn.BatchNorm2d(c_out))

    def forward(self, high: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        low = self.conv_lower_res(self.dwconv(_resize(low, high.shape[-2:])))
        return F.relu(self.conv_higher_res(high) + low, inplace=True)


class Classifier(nn.Module):
    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.dsconv1 = _DSConv(channels, channels)
        self.dsconv2 = _DSConv(channels, channels)
        self.conv = nn.Sequential(nn.Dropout(0.1), nn.Conv2d(channels, num_classes, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.dsconv2(self.dsconv1(x)))


def _resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    return F.interpolate(x, size=(int(size[0]), int(size[1])), mode="bilinear", align_corners=True)


class FastSCNN(nn.Module):
    """Fast-SCNN for ``num_classes`` classes; returns logits at the input resolution.

    With ``aux=True`` (training) it also returns the auxiliary head's logits as a second output.
    """

    def __init__(self, num_classes: int = 19, aux: bool = False):
        super().__init__()
        self.num_classes = num_classes
        self.aux = aux
        self.learning_to_downsample = LearningToDownsample(32, 48, 64)
        self.global_feature_extractor = GlobalFeatureExtractor(64, (64, 96, 128), 128, 6, (3, 3, 3))
        self.feature_fusion = FeatureFusionModule(64, 128, 128)
        self.classifier = Classifier(128, num_classes)
        if aux:
            self.auxlayer = nn.Sequential(
                nn.Conv2d(64, 32, 3, padding=1, bias=False),
                nn.BatchNorm2d(32),
                nn.ReLU(inplace=True),
                nn.Dropout(0.1),
                nn.Conv2d(32, num_classes, 1),
            )

    # the last step of forward: bilinear resize of low_resolution_logits to the input size, this convention
    FINAL_RESIZE_ALIGN_CORNERS = True

    def forward(self, x: torch.Tensor):  # -> Tensor, or (Tensor, Tensor) with aux in training
        size = x.shape[-2:]
        high = self.learning_to_downsample(x)
        out = _resize(self._classify(high), size)
        if self.aux and self.training:
            return out, _resize(self.auxlayer(high), size)
        return out

    def _classify(self, high: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.feature_fusion(high, self.global_feature_extractor(high)))

    def low_resolution_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The logits before the final upsampling (stride 8)."""
        return self._classify(self.learning_to_downsample(x))

