"""`tuilab models` lists the models on this machine; `tuilab pull REPO [FILE]` downloads from the Hub.

Listing reads headers only and prints an aligned table or a JSON list; unreadable files are listed
with their error. Pulling goes into the Hugging Face cache, so the next `tuilab models` shows it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tuilab.lab.model_sources import models_folder
from tuilab.models.discovery import FoundModel, discover

_COLUMNS = ("name", "format", "quant", "size", "engine", "source", "architecture")
_SIZE_COLUMN = _COLUMNS.index("size")  # numbers align right


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("models", help="list the models found on this machine", description=__doc__)
    p.add_argument(
        "--dir", dest="dirs", action="append", type=Path, default=[], metavar="DIR",
        help="also look for GGUF files and model folders here (repeatable)",
    )  # fmt: skip
    p.add_argument("--only-dirs", action="store_true", help="skip the HF cache, LM Studio, Ollama and tuilab")
    p.add_argument("--json", action="store_true", help="a JSON list on stdout")
    p.set_defaults(func=run_models)

    q = sub.add_parser("pull", help="download a model from the Hugging Face Hub", description=__doc__)
    q.add_argument("repo", help="repo id, e.g. Qwen/Qwen3-0.6B-GGUF or mlx-community/Qwen3-0.6B-4bit")
    q.add_argument("file", nargs="?", help="one file or a glob pattern ('*Q4_K_M.gguf'); default: whole repo")
    q.add_argument("--revision", help="branch, tag or commit (default main)")
    q.set_defaults(func=run_pull)


def run_models(args: argparse.Namespace) -> int:
    dirs = [models_folder(d) for d in args.dirs]  # the lab's rule: a folder that cannot be read is refused
    models = discover(dirs, default_stores=not args.only_dirs)
    if args.json:
        print(json.dumps([m.to_json() for m in models], indent=2))
    elif not models:
        print("no models found; try `tuilab pull REPO FILE`, `--dir DIR`, or `tuilab run demo`")
    else:
        print(render_table(models))
    return 0


def render_table(models: list[FoundModel]) -> str:
    rows = [_COLUMNS, *(_row(m) for m in models)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_COLUMNS) - 1)]
    lines = []
    for r in rows:
        cells = [
            c.rjust(w) if i == 3 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=False))
        ]
        lines.append("  ".join([*cells, r[-1]]).rstrip())
    return "\n".join(lines)


def _row(m: FoundModel) -> tuple[str, ...]:
    detail = f"error: {m.error}" if m.error else m.arch_summary
    return (m.name, m.format, m.quant or "-", _size_label(m.file_bytes), m.engine, m.source, detail)


def _size_label(n_bytes: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{n_bytes} B"


def run_pull(args: argparse.Namespace) -> int:
    from tuilab.models.hub import pull

    result = pull(args.repo, args.file, revision=args.revision)
    print(result.path)
    print(f"pulled {result.repo_id}{'/' + result.files[0] if result.files else ''}", file=sys.stderr)
    return 0
