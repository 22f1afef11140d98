"""The segmentation losses: cross-entropy, OHEM cross-entropy, and the auxiliary head's share."""
# Python 3.8 target: typing.List/Dict/Optional/Tuple stay (no builtin generics, no X | Y).

import math
from typing import Any, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import RailSegError
from ..labels import IGNORE_ID
from .config import LOSSES


def _pixel_losses(logits: torch.Tensor, target: torch.Tensor, ignore_index: int,
                  weight: Optional[torch.Tensor]) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Cross-entropy of each pixel not equal to ``ignore_index`` (flat), and the weight of its true class."""
    pixel = F.cross_entropy(logits.float(), target.long(), ignore_index=ignore_index, reduction="none").flatten()
    valid = target.flatten() != ignore_index
    scale = weight[target.flatten()[valid].long()] if weight is not None else None
    return pixel[valid], scale


def ohem_cross_entropy(logits: torch.Tensor, target: torch.Tensor, ignore_index: int = IGNORE_ID,
                       thresh: float = 0.7, min_kept: int = 100_000,
                       weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Online hard example mining cross-entropy (as Fast-SCNN's public training code).

    Of the pixels not equal to ``ignore_index``, keeps those whose true-class probability is below
    ``thresh``; when fewer than ``min_kept`` are, keeps the ``min_kept`` hardest (all, when there are fewer
    valid pixels). Returns the mean cross-entropy of the kept pixels, each times ``weight`` of its true
    class where given (hardness is judged without the weight).
    """
    losses, scale = _pixel_losses(logits, target, ignore_index, weight)
    count = losses.numel()
    if count == 0:
        return logits.sum() * 0.0  # keeps the graph: a batch of ignore pixels contributes nothing
    weighted = losses * scale if scale is not None else losses
    if count <= min_kept:
        return weighted.mean()
    with torch.no_grad():
        hard = losses > -math.log(thresh)  # p = exp(-CE) < thresh
        kept = int(hard.sum())
    if kept >= min_kept:
        return weighted[hard].mean()
    return weighted[torch.topk(losses, min_kept, sorted=False).indices].mean()


class SegLoss(nn.Module):
    """Cross-entropy or OHEM on the main output, plus ``aux_weight`` times the same on the auxiliary one."""

    def __init__(self, kind: str = "ce", ignore_index: int = IGNORE_ID, thresh: float = 0.7,
                 min_kept: int = 100_000, aux_weight: float = 0.4, class_weights: Optional[Sequence[float]] = None):
        super().__init__()
        if kind not in LOSSES:
            raise RailSegError(f"--loss {kind!r}: choose one of {', '.join(LOSSES)}")
        self.kind, self.ignore_index, self.thresh, self.min_kept = kind, ignore_index, thresh, min_kept
        self.aux_weight = aux_weight
        # a buffer, so that it follows the module to the training device
        self.register_buffer("weight", torch.tensor(class_weights, dtype=torch.float32) if class_weights else None)

    def single(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.kind == "ohem":
            return ohem_cross_entropy(logits, target, self.ignore_index, self.thresh, self.min_kept, self.weight)
        if self.weight is None:
            return F.cross_entropy(logits.float(), target.long(), ignore_index=self.ignore_index)
        # the mean of weighted pixel losses (not F.cross_entropy's weighted mean, which divides by the weights:
        # that would undo a weight on a class that fills the batch)
        losses, scale = _pixel_losses(logits, target, self.ignore_index, self.weight)
        return (losses * scale).mean() if losses.numel() else logits.sum() * 0.0

    def forward(self, outputs: Any, target: torch.Tensor) -> torch.Tensor:
        if isinstance(outputs, (tuple, list)):
            loss = self.single(outputs[0], target)
            for aux in outputs[1:]:
                loss = loss + self.aux_weight * self.single(aux, target)
            return loss
        return self.single(outputs, target)
