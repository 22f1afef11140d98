"""What a run leaves in its folder: config.yaml, best.pt with its card best.yaml, last.pt (the training
state ``--resume`` reads back), log.csv and curves.png."""
# Python 3.8 target: typing.List/Dict/Optional/Tuple stay (no builtin generics, no X | Y).

import csv
import io
import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, List, Sequence

import numpy as np
import torch
import yaml
from torch import nn

from ..errors import RailSegError
from ..fileio import atomic_path, atomic_write_bytes, atomic_write_text
from ..model_card import IMAGENET_MEAN, IMAGENET_STD, ModelCard, validate_card
from .config import RUNTIME_FIELDS, TrainConfig, check_config

STATE_FORMAT = "rail_seg_ros.train/1"
LOG_COLUMNS = ("epoch", "step", "lr", "train_loss", "val_miou", "val_pixel_acc", "seconds")


def command_line(config: TrainConfig) -> str:
    """The ``rail-seg train`` command that reproduces ``config`` (recorded in the card's source)."""
    parts = ["rail-seg train", f"--model {config.model}"]
    if config.init:
        parts.append(f"--init {config.init}")
    parts.append(f"--data {config.data}")
    if config.val:
        parts.append(f"--val {config.val}")
    parts += [f"--recipe {config.recipe}", f"--epochs {config.epochs}", f"--batch {config.batch}",
              f"--lr {config.lr:g}", f"--lr-end {config.lr_end:g}", f"--optimizer {config.optimizer}",
              f"--momentum {config.momentum:g}", f"--weight-decay {config.weight_decay:g}",
              f"--schedule {config.schedule}", f"--loss {config.loss}"]
    if config.aux:
        parts.append("--aux")
    parts += [f"--size {config.size[0]}x{config.size[1]}", f"--augment {','.join(config.augment) or 'none'}",
              f"--label-set {config.label_set}", f"--seed {config.seed}"]
    return " ".join(parts)


def write_log(path: Path, history: List[Dict[str, float]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(LOG_COLUMNS)
    for row in history:
        writer.writerow([int(row["epoch"]), int(row["step"]), f"{row['lr']:.6g}", f"{row['train_loss']:.5f}",
                         f"{row['val_miou']:.5f}", f"{row['val_pixel_acc']:.5f}", f"{row['seconds']:.2f}"])
    atomic_write_text(path, buffer.getvalue())


def plot_curves(path: Path, history: List[Dict[str, float]], step_losses: Sequence[float],
                steps_per_epoch: int, title: str = "") -> None:
    """Training loss (per step and per epoch) on the left, validation mIoU and pixel accuracy on the right."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

    fig = Figure(figsize=(11, 4), dpi=100)
    FigureCanvasAgg(fig)
    loss_ax, val_ax = fig.subplots(1, 2)
    epochs = [row["epoch"] for row in history]
    if len(step_losses):
        x = np.arange(1, len(step_losses) + 1) / float(max(steps_per_epoch, 1))
        loss_ax.plot(x, step_losses, color="tab:blue", alpha=0.3, linewidth=0.8, label="per step")
    loss_ax.plot(epochs, [row["train_loss"] for row in history], "o-", color="tab:blue", label="epoch mean")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("training loss")
    if len(step_losses) and min(step_losses) > 0:
        loss_ax.set_yscale("log")
        plain = FuncFormatter(lambda value, _pos: f"{value:g}")
        loss_ax.yaxis.set_major_formatter(plain)
        # minor ticks labelled within a decade only, where the majors are too few to read values off
        loss_ax.yaxis.set_minor_formatter(plain if max(step_losses) < 10 * min(step_losses) else NullFormatter())
    loss_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    loss_ax.grid(True, alpha=0.3)
    loss_ax.legend(loc="upper right")
    val_ax.plot(epochs, [100 * row["val_miou"] for row in history], "o-", color="tab:green", label="mIoU")
    val_ax.plot(epochs, [100 * row["val_pixel_acc"] for row in history], "s--", color="tab:gray",
                label="pixel accuracy")
    if history:
        best = max(history, key=lambda r: r["val_miou"])
        val_ax.annotate(f"best {100 * best['val_miou']:.1f} %", (best["epoch"], 100 * best["val_miou"]),
                        textcoords="offset points", xytext=(0, -14), ha="center", fontsize=8)
    val_ax.set_xlabel("epoch")
    val_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    val_ax.set_ylabel("validation (%)")
    val_ax.set_ylim(0, 100)
    val_ax.grid(True, alpha=0.3)
    val_ax.legend(loc="lower right")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())


def save_checkpoint(path: Path, obj: Any) -> None:
    """``torch.save`` under a temporary name, then renamed."""
    with atomic_path(path) as tmp:
        torch.save(obj, str(tmp))


def plain_state(model: nn.Module, drop_aux: bool = False) -> Dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()
            if not (drop_aux and k.startswith("auxlayer."))}


def best_card(config: TrainConfig, out: Path, miou: float, epoch: int) -> ModelCard:
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in out.resolve().name) or "trained"
    card = ModelCard(
        name=name, architecture=config.model, label_set=config.label_set, input_size=tuple(config.size),
        resize="stretch", color_order="rgb", mean=IMAGENET_MEAN, std=IMAGENET_STD, weights="best.pt",
        source=command_line(config),
        description=f"{config.model} trained on {config.data}: validation mIoU {100 * miou:.2f} % "
                    f"at epoch {epoch} ({config.size[0]}x{config.size[1]})")
    return validate_card(card)


def read_state(run_dir: str) -> Dict[str, Any]:
    """The training state ``last.pt`` of a run folder (read with ``weights_only=True``)."""
    path = Path(os.path.expanduser(run_dir))
    if path.is_dir():
        path = path / "last.pt"
    if not path.is_file():
        raise RailSegError(f"--resume {run_dir}: no last.pt there (a run writes it after its first epoch)")
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RailSegError(f"--resume {path}: not a readable training state ({first})") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise RailSegError(f"--resume {path}: not a rail-seg training state")
    return state


def resume_config(run_dir: str, **runtime: Any) -> TrainConfig:
    """The config of the run in ``run_dir``, set to resume it; only :data:`RUNTIME_FIELDS` may be changed."""
    bad = sorted(set(runtime) - set(RUNTIME_FIELDS))
    if bad:
        raise RailSegError(f"--resume continues the run as it was configured; {', '.join(bad)} cannot change "
                           f"(start a new run with --init {run_dir}/last.pt instead)")
    config = TrainConfig.from_dict(read_state(run_dir)["config"])
    values = {k: v for k, v in runtime.items() if v is not None}
    values.setdefault("out", config.out if Path(config.out).resolve() == Path(run_dir).resolve() else run_dir)
    return check_config(replace(config, resume=run_dir, **values))


def write_config(out: Path, config: TrainConfig) -> None:
    """Create the run folder and write its ``config.yaml`` (what the run computes, without resume)."""
    out.mkdir(parents=True, exist_ok=True)
    config_text = yaml.safe_dump(replace(config, resume=None, out=str(out)).to_dict(), sort_keys=False)
    atomic_write_text(out / "config.yaml", config_text)


def save_best(out: Path, model: nn.Module, config: TrainConfig, miou: float, epoch: int) -> None:
    """``best.pt`` (plain state_dict without the auxiliary head) and its card ``best.yaml``."""
    save_checkpoint(out / "best.pt", plain_state(model, drop_aux=True))
    atomic_write_text(out / "best.yaml", best_card(config, out, miou, epoch).to_yaml())


def write_progress(out: Path, config: TrainConfig, history: List[Dict[str, float]], step_losses: Sequence[float],
                   steps_per_epoch: int) -> None:
    """``log.csv`` and ``curves.png`` of the epochs so far."""
    write_log(out / "log.csv", history)
    plot_curves(out / "curves.png", history, step_losses, steps_per_epoch,
                f"{config.model} on {config.data}, {config.size[0]}x{config.size[1]}")
