"""Handlers of the ``creps`` subcommands, one module each, imported only when the subcommand runs.

Each module has ``run(args) -> int``; the parser and the exit codes live in :mod:`creps_core.cli`.
Handlers raise :class:`~creps_core.options.UsageError` for command-line mistakes and ordinary
exceptions for everything else; :func:`creps_core.cli.main` turns both into one line.
"""
