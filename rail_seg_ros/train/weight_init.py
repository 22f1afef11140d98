"""``--init``: a card's or checkpoint's weights into a model, the classifier afresh where it does not fit."""
# Python 3.8 target: typing.List/Dict/Optional/Tuple stay (no builtin generics, no X | Y).

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import torch
from torch import nn

from ..checkpoints import read_checkpoint
from ..errors import RailSegError
from ..model_card import load_card

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".tar", ".bin")


def classifier_layers(model: nn.Module) -> List[str]:
    """Module names of the convolutions that output class scores (re-initialised for a new label set)."""
    from ..nets.fast_scnn import FastSCNN
    from ..nets.squeezenas import SqueezeNAS

    if isinstance(model, FastSCNN):
        names = ["classifier.conv.1"] + (["auxlayer.4"] if getattr(model, "aux", False) else [])
    elif isinstance(model, SqueezeNAS):
        names = ["decoder._1x1_TR", "decoder._1x1_BR"] if model.config.decoder == "lr_aspp" else ["logits3"]
    else:
        n = getattr(model, "num_classes", None)
        names = [k for k, m in model.named_modules() if isinstance(m, nn.Conv2d) and m.out_channels == n]
    return names


@dataclass
class InitReport:
    """What ``--init`` loaded."""

    source: str
    loaded: int = 0  # tensors copied
    reinitialised: List[str] = field(default_factory=list)  # classifier layers started afresh
    fresh: List[str] = field(default_factory=list)  # layers the checkpoint lacks (the auxiliary head)
    ignored: List[str] = field(default_factory=list)  # checkpoint layers the model lacks (the auxiliary head)
    label_set: Optional[str] = None  # the label set of the card the weights came from, if known

    def lines(self) -> List[str]:
        out = [f"init: {self.loaded} tensors from {self.source}"]
        if self.reinitialised:
            out.append(f"init: classifier re-initialised: {', '.join(self.reinitialised)}")
        else:
            known = f" trained on {self.label_set}" if self.label_set else ""
            out.append(f"init: classifier kept{known} (same class count; --reinit-classifier starts it afresh)")
        if self.fresh:
            out.append(f"init: not in the checkpoint, initialised afresh: {', '.join(self.fresh)}")
        if self.ignored:
            out.append(f"init: in the checkpoint but not used: {', '.join(self.ignored)}")
        return out


def _layer(key: str) -> str:
    return key.rsplit(".", 1)[0]


def init_weights(model: nn.Module, init: str, model_name: str, reinit_classifier: bool = False) -> InitReport:
    """Load ``init`` (a model card with weights, or a checkpoint) into ``model``.

    Every tensor of matching name and shape is loaded; the classifier convolutions are re-initialised when
    their shape differs (another class count) or ``reinit_classifier``; the auxiliary head may be missing on
    either side. Anything else that does not fit means another architecture: an error.
    """
    path = Path(os.path.expanduser(init))
    card = None
    if path.suffix.lower() in (".yaml", ".yml") or not (path.is_file() or path.suffix.lower() in CHECKPOINT_SUFFIXES):
        card = load_card(init)
        if card.architecture != model_name:
            raise RailSegError(f"--init {init}: the card is for {card.architecture}, not --model {model_name}")
        try:
            path = card.weights_path()
        except RailSegError as exc:
            message = str(exc).replace("pass --weights PATH", "pass the checkpoint itself as --init PATH")
            raise RailSegError(f"--init: {message}") from None
    state = read_checkpoint(path)
    own = model.state_dict()
    heads = tuple(h + "." for h in classifier_layers(model))
    report = InitReport(str(path), label_set=card.label_set if card is not None else None)
    take: Dict[str, torch.Tensor] = {}
    misshaped: List[str] = []
    missing: List[str] = []
    for key, value in own.items():
        is_head = key.startswith(heads)
        if key not in state:
            (report.fresh if key.startswith("auxlayer.") or is_head else missing).append(key)
        elif state[key].shape != value.shape and not is_head:
            misshaped.append(f"{key} {tuple(state[key].shape)} != {tuple(value.shape)}")
        elif is_head and (reinit_classifier or state[key].shape != value.shape):
            report.reinitialised.append(key)
        else:
            tensor = state[key]
            take[key] = tensor.to(value.dtype) if tensor.is_floating_point() else tensor
    unexpected = [k for k in state if k not in own]
    report.ignored = sorted({_layer(k) for k in unexpected if k.startswith("auxlayer.")})
    unexpected = [k for k in unexpected if not k.startswith("auxlayer.")]
    problems = []
    for what, keys in (("mis-shaped", misshaped), ("missing", missing), ("unexpected", unexpected)):
        if keys:
            shown = ", ".join(keys[:4]) + (f", ... ({len(keys)} in all)" if len(keys) > 4 else "")
            problems.append(f"{what}: {shown}")
    if problems:
        raise RailSegError(f"--init {init} does not fit {model_name} beyond its classifier: " + "; ".join(problems))
    model.load_state_dict(take, strict=False)
    fresh_heads = {_layer(k) for k in report.reinitialised}
    for name, module in model.named_modules():
        if name in fresh_heads and hasattr(module, "reset_parameters"):
            module.reset_parameters()
    report.loaded = len(take)
    report.reinitialised = sorted(fresh_heads)
    report.fresh = sorted({_layer(k) for k in report.fresh})
    return report
