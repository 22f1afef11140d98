"""List every architecture with its trainable parameters and GigaMACs (convolutions only, as in the
SqueezeNAS table: out_elems * k_h * k_w * c_in / groups) at the given input size, and the shipped cards."""

import argparse
import json

from ..errors import RailSegError
from ..model_card import available_cards, read_card
from ..nets import ARCHITECTURES, build_model, count_conv_macs, count_parameters, require_torch
from .model_args import add_input_size_argument, input_size_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_input_size_argument(parser, default="1024x2048",
                            help_text="input size for the GigaMACs (default: 1024x2048, the published figures' size)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    height, width = input_size_from_args(args)
    require_torch("rail-seg models")  # without torch nothing can be counted: one error, not a table of n/a
    rows = []
    for name, arch in ARCHITECTURES.items():
        row = {"architecture": name, "params": None, "gmacs": None, "input": arch.note,
               "public_label_set": arch.public_label_set, "unavailable": None}
        try:
            model = build_model(name)
        except RailSegError as exc:  # a baseline whose library is missing here: listed, with why
            row["unavailable"] = str(exc)
        else:
            row.update(params=count_parameters(model), gmacs=round(count_conv_macs(model, height, width), 3))
        rows.append(row)
    cards = {name: read_card(path).architecture for name, path in available_cards().items()}
    if args.json:
        print(json.dumps({"input_size": [height, width], "architectures": rows, "cards": cards}, indent=2))
        return 0
    print(f"{'architecture':<30}{'params':>12}{'GMACs @' + args.input_size:>20}  input sizes")
    for row in rows:
        if row["unavailable"]:
            print(f"{row['architecture']:<30}{'n/a':>12}{'n/a':>20}  {row['unavailable']}")
        else:
            print(f"{row['architecture']:<30}{row['params']:>12,}{row['gmacs']:>20.3f}  {row['input']}")
    print("\nmodel cards:")
    for name, arch in cards.items():
        print(f"  {name:<40}{arch}")
    return 0
