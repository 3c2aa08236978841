"""`tuilab fit ORG/NAME` for a repo planned from Hub metadata: the basis lines saying where the facts
came from, and `--ladder` over the GGUF files the repo really holds, each with its exact size.

The file whose header was read is planned exactly; the others are planned with llama.cpp's quant rules
on the same architecture (their headers are not fetched: one header is a few MB, a repo holds up to
30 files, and the answer must come within the Hub deadline). A file whose quant is an uploader's recipe
(unsloth's UD-Q4_K_XL), which no rule describes, is planned from its size: the same architecture, its
weights its exact size less the read file's header bytes (HubModel.sized_arch)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tuilab.core.arch import ModelArch
from tuilab.core.errors import UnknownNameError
from tuilab.core.hardware import HardwareSpec
from tuilab.core.plan_types import FitPlan, gb
from tuilab.core.quant import QuantSpec, parse_quant
from tuilab.models.resolve import ResolvedModel

if TYPE_CHECKING:  # only for annotations: the local fit path never imports the Hub reader
    from tuilab.models.hub_model import GGUFChoice, HubModel

PlanFn = Callable[[ModelArch, QuantSpec | None], FitPlan]
_WIDTHS = (9, 9, 9, 17, 9, 8, 8, 8)  # file GB, weights, device, verdict, max ctx, tok/s, prompt, TTFT s


def with_hub_basis(fit: FitPlan, model: ResolvedModel) -> FitPlan:
    """The plan with lines naming the Hub repo, commit and file it was planned from; when config.json and
    the safetensors headers disagree on the parameter count, a warning first in the advice too."""
    if model.hub is None:
        return fit
    basis = {**fit.basis, **model.hub.basis()}
    check = model.hub.params_check(model.arch)
    if check is None:
        return dataclasses.replace(fit, basis=basis)
    return dataclasses.replace(fit, basis={**basis, "hub check": check}, advice=(check, *fit.advice))


def plan_json(fit: FitPlan, model: ResolvedModel) -> dict[str, Any]:
    """`fit --json`: the plan's object, with a "hub" object when the model came from Hub metadata."""
    out = fit.to_dict()
    if model.hub is not None:
        out["hub"] = model.hub.to_json()
    return out


def is_hub_gguf(model: ResolvedModel) -> bool:
    return model.hub is not None and model.hub.format == "gguf"


def hub_ladder(args: argparse.Namespace, model: ResolvedModel, hw: HardwareSpec, plan_fn: PlanFn) -> int:
    """Every GGUF file of the repo: quant, exact size, and its plan (exact for the file read)."""
    rows = _rows(model, plan_fn)
    ctx = next((row.plan.ctx_tokens for row in rows if row.plan is not None), args.ctx)
    if args.json:
        out = {
            "model": model.name,
            "hardware": hw.name,
            "ctx": ctx,
            "files": [_row_json(row) for row in rows],
        }
        print(json.dumps(out, indent=2))
    else:
        print(render_hub_ladder(model, hw, ctx, rows))
    return 0


@dataclasses.dataclass(frozen=True)
class Row:
    """One file of the repo and its plan; `planned_from` says how its weights were known: "header",
    "quant rules" or "file size" (None: no plan)."""

    quant: str
    files: tuple[str, ...]
    size_bytes: int
    plan: FitPlan | None
    planned_from: str | None


def _rows(model: ResolvedModel, plan_fn: PlanFn) -> list[Row]:
    assert model.hub is not None and model.hub.choice is not None
    hub = model.hub
    rows: list[Row] = []
    for c in hub.choices:
        names = tuple(f.name for f in c.files)
        fit, how = _plan_for(hub, c, plan_fn)
        rows.append(Row(c.quant, names, c.size_bytes, fit, how))
    return rows


def _plan_for(hub: HubModel, choice: GGUFChoice, plan_fn: PlanFn) -> tuple[FitPlan | None, str | None]:
    assert hub.arch is not None
    if choice == hub.choice:
        fit = plan_fn(hub.arch, None)
        if hub.read_choice is not None:  # its own header failed: planned from its size already
            return dataclasses.replace(fit, basis={**fit.basis, **hub.basis()}), "file size"
        return fit, "header"
    try:
        return plan_fn(hub.arch, parse_quant(choice.quant)), "quant rules"
    except UnknownNameError:
        pass  # UD-Q4_K_XL and kin: a recipe of the uploader's, not a llama.cpp file type
    if choice.size_bytes <= hub.non_weight_bytes():
        return None, None
    fit = plan_fn(hub.sized_arch(choice), None)
    return dataclasses.replace(fit, basis={**fit.basis, "weights": hub.sized_basis(choice)}), "file size"


def _row_json(row: Row) -> dict[str, Any]:
    return {
        "quant": row.quant,
        "files": list(row.files),
        "size_bytes": row.size_bytes,
        "planned_from": row.planned_from,
        "plan": row.plan.to_dict() if row.plan else None,
    }


_MARKS = {"header": "*", "file size": "~"}


def render_hub_ladder(model: ResolvedModel, hw: HardwareSpec, ctx: int, rows: list[Row]) -> str:
    assert model.hub is not None
    where = "profile" if hw.is_profile else "this machine"
    cols = ("file GB", "weights", "device", "verdict", "max ctx", "tok/s", "prompt", "TTFT s")
    head = f"  {'quant':<14}" + "".join(f"{c:>{w}}" for c, w in zip(cols, _WIDTHS, strict=True)) + "  file"
    listing = model.hub.listing
    lines = [
        f"{listing.repo_id} @ {listing.commit[:10]} on {hw.name} ({where}), ctx {ctx}: "
        f"{len(rows)} GGUF files",
        "",
        head,
        "  " + "-" * (len(head) - 2),
    ]
    for row in rows:
        mark, fit, quant, size = _MARKS.get(row.planned_from or "", " "), row.plan, row.quant, row.size_bytes
        name = row.files[0] + (f" (+{len(row.files) - 1} parts)" if len(row.files) > 1 else "")
        if fit is None:
            cells = (gb(size)[:-3], "-", "-", "size only", "-", "-", "-", "-")
            lines.append(
                f"{mark} {quant:<14}"
                + "".join(f"{c:>{w}}" for c, w in zip(cells, _WIDTHS, strict=True))
                + f"  {name}"
            )
            continue
        lines.append(
            f"{mark} {quant:<14}{gb(size)[:-3]:>9}{gb(fit.weights_bytes)[:-3]:>9}"
            f"{gb(fit.memory.device_bytes)[:-3]:>9}{fit.verdict:>17}{fit.max_ctx:>9}"
            f"{fit.predicted_tg_tps:>8.1f}{predicted_cell(fit.predicted_pp_tps, '.0f'):>8}"
            f"{predicted_cell(fit.predicted_ttft_s, '.2f'):>8}  {name}"
        )
    lines += [
        "",
        "sizes in GB (1e9 bytes), as the repo lists them; * planned from its header, ~ from its file size "
        "(an uploader's recipe: its size less the header bytes, the read file's tensors scaled to it), the "
        "others from llama.cpp's quant rules on the same architecture; prompt is predicted tok/s of a "
        f"512-token batch, TTFT s the seconds to the first token for a {ctx}-token prompt",
        f"plan one exactly: tuilab fit {listing.repo_id} --quant QUANT; "
        f"download one: tuilab pull {listing.repo_id} FILE",
    ]
    return "\n".join(lines)


def predicted_cell(value: float, fmt: str) -> str:
    """A predicted number, or "-" where the plan has none (no FLOPS figure for the device)."""
    return format(value, fmt) if value > 0 else "-"
