"""One module per ``rail-seg`` subcommand, each with ``add_arguments(parser)`` and ``run(args) -> int``."""
