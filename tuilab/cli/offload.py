"""The expert-offload and multi-GPU options `tuilab fit` and `tuilab run` share: --offload, --cpu-moe and
--tensor-split, and the planner arguments they make."""

from __future__ import annotations

import argparse
from typing import Any

from tuilab.core.plan_types import OFFLOAD_MODES


def add_offload_options(p: argparse.ArgumentParser) -> None:
    """Expert offload and multi-GPU split flags, shared by `fit` and `run`."""
    p.add_argument(
        "--offload",
        choices=OFFLOAD_MODES,
        help="when a model does not fit: keep whole layers or (MoE) the experts in RAM (default: experts "
        "for a MoE model, as llama.cpp --fit does)",
    )
    p.add_argument(
        "--cpu-moe",
        type=cpu_moe_arg,
        metavar="N|auto|all",
        help="keep the experts of the first N layers in system RAM (llama.cpp --n-cpu-moe); "
        "auto: as few as fit; all: every layer's",
    )
    p.add_argument(
        "--tensor-split",
        type=tensor_split_arg,
        metavar="3,1",
        help="share of the layers per GPU on a machine with several (default: by free memory)",
    )


def cpu_moe_arg(text: str) -> int | str:
    if text in ("auto", "all"):
        return text
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a layer count, 'auto' or 'all', got {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"a layer count cannot be negative, got {n}")
    return n


def tensor_split_arg(text: str) -> tuple[float, ...]:
    try:
        shares = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected numbers separated by commas, e.g. 3,1; got {text!r}"
        ) from None
    if any(x < 0 for x in shares) or sum(shares) <= 0:
        raise argparse.ArgumentTypeError(f"shares must be non-negative and not all zero, got {text!r}")
    return shares


def offload_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The planner's offload arguments from --offload, --cpu-moe ("all" stays a word until the model is
    known) and --tensor-split."""
    cpu_moe = getattr(args, "cpu_moe", None)
    mode = getattr(args, "offload", None)
    if cpu_moe == "auto":
        cpu_moe, mode = None, "experts"
    return {
        "offload_mode": mode,
        "cpu_moe_layers": cpu_moe,
        "tensor_split": getattr(args, "tensor_split", None),
    }
