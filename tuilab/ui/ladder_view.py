"""The ladder pane's picture of one recorded ladder run: the table, tokens/s and KLD per rung as bars, and
the sweet spot marked. Plain Rich renderables (no widgets), so the rendering is checked without an app.

Which run is shown: the newest one of the model that finished at least one rung, on any machine (the
machine is named, and whether it is this one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from tuilab.bench.report import LadderRun, RungResult, SweetSpot
from tuilab.core.plan_types import duration
from tuilab.ui.render import EMPTY, gb

if TYPE_CHECKING:  # the ladder module pulls in the engines and numpy; the pane needs only the type
    from tuilab.bench.ladder import Progress

SPOT_MARK = "★"
SPOT_STYLE = "bold green"
# Eighth blocks give a bar 8 steps per cell, so a KLD of 0.002 against a 0.1 limit still shows.
EIGHTHS = " ▏▎▍▌▋▊▉█"
LIMIT_MARK = "┊"
LABEL_CELLS = 9  # "★ IQ2_XS" and a space: the least a label takes, so llama.cpp's bars start together
# The longest rung name shown whole: "mlx-mxfp4" (core.quant.MLX_LADDER). A longer one keeps both ends
# ("mlx-…_3_6"): names that share a prefix differ at the end, and a cut end made rungs look alike.
NAME_CELLS = 9
ELLIPSIS = "…"
VALUE_CELLS = 8  # "12345.6" / "0.0123"
WIDE_CELLS = 100  # from this width on the table also shows prompt tokens/s and the plan's memory
# What Esc does to a running ladder: it kills the step in progress at once (tuilab.ui.ladder_control).
ESC_WORDS = "Esc stops now; done rungs kept"
STATUS_TEXT = {"needs_imatrix": "needs an importance matrix", "failed": "failed"}


def pick_run(runs: Sequence[LadderRun]) -> LadderRun | None:
    """The newest run (runs come newest first from load_history) with a rung to show, else the newest."""
    return next((r for r in runs if r.rungs), runs[0] if runs else None)


def rung_label(quant: str, cells: int = NAME_CELLS) -> str:
    """`quant` in at most `cells` cells, cut in the middle: the start and the distinguishing end stay."""
    if len(quant) <= cells:
        return quant
    head = (cells - 1) // 2
    return quant[:head] + ELLIPSIS + quant[len(quant) - (cells - 1 - head) :]


def label_cells(rungs: Sequence[RungResult]) -> int:
    """The chart's label column: the mark, a space, the longest shown name and a space."""
    return max([LABEL_CELLS, *(len(rung_label(r.quant)) + 3 for r in rungs)])


def ladder_view(run: LadderRun, width: int, this_machine: str) -> RenderableType:
    spot = run.sweet_spot()
    parts: list[RenderableType] = [title(run, this_machine), table(run.rungs, spot, width), Text()]
    parts += [chart_header(run, width), *chart(run.rungs, spot, run.kld_threshold, width)]
    top = next((r.quant for r in run.rungs if r.ok), "the top rung")
    parts += [Text(), spot_line(spot, run, top)]
    notes = [f"{r.quant}: {r.message.splitlines()[0]}" for r in run.rungs if not r.ok and r.message]
    parts += [Text(note, style="yellow", overflow="ellipsis", no_wrap=True) for note in notes]
    return Group(*parts)


def title(run: LadderRun, this_machine: str) -> Text:
    where = "this machine" if run.machine == this_machine else "another machine"
    state = "" if run.complete else " · interrupted: b resumes"
    return Text.assemble(
        ("Ladder ", "bold"), f"{run.model} on {run.machine} ({where}) · {run.engine} · ",
        f"{run.ctx_tokens}-token context · {run.trials} trials · {run.started_at[:16].replace('T', ' ')}",
        (state, "yellow"),
    )  # fmt: skip


def table(rungs: Sequence[RungResult], spot: SweetSpot | None, width: int) -> Table:
    wide = width >= WIDE_CELLS
    grid = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold", pad_edge=False)
    for column in ("Quant", "File", "Peak mem", *(["Plan"] if wide else []), "Gen tok/s",
                 *(["Prompt tok/s"] if wide else []), "PPL", "KLD", "Probes"):  # fmt: skip
        quant = column == "Quant"  # never squeezed: the numbers give way before the names do
        grid.add_column(column, justify="left" if quant else "right", no_wrap=True,
                        min_width=label_cells(rungs) - 1 if quant else None)  # fmt: skip
    for r in rungs:
        marked = spot is not None and spot.quant == r.quant
        name = Text(f"{SPOT_MARK if marked else ' '} {rung_label(r.quant)}", SPOT_STYLE if marked else "")
        if not r.ok:  # dashes keep the columns narrow; the chart and the notes say what happened
            grid.add_row(Text(f"! {rung_label(r.quant)}", "yellow"), *["-"] * (len(grid.columns) - 1))
            continue
        plan = [size(r.predicted_memory_bytes)] if wide else []
        prompt = [_rate(r.pp_tps)] if wide else []
        cells = [size(r.file_bytes), size(r.peak_memory_bytes), *plan, _rate(r.tg_tps), *prompt,
                 _num(r.ppl, ".4g"), _num(r.kld, ".4f"), _probes(r)]  # fmt: skip
        grid.add_row(name, *cells, style=SPOT_STYLE if marked else "")
    return grid


def chart_header(run: LadderRun, width: int) -> Text:
    label = label_cells(run.rungs)
    bar = _bar_cells(width, label)
    top = next((r.quant for r in run.rungs if r.ok), "the top rung")
    head = Text(" " * label)
    head.append(f"{'generation tok/s':<{bar + VALUE_CELLS + 3}}", "bold")
    head.append(f"KLD vs {top} ({LIMIT_MARK} limit {run.kld_threshold:g})", "bold")
    return head


def chart(rungs: Sequence[RungResult], spot: SweetSpot | None, threshold: float, width: int) -> list[Text]:
    """One line per rung: a tokens/s bar (scaled to the fastest) and a KLD bar (scaled to the largest
    KLD or the sweet-spot limit, whichever is larger, with the limit marked)."""
    ok = [r for r in rungs if r.ok]
    top_tps = max((r.tg_tps or 0.0 for r in ok), default=0.0) or 1.0
    top_kld = max([threshold, *(r.kld or 0.0 for r in ok)])
    label = label_cells(rungs)
    cells = _bar_cells(width, label)
    lines = []
    for r in rungs:
        marked = spot is not None and spot.quant == r.quant
        line = Text(
            f"{SPOT_MARK if marked else ' '} {rung_label(r.quant):<{label - 3}} ",
            SPOT_STYLE if marked else "",
        )
        if not r.ok:
            line.append(STATUS_TEXT.get(r.status, r.status), "yellow")
        else:
            line.append_text(bar((r.tg_tps or 0.0) / top_tps, cells, "cyan"))
            line.append(f" {_num(r.tg_tps, '.1f'):>{VALUE_CELLS}}  ")
            line.append_text(bar((r.kld or 0.0) / top_kld, cells, "magenta", limit=threshold / top_kld))
            line.append(f" {_num(r.kld, '.4f'):>{VALUE_CELLS}}")
        lines.append(line)
    return lines


def bar(fraction: float, cells: int, style: str, limit: float | None = None) -> Text:
    """A bar of `cells` cells filled to `fraction` in eighth-cell steps; `limit` marks a position."""
    eighths = round(max(0.0, min(1.0, fraction)) * cells * 8)
    full, part = divmod(eighths, 8)
    chars = [EIGHTHS[8]] * full + ([EIGHTHS[part]] if part else [])
    styles = [style] * len(chars)
    chars += [EMPTY] * (cells - len(chars))
    styles += ["dim"] * (cells - len(styles))
    if limit is not None and limit < 1.0:
        at = min(cells - 1, int(limit * cells))
        if chars[at] == EMPTY:
            chars[at], styles[at] = LIMIT_MARK, "bold"
    text = Text()
    for char, cell_style in zip(chars, styles, strict=True):
        text.append(char, cell_style)
    return text


def spot_line(spot: SweetSpot | None, run: LadderRun, top: str) -> Text:
    if spot is None:
        return Text(f"No sweet spot: {run.no_spot_reason()}.", "yellow")
    faster = "" if spot.speedup is None else f" · {spot.speedup:.2f}x {top}'s tok/s"
    return Text.assemble(
        (f"{SPOT_MARK} Sweet spot: {spot.quant}", SPOT_STYLE),
        f"{faster} · fits with headroom, KLD < {run.kld_threshold:g}",
    )


def progress_line(model: str, p: Progress) -> Text:
    where = "reference" if p.rung_index >= p.n_rungs else f"{p.rung_index + 1}/{p.n_rungs}"
    eta = "" if p.eta_s is None else f" · ETA {duration(p.eta_s)}"
    return Text.assemble(
        ("▶ ladder ", "bold cyan"), f"[{where}] {p.quant}: {p.step}{eta}",
        (f" · {ESC_WORDS}", "dim"), f" · {model}", no_wrap=True, overflow="ellipsis",
    )  # fmt: skip


def size(n_bytes: int | None) -> str:
    """Decimal units like render.gb, in MB below 1 GB: a tiny test model's rungs differ in the MBs."""
    if n_bytes is not None and n_bytes < 1e9:
        return f"{n_bytes / 1e6:.1f} MB"
    return gb(n_bytes)


def _bar_cells(width: int, label: int = LABEL_CELLS) -> int:
    # label, two bars, two values and the gaps between them share the width
    return max(6, (width - label - 2 * VALUE_CELLS - 5) // 2)


def _rate(value: float | None) -> str:
    return _num(value, ".1f")


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _probes(r: RungResult) -> str:
    return "-" if r.probes_passed is None else f"{r.probes_passed}/{r.probes_total}"
