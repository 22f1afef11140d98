"""The training run: set-up, restore from ``last.pt``, epochs of steps, validation and checkpoints.

:func:`train` is the whole run; the steps below it each do one thing, in the order a run needs them:
:func:`_saved_state` (``--resume``), :func:`_build` (model, data, optimizer), :func:`_restore`, then per
epoch :func:`_run_epoch` and :func:`_checkpoint`.
"""
# Python 3.8 target: typing.List/Dict/Optional/Tuple stay (no builtin generics, no X | Y).

import contextlib
import math
import os
import sys
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from ..errors import RailSegError
from ..labels import IGNORE_ID, get_label_set
from ..metrics import ConfusionMatrix
from ..model_card import ModelCard
from ..nets import build_model, get_architecture
from .artifacts import STATE_FORMAT, plain_state, read_state, save_best, save_checkpoint, write_config, write_progress
from .augment import color_jitter
from .config import RUNTIME_FIELDS, TrainConfig, check_config, class_weight_vector, lr_at, parse_data_spec
from .data import EpochBatches, FrameSource, TrainSet, build_datasets, collate
from .losses import SegLoss
from .weight_init import InitReport, init_weights


@dataclass
class TrainResult:
    best_miou: float  # on [0, 1]
    best_epoch: int  # 1-based
    best_path: Path
    card_path: Path
    last_path: Path
    out: Path
    history: List[Dict[str, float]]  # one row of log.csv per epoch, the resumed part included
    step_lrs: List[float] = field(default_factory=list)  # learning rate of each step this call ran
    step_losses: List[float] = field(default_factory=list)
    first_step: int = 0  # global step of step_lrs[0]
    init: Optional[InitReport] = None
    warnings: List[str] = field(default_factory=list)


def _guard_batchnorm(model: nn.Module) -> List[Any]:
    """BatchNorm on one value per channel (batch 1 through a 1x1 map) uses its running statistics
    instead of failing; every other call trains normally."""

    def before(module: nn.Module, inputs: Tuple[torch.Tensor, ...]) -> None:
        x = inputs[0]
        if module.training and x.numel() <= x.shape[1]:
            module._rail_seg_frozen = True  # type: ignore[assignment]
            module.training = False

    def after(module: nn.Module, _inputs: Any, _output: Any) -> None:
        if getattr(module, "_rail_seg_frozen", False):
            module._rail_seg_frozen = False  # type: ignore[assignment]
            module.training = True

    handles = []
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            handles.append(module.register_forward_pre_hook(before))
            handles.append(module.register_forward_hook(after))
    return handles


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RailSegError("--device cuda: torch sees no CUDA device here (use --device cpu)")
    return torch.device(name)


def _grad_scaler(enabled: bool) -> Any:
    scaler_cls = getattr(torch.amp, "GradScaler", None)
    if scaler_cls is not None:  # torch >= 2.3
        return scaler_cls("cuda", enabled=enabled)
    return torch.cuda.amp.GradScaler(enabled=enabled)  # JetPack 5's torch 2.0/2.1


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    return torch.optim.Adam(params, lr=config.lr, betas=(config.momentum, 0.999), weight_decay=config.weight_decay)


class _Reporter:
    def __init__(self, verbose: bool):
        self.verbose = verbose
        self.warnings: List[str] = []

    def info(self, message: str) -> None:
        if self.verbose:
            from tqdm.auto import tqdm

            tqdm.write(message, file=sys.stderr)

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        print(f"warning: {message}", file=sys.stderr)


@contextlib.contextmanager
def _threads(count: int) -> Iterator[None]:
    """torch's CPU threads set to ``count`` for the block (0: torch's default, one per physical core)."""
    before = torch.get_num_threads()
    torch.set_num_threads(count or before)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.default_rng([seed, epoch, 13]).integers(0, 2 ** 62))


def evaluate(model: nn.Module, preprocess: nn.Module, frames: FrameSource, num_classes: int, device: torch.device,
             batch: int = 8, amp: bool = False, channels_last: bool = False) -> ConfusionMatrix:
    """Confusion matrix of ``model`` (eval mode) over ``frames``."""
    matrix = ConfusionMatrix(num_classes)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(frames), batch):
                images, labels = frames.batch(range(start, min(len(frames), start + batch)))
                x = preprocess(torch.from_numpy(images).to(device))
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast(device.type, enabled=amp):
                    out = model(x)
                if isinstance(out, (tuple, list)):
                    out = out[0]
                matrix.update(out.argmax(dim=1).to(torch.uint8).cpu().numpy(), labels)
    finally:
        model.train(was_training)
    return matrix


def train(config: TrainConfig, progress: bool = True, stop_after_epochs: Optional[int] = None,
          verbose: bool = True) -> TrainResult:
    """Train (or with ``config.resume``, continue) a run; see the package docstring for what it writes.

    ``progress``: tqdm bars (rendering, loading, each epoch with loss and lr); ``verbose``: a line per epoch
    and what was loaded, on stderr (warnings are printed either way). ``stop_after_epochs`` ends the call
    after that many epochs in all while the schedule still plans for ``config.epochs`` (a run split in
    parts; continue it with ``resume``).
    """
    config = check_config(config)
    with _threads(config.threads):
        return _train(config, progress, verbose, stop_after_epochs)


@dataclass
class _Run:
    """What the steps of a run share: the config and everything built from it (fixed for the run)."""

    config: TrainConfig
    out: Path
    device: torch.device
    amp: bool
    num_classes: int
    model: nn.Module
    preprocess: nn.Module
    optimizer: torch.optim.Optimizer
    scaler: Any
    criterion: SegLoss
    train_frames: FrameSource
    val_frames: FrameSource
    batches: EpochBatches
    init: Optional[InitReport]


@dataclass
class _Progress:
    """Where a run stands: read back from ``last.pt`` on ``--resume``, advanced by every epoch."""

    steps_per_epoch: int
    total_steps: int
    epoch: int = 0  # epochs done
    step: int = 0  # global steps done
    best_miou: float = -1.0
    best_epoch: int = 0
    history: List[Dict[str, float]] = field(default_factory=list)
    step_losses: List[float] = field(default_factory=list)  # every step of the run, the resumed part included


def _train(config: TrainConfig, progress: bool, verbose: bool, stop_after_epochs: Optional[int]) -> TrainResult:
    report = _Reporter(verbose)
    state = _saved_state(config)
    run = _build(config, report, fresh=state is None, progress=progress)
    at = _restore(run, state, report)
    write_config(run.out, config)
    dataset = TrainSet(run.train_frames, config.augment, tuple(config.scale_range), config.seed)
    loader = torch.utils.data.DataLoader(
        dataset, batch_sampler=run.batches, collate_fn=collate, num_workers=config.workers,
        pin_memory=run.device.type == "cuda", persistent_workers=config.workers > 0)
    hooks = _guard_batchnorm(run.model)
    out = run.out
    result = TrainResult(at.best_miou, at.best_epoch, out / "best.pt", out / "best.yaml", out / "last.pt", out,
                         at.history, first_step=at.step, init=run.init, warnings=report.warnings)
    last_epoch = config.epochs if stop_after_epochs is None else min(config.epochs, stop_after_epochs)
    run.model.train()
    try:
        for epoch in range(at.epoch, last_epoch):
            started = time.perf_counter()
            losses, lr = _run_epoch(run, at, loader, epoch, result, progress)
            row, improved = _checkpoint(run, at, epoch, losses, lr, started)
            report.info(f"epoch {epoch + 1}/{config.epochs}: loss {row['train_loss']:.4f}, lr {lr:.2e}, "
                        f"val mIoU {100 * row['val_miou']:.2f} %, pixel acc {100 * row['val_pixel_acc']:.2f} %"
                        f"{' (best)' if improved else ''}, {row['seconds']:.1f} s")
    finally:
        for handle in hooks:
            handle.remove()
    result.best_miou, result.best_epoch = at.best_miou, at.best_epoch
    return result


def _saved_state(config: TrainConfig) -> Optional[Dict[str, Any]]:
    """The ``last.pt`` of ``--resume`` (None without), refused when the run was configured otherwise."""
    if not config.resume:
        return None
    state = read_state(config.resume)
    saved = TrainConfig.from_dict(state["config"])
    changed = [f.name for f in fields(TrainConfig)
               if f.name not in RUNTIME_FIELDS and getattr(saved, f.name) != getattr(config, f.name)]
    if changed:
        raise RailSegError(f"--resume {config.resume}: the run was configured with other {', '.join(changed)}; "
                           f"resume with the same settings or start a new run")
    return state


def _runtime(config: TrainConfig, report: _Reporter) -> Tuple[torch.device, bool, bool]:
    """(device, mixed precision, auxiliary head): what was asked for, less what this machine or net lacks."""
    device = _device(config.device)
    amp = bool(config.amp)
    if amp and device.type != "cuda":
        report.warn("--amp needs CUDA; training in float32 on the CPU")
        amp = False
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    arch = get_architecture(config.model)
    use_aux = bool(config.aux)
    if use_aux and config.model != "fast_scnn":
        report.warn(f"--aux: {arch.name} has no auxiliary head; training without")
        use_aux = False
    kind = parse_data_spec(config.data)[0]
    if kind in ("railsem19", "cityscapes") and kind != config.label_set:
        report.warn(f"--data is {kind} but --label-set {config.label_set}: ids are taken as {config.label_set} ids")
    return device, amp, use_aux


def _build(config: TrainConfig, report: _Reporter, fresh: bool, progress: bool) -> _Run:
    """Model (seeded, ``--init`` loaded on a fresh run), data, preprocessing, optimizer and loss."""
    from ..graph import Preprocess

    device, amp, use_aux = _runtime(config, report)
    labels = get_label_set(config.label_set)
    torch.manual_seed(config.seed)
    model = build_model(config.model, labels.num_classes, aux=use_aux)
    init_report = None
    if config.init and fresh:  # before the data: a missing checkpoint shows at once
        init_report = init_weights(model, config.init, config.model, config.reinit_classifier)

    train_frames, val_frames = build_datasets(config, progress, report.warn)
    report.info(f"data: {len(train_frames)} training frames ({train_frames.name}), "
                f"{len(val_frames)} validation frames ({val_frames.name}), at {config.size[0]}x{config.size[1]}")
    for line in init_report.lines() if init_report else []:
        report.info(line)
    if len(train_frames) < config.batch:
        report.warn(f"{len(train_frames)} training frames are fewer than --batch {config.batch}: "
                    f"one batch of {len(train_frames)} an epoch")
    if min(config.batch, len(train_frames)) == 1:
        report.warn("batch of 1: BatchNorm layers that would see a single value use their running statistics")
    model.to(device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    card_for_norm = ModelCard(name="train", architecture=config.model, label_set=config.label_set,
                              input_size=tuple(config.size), color_order="rgb")
    return _Run(
        config=config, out=Path(os.path.expanduser(config.out)), device=device, amp=amp,
        num_classes=labels.num_classes, model=model, preprocess=Preprocess(card_for_norm).to(device),
        optimizer=make_optimizer(model, config), scaler=_grad_scaler(amp),
        criterion=SegLoss(config.loss, IGNORE_ID, config.ohem_thresh, config.ohem_min_kept, config.aux_weight,
                          class_weight_vector(config)).to(device),
        train_frames=train_frames, val_frames=val_frames,
        batches=EpochBatches(len(train_frames), config.batch, config.seed), init=init_report)


def _restore(run: _Run, state: Optional[Dict[str, Any]], report: _Reporter) -> _Progress:
    """A fresh start, or model, optimizer, scaler, counters and history from ``state`` (``last.pt``)."""
    steps_per_epoch = len(run.batches)
    at = _Progress(steps_per_epoch, steps_per_epoch * run.config.epochs)
    if state is None:
        return at
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    if state.get("scaler"):
        run.scaler.load_state_dict(state["scaler"])
    at.epoch, at.step = int(state["epoch"]), int(state["step"])
    at.best_miou, at.best_epoch = float(state["best_miou"]), int(state["best_epoch"])
    at.history = [dict(row) for row in state["history"]]
    at.step_losses = [float(v) for v in state.get("step_losses", [])]
    if int(state["total_steps"]) != at.total_steps:
        report.warn(f"the data now gives {at.total_steps} steps, the run planned {int(state['total_steps'])}; "
                    f"keeping the planned schedule")
        at.total_steps = int(state["total_steps"])
        at.steps_per_epoch = int(state["steps_per_epoch"])
    report.info(f"resuming {run.config.resume} after epoch {at.epoch} (step {at.step}, best mIoU "
                f"{100 * max(at.best_miou, 0):.2f} %)")
    return at


def _training_state(run: _Run, at: _Progress, lr: float) -> Dict[str, Any]:
    """``last.pt``: everything :func:`_restore` reads back, plain tensors and values (``weights_only``)."""
    config = run.config
    return {
        "format": STATE_FORMAT, "config": config.to_dict(), "model": plain_state(run.model),
        "optimizer": run.optimizer.state_dict(), "scaler": run.scaler.state_dict() if run.amp else {},
        "epoch": at.epoch, "step": at.step, "total_steps": at.total_steps, "steps_per_epoch": at.steps_per_epoch,
        "lr": lr, "next_lr": lr_at(at.step, at.total_steps, config), "best_miou": at.best_miou,
        "best_epoch": at.best_epoch, "seed": config.seed, "history": at.history, "step_losses": at.step_losses}


def _run_epoch(run: _Run, at: _Progress, loader: Any, epoch: int, result: TrainResult,
               progress: bool) -> Tuple[List[float], float]:
    """The steps of one epoch: (their losses, the last step's learning rate)."""
    from tqdm.auto import tqdm

    config = run.config
    run.batches.epoch = epoch
    torch.manual_seed(_epoch_seed(config.seed, epoch))  # dropout of this epoch, resumed or not
    losses: List[float] = []
    lr = lr_at(at.step, at.total_steps, config)
    bar = tqdm(loader, total=at.steps_per_epoch, desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch",
               disable=not progress, leave=False, dynamic_ncols=True)
    for images, target, jitter in bar:
        lr = lr_at(at.step, at.total_steps, config)
        value = _step(run, images, target, jitter, lr)
        if not math.isfinite(value):
            raise RailSegError(f"training diverged at step {at.step} (loss {value}); lower --lr")
        losses.append(value)
        result.step_lrs.append(lr)
        result.step_losses.append(value)
        at.step += 1
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}", lr=f"{lr:.2e}", refresh=False)
    bar.close()
    return losses, lr


def _step(run: _Run, images: torch.Tensor, target: torch.Tensor, jitter: torch.Tensor, lr: float) -> float:
    """One optimizer step at ``lr`` on a batch; returns its loss."""
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    images = images.to(run.device, non_blocking=True)
    target = target.to(run.device, non_blocking=True).long()
    if "color" in run.config.augment:
        images = color_jitter(images, jitter.to(run.device))
    x = run.preprocess(images)
    if run.config.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.autocast(run.device.type, enabled=run.amp):
        outputs = run.model(x)
    loss = run.criterion(outputs, target)
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    run.scaler.step(run.optimizer)
    run.scaler.update()
    return float(loss.detach())


def _checkpoint(run: _Run, at: _Progress, epoch: int, losses: List[float], lr: float,
                started: float) -> Tuple[Dict[str, float], bool]:
    """Validate after an epoch, record it, write best (when it improved), last, log and curves.

    Returns (the epoch's log row, whether it is the best so far)."""
    config = run.config
    at.step_losses += losses
    matrix = evaluate(run.model, run.preprocess, run.val_frames, run.num_classes, run.device, max(1, config.batch),
                      run.amp, config.channels_last)
    miou, accuracy = matrix.miou(), matrix.pixel_accuracy()
    miou = 0.0 if math.isnan(miou) else miou
    row = {"epoch": epoch + 1, "step": at.step, "lr": lr, "train_loss": float(np.mean(losses)),
           "val_miou": miou, "val_pixel_acc": accuracy, "seconds": time.perf_counter() - started}
    at.history.append(row)
    at.epoch = epoch + 1
    improved = miou > at.best_miou
    if improved:
        at.best_miou, at.best_epoch = miou, epoch + 1
        save_best(run.out, run.model, config, miou, epoch + 1)
    save_checkpoint(run.out / "last.pt", _training_state(run, at, lr))
    write_progress(run.out, config, at.history, at.step_losses, at.steps_per_epoch)
    return row, improved
