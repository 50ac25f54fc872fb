"""Output guardrails: checks on the assistant's transcript as it streams."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias, overload

if TYPE_CHECKING:
    from .agent import RealtimeAgent

DEFAULT_DEBOUNCE_TEXT_LENGTH = 100


@dataclass(frozen=True)
class GuardrailFunctionOutput:
    """What a guardrail function returns: whether it tripped, and any detail for the app."""

    tripwire_triggered: bool
    output_info: Any = None


GuardrailFunction: TypeAlias = Callable[
    [Any, "RealtimeAgent", str],
    GuardrailFunctionOutput | bool | Awaitable[GuardrailFunctionOutput | bool],
]
"""`(context, agent, transcript_so_far)`, sync or async; return a `GuardrailFunctionOutput` or a
bool (True trips it)."""


@dataclass(frozen=True)
class OutputGuardrail:
    """A named check on the assistant's output text."""

    guardrail_function: GuardrailFunction
    name: str = ""

    def __post_init__(self) -> None:
        if not callable(self.guardrail_function):
            raise TypeError("an output guardrail needs a function")
        if not self.name:
            object.__setattr__(
                self, "name", getattr(self.guardrail_function, "__name__", "guardrail")
            )

    async def run(self, context: Any, agent: RealtimeAgent, text: str) -> OutputGuardrailResult:
        """Run the check on `text`."""
        result = self.guardrail_function(context, agent, text)
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, bool):
            result = GuardrailFunctionOutput(tripwire_triggered=result)
        if not isinstance(result, GuardrailFunctionOutput):
            raise TypeError(
                f"guardrail {self.name!r} returned {type(result).__name__}; "
                "return a GuardrailFunctionOutput or a bool"
            )
        return OutputGuardrailResult(guardrail=self, agent=agent, text=text, output=result)


@dataclass(frozen=True)
class OutputGuardrailResult:
    """One guardrail's verdict on one piece of text."""

    guardrail: OutputGuardrail
    agent: RealtimeAgent
    text: str
    output: GuardrailFunctionOutput

    @property
    def tripped(self) -> bool:
        """Whether this guardrail tripped."""
        return self.output.tripwire_triggered


@overload
def output_guardrail(function: GuardrailFunction, /) -> OutputGuardrail: ...


@overload
def output_guardrail(*, name: str = "") -> Callable[[GuardrailFunction], OutputGuardrail]: ...


def output_guardrail(
    function: GuardrailFunction | None = None, /, *, name: str = ""
) -> OutputGuardrail | Callable[[GuardrailFunction], OutputGuardrail]:
    """Make an `OutputGuardrail`: `@output_guardrail` or `@output_guardrail(name=...)`."""

    def wrap(func: GuardrailFunction) -> OutputGuardrail:
        return OutputGuardrail(guardrail_function=func, name=name)

    return wrap if function is None else wrap(function)


def default_recovery_message(results: Sequence[OutputGuardrailResult]) -> str:
    """The message that asks the agent to recover after a trip."""
    names = ", ".join(r.guardrail.name for r in results)
    return (
        f"[system] Your last response was stopped by a safety check ({names}) and the user did "
        "not hear the rest of it. Do not repeat it. Briefly apologise and continue helping the "
        "user within your instructions."
    )


@dataclass
class _ItemText:
    response_id: str | None
    text: str = ""
    next_check_at: int = 0
    checked_length: int = -1


@dataclass
class GuardrailDebouncer:
    """Decides when to run guardrails: each `debounce` characters of an item's text, and at its end.

    Sans-I/O: feed it deltas and the final text; it returns the text to check, or None.
    """

    debounce: int = DEFAULT_DEBOUNCE_TEXT_LENGTH
    _items: dict[str, _ItemText] = field(default_factory=dict)
    _tripped_responses: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.debounce < 1:
            raise ValueError(f"the guardrail debounce length must be >= 1, got {self.debounce}")

    def add_delta(self, item_id: str, response_id: str | None, delta: str) -> str | None:
        """Add a delta; the text so far if a check is due now."""
        state = self._items.get(item_id)
        if state is None:
            state = self._items[item_id] = _ItemText(response_id, next_check_at=self.debounce)
        state.text += delta
        if self.is_tripped(state.response_id) or len(state.text) < state.next_check_at:
            return None
        while state.next_check_at <= len(state.text):
            state.next_check_at += self.debounce
        state.checked_length = len(state.text)
        return state.text

    def finish(self, item_id: str, response_id: str | None, text: str | None) -> str | None:
        """The item's text is final; the full text if it was not checked yet."""
        state = self._items.pop(item_id, None)
        final = text if text is not None else (state.text if state else "")
        if not final or self.is_tripped(response_id or (state.response_id if state else None)):
            return None
        if state is not None and state.checked_length == len(final):
            return None
        return final

    def mark_tripped(self, response_id: str | None, item_id: str) -> bool:
        """Record a trip; False if this response already tripped (act only once)."""
        key = response_id or f"item:{item_id}"
        if key in self._tripped_responses:
            return False
        self._tripped_responses.add(key)
        return True

    def is_tripped(self, response_id: str | None) -> bool:
        """Whether this response already tripped a guardrail."""
        return response_id is not None and response_id in self._tripped_responses

    def forget_response(self, response_id: str | None) -> None:
        """Drop state for a finished response (keeps memory bounded)."""
        if response_id is not None:
            self._tripped_responses.discard(response_id)
        for item_id in [k for k, v in self._items.items() if v.response_id == response_id]:
            del self._items[item_id]
