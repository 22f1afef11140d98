"""``rail-seg train``: train or fine-tune a segmentation network; keeps the best checkpoint with its model card."""
# Python 3.8 target: typing.List/Optional stay.

import argparse
import sys
import textwrap
from typing import Any, Dict

from rail_seg_ros.errors import RailSegError

DESCRIPTION = """\
Train or fine-tune a network. The output folder gets best.pt (weights of the best validation mIoU)
with its model card best.yaml (usable wherever a card is: rail-seg predict --model OUT/best.yaml),
last.pt (the whole training state, for --resume), log.csv, curves.png (loss and mIoU) and config.yaml.

Data (--data, --val):
  railsem19:ROOT   ROOT/jpgs/<split>/*.jpg + ROOT/uint8/<split>/*.png        [split rs19_val]
  cityscapes:ROOT  leftImg8bit + gtFine labelTrainIds (or labelIds)         [split train; --val: val]
  pairs:ROOT       ROOT/images/ + ROOT/labels/ matched by stem (or IMAGES_DIR:LABELS_DIR)
  bag:PATH         a rosbag2 with /camera/image_raw and /camera/labels_gt (frames without gt skipped)
  synth:N          N synthetic scenes (seeds 0..N-1) rendered at --size and kept in memory
                   (--synth-track-obstacles P: a share P of them with an obstacle on the ego track)
Without --val: synth:N validates on max(8, min(100, N/5)) scenes with seeds 1000000 and up (never
training seeds); other data hold out a seeded 10 % of the frames. Frames are resized to --size (image
bilinear, labels nearest); validation mIoU (Cityscapes definition) is measured at --size.

Recipes (--recipe; each option given explicitly wins over the recipe):
{recipes}
The default recipe is the architecture's own: fast_scnn for fast_scnn, squeezenas for the others.

Resuming: rail-seg train --resume OUT continues from OUT/last.pt with the saved configuration; the
learning rate at every step equals that of an uninterrupted run. Only --out, --device, --workers,
--threads and --cache-gb may be given with it.

Examples:
  rail-seg train --model squeezenas_mac_small --recipe synth --data synth:400 --size 192x384 \\
      --epochs 8 --out out/synth_mac_small
  rail-seg train --model squeezenas_mac_small --init squeezenas_mac_small_cityscapes \\
      --data railsem19:~/data/rs19 --size 512x1024 --epochs 30 --device cuda --amp --out out/rs19
  rail-seg train --resume out/rs19
"""

# options that define the run (refused with --resume) -> TrainConfig field
_RUN_OPTIONS = ("model", "recipe", "init", "data", "val", "split", "val_split", "epochs", "batch", "optimizer", "lr",
                "lr_end", "momentum", "weight_decay", "schedule", "power", "loss", "ohem_thresh", "ohem_min_kept",
                "aux", "aux_weight", "size", "augment", "label_set", "reinit_classifier", "val_fraction", "seed",
                "synth_track_obstacles", "synth_drab_clothes", "class_weights", "amp", "channels_last")
_RUNTIME_OPTIONS = ("out", "device", "workers", "threads", "cache_gb")


def _recipes_text() -> str:
    from rail_seg_ros.train import RECIPE_NOTES

    return "\n".join(textwrap.fill(note, 100, initial_indent=f"  {name:<11} ", subsequent_indent=" " * 14)
                     for name, note in RECIPE_NOTES.items())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add train's options to ``parser``, in four groups."""
    from rail_seg_ros.train import TrainConfig

    defaults = TrainConfig()
    parser.description = DESCRIPTION.format(recipes=_recipes_text())
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    _add_what_to_train(parser.add_argument_group("what to train"))
    _add_data_options(parser.add_argument_group("data"), defaults)
    _add_optimisation_options(parser.add_argument_group("optimisation (defaults from the recipe)"), defaults)
    _add_running_options(parser.add_argument_group("running"), defaults)


def _add_what_to_train(g: Any) -> None:
    """Architecture, starting weights, classes, recipe."""
    from rail_seg_ros.labels import LABEL_SETS
    from rail_seg_ros.nets import ARCHITECTURES
    from rail_seg_ros.train import RECIPES

    g.add_argument("--model", choices=sorted(ARCHITECTURES), metavar="ARCH",
                   help="architecture: " + ", ".join(sorted(ARCHITECTURES)) + " (required unless --resume)")
    g.add_argument("--init", metavar="CARD|WEIGHTS",
                   help="start from a model card's weights (name or .yaml) or a checkpoint; tensors that fit are "
                        "loaded, the classifier is re-initialised when the class count differs")
    g.add_argument("--reinit-classifier", action="store_const", const=True,
                   help="with --init: start the classifier afresh even when the class count matches "
                        "(e.g. Cityscapes -> RailSem19, both 19 classes)")
    g.add_argument("--label-set", choices=sorted(LABEL_SETS),
                   help="classes to train (default: cityscapes for cityscapes: data, else railsem19)")
    g.add_argument("--recipe", choices=sorted(RECIPES),
                   help="preset of optimiser, schedule and loss (default: the architecture's own; see above)")


def _add_data_options(g: Any, d: Any) -> None:
    """Training and validation frames, size, augmentation."""
    from rail_seg_ros.train import AUGMENTATIONS

    g.add_argument("--data", metavar="SPEC", help="training frames: railsem19:ROOT | cityscapes:ROOT | pairs:ROOT | "
                                                  "bag:PATH | synth:N (required unless --resume)")
    g.add_argument("--val", metavar="SPEC", help="validation frames, same forms (default: see above)")
    g.add_argument("--split", metavar="NAME", help="dataset split folder of --data (default: the layout's; "
                                                   "cityscapes: train)")
    g.add_argument("--val-split", metavar="NAME", help="dataset split folder of --val (cityscapes default: val)")
    g.add_argument("--val-fraction", type=float, metavar="F",
                   help=f"share of --data held out for validation without --val (default: {d.val_fraction})")
    g.add_argument("--synth-track-obstacles", type=float, metavar="P",
                   help="synth:N: share of the training scenes with a person, car or truck standing on the ego "
                        "track ahead (as rail-seg synth --track-obstacles; validation scenes stay the default "
                        f"ones; default: {d.synth_track_obstacles:g})")
    g.add_argument("--synth-drab-clothes", type=float, metavar="P",
                   help="synth:N: share of the training scenes' people dressed in the greys of ballast, asphalt "
                        "and paving, whom a network otherwise reads as the ground they stand on (as rail-seg "
                        f"synth --drab-clothes; default: {d.synth_drab_clothes:g})")
    g.add_argument("--size", metavar="HxW", help=f"training and card input size (default: {d.size[0]}x{d.size[1]}); "
                                                 "multiples of 16 (squeezenas) or 32 (fast_scnn)")
    g.add_argument("--augment", metavar="LIST",
                   help="comma list of " + ", ".join(AUGMENTATIONS) + " or none (default: all): flip = "
                        "horizontal flip; scale = zoom 0.75-1.25x; crop = cut/pad back to --size at a random "
                        "place (labels padded with 255); color = brightness, contrast, saturation +-25 %%")


def _add_optimisation_options(g: Any, d: Any) -> None:
    """Epochs, batch, optimiser, schedule, loss, seed (the recipe's unless given); d: the TrainConfig defaults."""
    from rail_seg_ros.train import LOSSES, OPTIMIZERS, SCHEDULES

    g.add_argument("--epochs", type=int, metavar="N", help=f"epochs (default: {d.epochs})")
    g.add_argument("--batch", type=int, metavar="B", help=f"batch size (default: {d.batch}); batches of one "
                                                          "train BatchNorm on running statistics where needed")
    g.add_argument("--optimizer", choices=OPTIMIZERS, help="sgd (momentum) or adam")
    g.add_argument("--lr", type=float, metavar="LR", help="initial learning rate")
    g.add_argument("--lr-end", type=float, metavar="LR", help="final learning rate of poly and cosine")
    g.add_argument("--momentum", type=float, metavar="M", help="SGD momentum / Adam beta1 (default: 0.9)")
    g.add_argument("--weight-decay", type=float, metavar="WD", help="L2 weight decay")
    g.add_argument("--schedule", choices=SCHEDULES,
                   help="poly: lr_end + (lr - lr_end)(1 - t)^power; cosine: to lr_end; step: x0.1 at 50 %% and "
                        "75 %% of the run (t = step / total steps)")
    g.add_argument("--power", type=float, metavar="P", help=f"poly exponent (default: {d.power})")
    g.add_argument("--loss", choices=LOSSES,
                   help="ce: cross-entropy ignoring 255; ohem: only pixels with true-class probability below "
                        "--ohem-thresh, at least --ohem-min-kept a batch")
    g.add_argument("--ohem-thresh", type=float, metavar="P", help=f"OHEM probability threshold (default: "
                                                                  f"{d.ohem_thresh})")
    g.add_argument("--ohem-min-kept", type=int, metavar="N", help=f"OHEM pixels kept at least, per batch "
                                                                  f"(default: {d.ohem_min_kept})")
    g.add_argument("--class-weight", dest="class_weights", metavar="NAME=W,...",
                   help="weigh the loss of these classes' pixels (label set names; others 1), e.g. human=4,car=3: "
                        "small classes that matter, such as obstacles on the track (OHEM still picks the hard "
                        "pixels unweighted)")
    g.add_argument("--aux", action="store_const", const=True,
                   help="Fast-SCNN auxiliary head and loss (fast_scnn recipe: on)")
    g.add_argument("--no-aux", dest="aux", action="store_const", const=False, help="no auxiliary loss")
    g.add_argument("--aux-weight", type=float, metavar="W", help=f"auxiliary loss weight (default: {d.aux_weight})")
    g.add_argument("--seed", type=int, metavar="S", help=f"seed of weights, data order and augmentation "
                                                         f"(default: {d.seed}); a seeded CPU run repeats exactly")


def _add_running_options(g: Any, d: Any) -> None:
    """Output folder, resume, device and speed."""
    from rail_seg_ros.train import DEVICES

    g.add_argument("--out", metavar="DIR", help="output folder (required unless --resume, which defaults to it)")
    g.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its last.pt")
    g.add_argument("--device", choices=DEVICES, help="auto (CUDA when present), cpu or cuda (default: auto)")
    g.add_argument("--amp", action="store_const", const=True,
                   help="mixed precision (autocast + GradScaler) on CUDA; ignored with a warning on the CPU")
    g.add_argument("--no-channels-last", dest="channels_last", action="store_const", const=False,
                   help="keep NCHW activations (channels-last is faster on CPU and tensor cores)")
    g.add_argument("--workers", type=int, metavar="N", help="data loader processes (default: 0, load in-process)")
    g.add_argument("--threads", type=int, metavar="N", help="torch CPU threads (default: torch's, one per physical core; on a CPU shared with other jobs "
                        "1 is often faster)")
    g.add_argument("--cache-gb", type=float, metavar="GB",
                   help=f"decode dataset files once into memory up to this size (default: {d.cache_gb:g})")
    g.add_argument("--no-progress", action="store_true", help="no progress bars (a line per epoch is still printed)")


def config_from_args(args: argparse.Namespace) -> Any:
    """The TrainConfig the options describe (the saved one with --resume)."""
    from rail_seg_ros.train import make_config, resume_config

    given: Dict[str, Any] = {k: getattr(args, k, None) for k in _RUN_OPTIONS}
    given = {k: v for k, v in given.items() if v is not None}
    runtime = {k: getattr(args, k, None) for k in _RUNTIME_OPTIONS}
    if args.resume:
        if given:
            options = ", ".join("--" + k.replace("_", "-") for k in given)
            raise RailSegError(f"--resume continues the run as configured in {args.resume}/config.yaml; {options} "
                               f"cannot be given with it (start a new run with --init {args.resume}/last.pt)")
        return resume_config(args.resume, **runtime)
    missing = [f"--{k}" for k in ("model", "data", "out") if not getattr(args, k, None)]
    if missing:
        raise RailSegError(f"rail-seg train needs {', '.join(missing)} (or --resume DIR)")
    model = given.pop("model")
    recipe = given.pop("recipe", None)
    return make_config(model, recipe, **given, **{k: v for k, v in runtime.items() if v is not None})


def run(args: argparse.Namespace) -> int:
    """Train; print where the best checkpoint and its card are. Returns the exit status."""
    from rail_seg_ros.train import train

    config = config_from_args(args)
    progress = not args.no_progress
    try:
        result = train(config, progress=progress, verbose=True)
    except KeyboardInterrupt:
        print(f"\ninterrupted; continue with: rail-seg train --resume {config.out}", file=sys.stderr)
        return 130
    if result.best_epoch:
        print(f"best validation mIoU {100 * result.best_miou:.2f} % at epoch {result.best_epoch}: "
              f"{result.best_path} (card {result.card_path})")
    else:
        print(f"no epoch left to run in {result.out} (the run had finished)")
    print(f"log {result.out / 'log.csv'}, curves {result.out / 'curves.png'}, state {result.last_path}")
    return 0
