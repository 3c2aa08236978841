"""The run pane: a prompt with the run's max tokens and temperature beside it, the streaming output, a
sparkline of tokens/s over the run, time to first token, prompt tokens/s, and predicted against measured
speed and memory.

The app starts the engine; the engine thread posts its news to this pane, which shows it here (its
`on_*` handlers) and lets it bubble on to the screen's status line and the app's notifications. It owns its
inputs: Enter on a prompt posts `PromptEntered` with the checked max tokens and temperature (an empty
prompt says what to do instead), and a changed control posts `SamplingChanged` for the settings file.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Sparkline, Static

from tuilab.core.errors import UsageError
from tuilab.core.plan_types import FitPlan
from tuilab.engines.events import Stats
from tuilab.lab.position import run_position
from tuilab.lab.prompt_rate import prompt_rate
from tuilab.lab.sampling import check_max_tokens, check_temperature
from tuilab.ui import messages
from tuilab.ui.render import gb, tps
from tuilab.ui.widgets.stream_view import StreamView

# Points kept in the sparkline: at ~20 updates a second, the last ten seconds of a run.
SPARK_POINTS = 200
# The prompt's token count is known only when the engine's stats arrive; until then the depth shown is an
# estimate (marked ~) at about 4 characters a token of English text, OpenAI's rule of thumb
# (https://help.openai.com/en/articles/4936856-what-are-tokens-and-how-to-count-them).
CHARS_PER_TOKEN_ESTIMATE = 4
# Between the prompt and the model's text: a model (MLX's especially) often continues the prompt without a
# space, and the two read as one (issue 12, item 22).
OUTPUT_RULE = "\n──── output ────\n"
PROMPT_PLACEHOLDER = "prompt: Enter runs the chosen model, Esc cancels"
EMPTY_PROMPT_HINT = "type a prompt first, then Enter"
IDLE_HINT = "idle: type a prompt, Enter runs it"


class RunPane(Vertical):
    DEFAULT_CSS = """
    RunPane #prompt { width: 1fr; }
    RunPane .control-label { width: auto; padding: 0 1; }
    RunPane #max-tokens { width: 7; }
    RunPane #temperature { width: 6; }
    """

    @dataclass
    class PromptEntered(Message):
        """Enter on a prompt that is not empty, with the controls' checked values."""

        prompt: str
        max_tokens: int
        temperature: float

    @dataclass
    class SamplingChanged(Message):
        """The max tokens or temperature control took a new, valid value."""

        max_tokens: int
        temperature: float

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rates: list[float] = []
        self.predicted: FitPlan | None = None
        self.state = "idle"
        self._ended = False  # the state line tells of a run that ended (done, cancelled, failed)
        self.ttft_s: float | None = None
        self.prompt_chars = 0
        self.max_tokens = 256  # replaced by the app's selection (show_sampling) before a run
        self.temperature = 0.0
        self._stats_model: str | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="prompt-row"):
            yield Input(
                placeholder="prompt: Enter runs the chosen model, Esc cancels", id="prompt", compact=True
            )
            yield Static("max", classes="control-label")
            yield Input(str(self.max_tokens), id="max-tokens", type="integer", compact=True)
            yield Static("temp", classes="control-label")
            yield Input(f"{self.temperature:g}", id="temperature", type="number", compact=True)
        with Horizontal(id="run-meter"):
            yield Static(IDLE_HINT, id="run-state")
            yield Sparkline([], id="run-spark")
        yield Static("", id="run-stats")
        yield StreamView(id="run-output")

    # --- the controls ---

    def show_sampling(self, max_tokens: int, temperature: float) -> None:
        """The selection's values, shown unless the user is editing that control."""
        self.max_tokens, self.temperature = max_tokens, temperature
        for selector, value in (("#max-tokens", str(max_tokens)), ("#temperature", f"{temperature:g}")):
            control = self.query_one(selector, Input)
            if not control.has_focus and control.value != value:
                control.value = value

    @on(Input.Submitted, "#prompt")
    def _prompt_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not self._read_controls():
            return
        if not event.value.strip():
            self._set_state(EMPTY_PROMPT_HINT, "yellow")
            return
        self.post_message(self.PromptEntered(event.value, self.max_tokens, self.temperature))

    @on(Input.Submitted, "#max-tokens, #temperature")
    def _control_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self._read_controls():
            self.focus_prompt()

    @on(Input.Blurred, "#max-tokens, #temperature")
    def _control_left(self, _event: Input.Blurred) -> None:
        self._read_controls()

    def _read_controls(self) -> bool:
        """Check both controls; a bad value is said in the state line and put back to the last good one."""
        max_input, temp_input = self.query_one("#max-tokens", Input), self.query_one("#temperature", Input)
        try:
            max_tokens = check_max_tokens(_parse(max_input.value, int), "max tokens")
            temperature = check_temperature(_parse(temp_input.value, float), "temperature")
        except UsageError as exc:
            self._set_state(str(exc), "bold red")
            max_input.value, temp_input.value = str(self.max_tokens), f"{self.temperature:g}"
            return False
        if (max_tokens, temperature) != (self.max_tokens, self.temperature):
            self.max_tokens, self.temperature = max_tokens, temperature
            self.post_message(self.SamplingChanged(max_tokens, temperature))
        return True

    # --- the run ---

    def model_changed(self, key: str | None) -> None:
        """A different model is chosen: the last run's numbers were another model's, so they go."""
        if key == self._stats_model:
            return
        self._stats_model = key
        self.rates, self.predicted, self.ttft_s = [], None, None
        self.query_one("#run-spark", Sparkline).data = []
        self.query_one("#run-stats", Static).update("")
        if self._ended:  # "done (length)" was the other model's run; a loaded or loading state stays
            self._set_state(IDLE_HINT)

    def _set_state(self, text: str, style: str = "", *, ended: bool = False) -> None:
        self._ended = ended
        self.query_one("#run-state", Static).update(Text(text, style=style))

    def show_loading(self, label: str) -> None:
        self._set_state(f"loading {label}…", "yellow")

    def loaded(self, label: str, load_s: float) -> None:
        self._set_state(f"loaded {label} in {load_s:.1f} s", "green")

    def started(self, label: str, prompt: str, predicted: FitPlan | None) -> None:
        self.rates, self.predicted, self.ttft_s = [], predicted, None
        self.prompt_chars = len(prompt)
        self.query_one("#run-spark", Sparkline).data = []
        output = self.query_one("#run-output", StreamView)
        output.clear()
        output.write(prompt + OUTPUT_RULE)  # the model's text starts on its own line, below a rule
        output.focus()  # off the prompt, so number keys and Esc act while the text streams
        self._set_state(f"generating with {label}… (Esc cancels)", "bold cyan")
        self.query_one("#run-stats", Static).update(self._stats_text(None, None))

    def append(self, text: str) -> None:
        self.query_one("#run-output", StreamView).write(text)

    def rate(self, rate_tps: float, total_tokens: int, elapsed_s: float) -> None:
        self.rates = [*self.rates[-(SPARK_POINTS - 1) :], rate_tps]
        self.query_one("#run-spark", Sparkline).data = self.rates
        self.query_one("#run-stats", Static).update(self._stats_text(None, rate_tps, total_tokens))

    def finished(self, stats: Stats | None, reason: str) -> None:
        if stats is not None and stats.gen_tps:
            self.rates = [*self.rates[-(SPARK_POINTS - 1) :], stats.gen_tps]  # the run's own average last
            self.query_one("#run-spark", Sparkline).data = self.rates
        word = "cancelled" if reason == "cancelled" else f"done ({reason})"
        self._set_state(word, "yellow" if reason == "cancelled" else "green", ended=True)
        self.query_one("#run-stats", Static).update(self._stats_text(stats, stats.gen_tps if stats else None))

    def failed(self, error: str) -> None:
        # the reason, not "see below"
        self._set_state(f"failed: {error.splitlines()[0]}", "bold red", ended=True)
        self.query_one("#run-output", StreamView).write(f"\n[engine failed] {error}\n")

    def _stats_text(
        self, stats: Stats | None, rate_tps: float | None, total_tokens: int | None = None
    ) -> Text:
        fit = self.predicted
        predicted, where = self._plan_at_depth(stats, rate_tps, total_tokens)
        ttft = "-" if stats is None or stats.ttft_s is None else f"{stats.ttft_s * 1000:.0f} ms"
        prompt = "-" if stats is None else prompt_rate(stats).label()
        tokens = stats.gen_tokens if stats is not None else total_tokens
        peak = gb(stats.peak_memory_bytes) if stats is not None else "-"
        return Text.assemble(
            ("gen ", "bold"), f"{tps(rate_tps)} measured vs {predicted} predicted{where}",
            f" · {tokens or 0} tok\n",
            ("ttft ", "bold"), f"{ttft} · ", ("prompt ", "bold"), f"{prompt} · ",
            ("memory ", "bold"), f"{peak} peak vs {gb(fit.memory.total_bytes) if fit else '-'} predicted",
        )  # fmt: skip

    def _plan_at_depth(
        self, stats: Stats | None, rate_tps: float | None, total_tokens: int | None
    ) -> tuple[str, str]:
        """The plan's rate at the depth reached, and " at depth N" (~N while the prompt is estimated)."""
        fit = self.predicted
        if fit is None:
            return "-", ""
        if stats is None and not total_tokens:
            return tps(fit.predicted_tg_tps), ""
        exact = stats is not None and stats.prompt_tokens is not None
        if stats is not None and stats.prompt_tokens is not None:
            prompt_tokens, generated = stats.prompt_tokens, stats.gen_tokens
        else:
            prompt_tokens, generated = self.prompt_chars // CHARS_PER_TOKEN_ESTIMATE, total_tokens or 0
        position = run_position(fit, prompt_tokens, generated, rate_tps)
        return tps(position.predicted_tg_tps), f" at depth {'' if exact else '~'}{position.depth_tokens}"

    def focus_prompt(self) -> None:
        self.query_one("#prompt", Input).focus()

    @property
    def last_rate_tps(self) -> float:
        return self.rates[-1] if self.rates else 0.0

    # --- engine news, posted here by the engine thread --------------------------------------------

    def on_engine_loading(self, message: messages.EngineLoading) -> None:
        self.show_loading(message.label)

    def on_engine_loaded(self, message: messages.EngineLoaded) -> None:
        self.loaded(message.label, message.loaded.load_s)

    def on_run_started(self, message: messages.RunStarted) -> None:
        self.started(message.label, message.prompt, message.fit)

    def on_text_arrived(self, message: messages.TextArrived) -> None:
        message.stop()  # only this pane shows text and rates: no need to bubble them 20 times a second
        if message.text:
            self.append(message.text)

    def on_rate_updated(self, message: messages.RateUpdated) -> None:
        message.stop()
        self.rate(message.rate_tps, message.total_tokens, message.elapsed_s)

    def on_run_finished(self, message: messages.RunFinished) -> None:
        self.finished(message.stats, message.reason)

    def on_run_failed(self, message: messages.RunFailed) -> None:
        self.failed(message.error)


def _parse(text: str, kind: type[int] | type[float]) -> int | float | str:
    """The control's text as a number, or the text itself (the check then names what is wrong)."""
    try:
        return kind(text.strip())
    except ValueError:
        return text.strip()
