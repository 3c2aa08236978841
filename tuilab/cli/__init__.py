"""The headless commands: `tuilab fit`, `hw`, `run`, `models`, `bench`, `pull`.

Each subcommand lives in its own module with `register(subparsers)`; this module builds the parser,
maps `TuilabError` to exit codes and one clean line on stderr, and with no subcommand opens the TUI.
Heavy imports (textual, engines) happen inside the command that needs them, never here.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Sequence

from tuilab import __version__
from tuilab.core.errors import TuilabError

# Modules under tuilab.cli that define register(subparsers); each adds one or more subcommands.
COMMAND_MODULES: tuple[str, ...] = ("fit", "hw", "run", "models", "bench")
# The module that registers each subcommand: `tuilab fit ...` imports only cli.fit, so a fit answer does not
# pay for the run, bench and models commands' imports (the 0.5 s startup goal, scripts/bench_startup.py).
MODULE_OF_COMMAND: dict[str, str] = {
    "fit": "fit", "hw": "hw", "run": "run", "models": "models", "pull": "models", "bench": "bench",
}  # fmt: skip


def _modules_for(argv: Sequence[str] | None) -> tuple[str, ...]:
    """Only the named command's module when argv names one; every module for help or anything else."""
    args = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in args if not a.startswith("-")), None)
    if first in MODULE_OF_COMMAND and not any(a in ("-h", "--help") for a in args[: args.index(first)]):
        return (MODULE_OF_COMMAND[first],)
    return COMMAND_MODULES


def build_parser(modules: Sequence[str] = COMMAND_MODULES) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tuilab",
        description="A terminal lab for local LLMs: will it fit, how fast, what do you lose at 4 or 2 bits.",
    )
    parser.add_argument("--version", action="version", version=f"tuilab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in modules:
        try:
            module = importlib.import_module(f"tuilab.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"tuilab.cli.{name}":
                raise
            continue  # a command not built yet
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    started_s = time.monotonic()  # a command's time limits count from here (the Hub's 10 s, issue 13)
    parser = build_parser(_modules_for(argv))
    args = parser.parse_args(argv)
    args.started_s = started_s
    try:
        if args.command is None:
            return _open_tui()
        return int(args.func(args))
    except TuilabError as exc:
        print(f"tuilab: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("tuilab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # a full disk, a read-only or missing folder: one line, never a traceback
        where = f": {exc.filename}" if exc.filename else ""
        print(f"tuilab: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1


def _open_tui() -> int:
    try:
        app_module = importlib.import_module("tuilab.ui.app")
    except ModuleNotFoundError:
        build_parser().print_help()
        return 0
    return int(app_module.run_app())


def entry() -> None:
    sys.exit(main())
