"""The six SqueezeNAS networks' genotypes and hyperparameters as data, as in the public code.

No torch here: the registry, model cards and the ONNX Runtime path read these on machines without it.
"""

import re
from dataclasses import dataclass
from typing import Dict, Optional, Tuple


@dataclass(frozen=True)
class BlockGroup:
    num_channels: int
    num_repeat: int
    stride: int


@dataclass(frozen=True)
class SqueezeNASConfig:
    genotype: Tuple[str, ...]
    init_channels: int
    blocks: Tuple[BlockGroup, ...]
    skip_output_block_index: int
    mid_channels: int
    last_channels: Optional[int]
    decoder: str  # "lr_aspp" or "aspp"


def _groups(*spec: Tuple[int, int, int]) -> Tuple[BlockGroup, ...]:
    return tuple(BlockGroup(*s) for s in spec)


_SMALL = _groups((16, 4, 2), (24, 4, 2), (40, 4, 2), (48, 4, 1), (96, 4, 1))
_LARGE = _groups((16, 1, 1), (24, 4, 2), (32, 4, 2), (64, 4, 2), (96, 4, 1), (160, 4, 1), (160, 1, 1))
_XLARGE = _groups((24, 1, 1), (32, 4, 2), (48, 4, 2), (96, 4, 2), (144, 4, 1), (240, 4, 1), (320, 1, 1))

SKIP = "residual_skipish"


def _genotype(text: str) -> Tuple[str, ...]:
    """Genotypes are written compactly: ``k3e1g2`` -> ``inverse_residual_k3_e1_g2``, ``k3e6d2`` adds ``_g1_d2``."""
    ops = []
    for token in text.split():
        if token == "skip":
            ops.append(SKIP)
            continue
        m = re.fullmatch(r"k(\d)e(\d)(?:g(\d))?(d2)?", token)
        if not m:
            raise ValueError(f"bad genotype token {token!r}")
        k, e, g, d2 = m.groups()
        ops.append(f"inverse_residual_k{k}_e{e}_g{g or 1}" + ("_d2" if d2 else ""))
    return tuple(ops)


SQUEEZENAS_CONFIGS: Dict[str, SqueezeNASConfig] = {
    "squeezenas_mac_small": SqueezeNASConfig(
        _genotype("k3e1g2 k3e1 k3e1 k3e1g2 k5e6 k3e1 k3e1 k3e1g2d2 k5e6 k3e6d2 skip k3e1g2 k5e6 k3e3d2 "
                  "k3e1d2 k3e1d2 k3e6d2 k3e1g2d2 k3e1g2d2 k3e1g2d2"),
        16, _SMALL, 7, 128, 256, "lr_aspp"),
    "squeezenas_mac_large": SqueezeNASConfig(
        _genotype("k3e1g2 k3e6 k3e1g2d2 k3e1g2 k3e1g2 k5e6 k5e6 k3e6d2 k5e6 k5e6 k5e6 k5e1 k3e3 k5e6 k3e1 "
                  "k5e1 k3e3d2 k3e6d2 k3e1g2d2 k3e1g2d2 k3e1g2d2 k3e1d2"),
        16, _LARGE, 8, 128, None, "lr_aspp"),
    "squeezenas_mac_xlarge": SqueezeNASConfig(
        _genotype("k3e1g2 k3e3 k3e1g2 k5e1 k3e3d2 k5e6 k5e1g2 k3e1g2d2 k3e3 k5e6 k3e3 skip k3e1g2d2 k5e6 "
                  "k3e1 k5e6 skip k3e6d2 k3e1g2d2 k3e1g2d2 k3e1g2d2 k3e3d2"),
        48, _XLARGE, 4, 160, None, "aspp"),
    "squeezenas_lat_small": SqueezeNASConfig(
        _genotype("k3e1 skip skip skip k3e6 k3e6 skip skip k5e6 k3e6d2 k5e1g2 k3e1g2 k3e6d2 k3e6d2 k3e6d2 "
                  "k3e1d2 k3e6d2 k3e3d2 k3e3d2 k3e3d2"),
        16, _SMALL, 7, 128, 256, "lr_aspp"),
    "squeezenas_lat_large": SqueezeNASConfig(
        _genotype("skip k3e6 k3e3 k3e1d2 k3e3 k5e6 k3e6 k3e3 k3e6d2 k5e6 k5e1 k5e1 k5e1g2 k3e6d2 k3e6d2 "
                  "k3e6d2 k3e1 k3e6d2 k3e6d2 k3e6d2 k3e6d2 k3e6d2"),
        16, _LARGE, 8, 128, None, "lr_aspp"),
    "squeezenas_lat_xlarge": SqueezeNASConfig(
        _genotype("skip k3e3 k3e3 k3e3 k3e1d2 k3e6 k3e3 k5e6 k5e1g2 k5e6 k3e6 k3e1g2d2 k3e6 k5e6 k3e3d2 "
                  "k3e1g2d2 k3e3 k3e6d2 k3e3d2 k5e1 k3e3d2 k3e6d2"),
        48, _XLARGE, 4, 160, None, "aspp"),
}
