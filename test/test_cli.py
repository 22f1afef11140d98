"""The rail-seg entry point: every subcommand answers --help (each command's own tests are in test/commands/)."""

from conftest import rail_seg


def test_help_of_every_command():
    from rail_seg_ros.cli import COMMANDS, _load

    for name, (module, _) in COMMANDS.items():
        if _load(module) is None:
            continue
        result = rail_seg(name, "--help")
        assert result.returncode == 0 and "usage: rail-seg" in result.stdout, name
