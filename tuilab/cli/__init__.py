"""The headless commands: `tuilab fit`, `hw`, `run`, `models`, `bench`, `pull`.

Each subcommand lives in its own module with `register(subparsers)`; this module builds the parser,
maps `TuilabError` to exit codes and one clean line on stderr, and with no subcommand opens the TUI.
Heavy imports (textual, engines) happen inside the command that needs them, never here.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from tuilab import __version__
from tuilab.core.errors import TuilabError

# Modules under tuilab.cli that define register(subparsers); each adds one or more subcommands.
COMMAND_MODULES: tuple[str, ...] = ("fit", "hw", "run", "models", "bench")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tuilab",
        description="A terminal lab for local LLMs: will it fit, how fast, what do you lose at 4 or 2 bits.",
    )
    parser.add_argument("--version", action="version", version=f"tuilab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"tuilab.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"tuilab.cli.{name}":
                raise
            continue  # a command not built yet
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
