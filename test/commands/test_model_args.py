"""The shared model options: one definition, the same spelling in every command, one size parser."""

import argparse

import pytest

from rail_seg_ros.backends import BACKENDS, PRECISIONS
from rail_seg_ros.cli import build_parser
from rail_seg_ros.commands import model_args
from rail_seg_ros.errors import RailSegError
from rail_seg_ros.labels import LABEL_SETS

MODEL_OPTIONS = {"--model", "--weights", "--labels", "--color-order", "--backend", "--precision", "--device",
                 "--calib", "--cache-dir"}


def _options(command: str):
    """A subcommand's options as {flag: argparse action}."""
    parser = build_parser(command)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    return {flag: action for action in sub._actions for flag in action.option_strings}


@pytest.mark.parametrize("command", ["predict", "bench", "bench-model", "track-ahead"])
def test_commands_that_run_a_model_take_every_model_option(command):
    options = _options(command)
    assert MODEL_OPTIONS <= set(options)
    assert tuple(options["--backend"].choices) == tuple(BACKENDS)
    assert tuple(options["--precision"].choices) == tuple(PRECISIONS)
    assert sorted(options["--labels"].choices) == sorted(LABEL_SETS)
    assert options["--model"].required is (command != "track-ahead")  # label maps need no model


def test_export_and_demo_share_the_options_they_take():
    export = _options("export")
    assert {"--model", "--weights", "--labels", "--color-order", "--precision", "--calib", "--input-size"} <= set(export)
    assert "--backend" not in export  # export writes a graph; it runs no backend
    demo = _options("demo")
    assert tuple(demo["--backend"].choices) == tuple(BACKENDS) and demo["--model"].default == "rail_default"
    assert "--cache-dir" in demo


def _parse(*argv):
    parser = argparse.ArgumentParser()
    model_args.add_model_arguments(parser)
    model_args.add_input_size_argument(parser)
    return parser.parse_args(list(argv))


def test_card_from_args_applies_every_override(tmp_path):
    weights = tmp_path / "w.pth"
    args = _parse("--model", "squeezenas_mac_small", "--weights", str(weights), "--labels", "railsem19",
                  "--color-order", "bgr", "--input-size", "256x512")
    card = model_args.card_from_args(args)
    assert (card.architecture, card.label_set, card.color_order, card.input_size) == \
        ("squeezenas_mac_small", "railsem19", "bgr", (256, 512))
    assert card.weights == str(weights.resolve())


def test_input_size_is_parsed_once_with_the_option_named():
    assert model_args.input_size_from_args(_parse("--model", "x")) is None
    assert model_args.input_size_from_args(argparse.Namespace()) is None  # a command without --input-size
    with pytest.raises(RailSegError, match="^--input-size '288x' is not HxW"):
        model_args.input_size_from_args(_parse("--model", "x", "--input-size", "288x"))
