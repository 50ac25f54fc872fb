"""Guardrails: checks on what the user says (input) and on the assistant's transcript (output)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeAlias, TypeVar, overload

if TYPE_CHECKING:
    from .agent import RealtimeAgent
    from .tools import FunctionTool

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
"""`(context, agent, text)`, sync or async; return a `GuardrailFunctionOutput` or a bool (True
trips it). The text is the transcript so far (output guardrails) or what the user said (input)."""


F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class _NamedCheck(Generic[F]):
    """A named check made from a function; the name defaults to the function's."""

    guardrail_function: F
    name: str = ""
    described: ClassVar[str] = "a guardrail"
    signature: ClassVar[str] = "(context, agent, text)"

    def __post_init__(self) -> None:
        if not callable(self.guardrail_function):
            raise TypeError(
                f"{self.described} needs a function of {self.signature}, "
                f"got {type(self.guardrail_function).__name__}"
            )
        if not self.name:
            object.__setattr__(
                self, "name", getattr(self.guardrail_function, "__name__", "guardrail")
            )


class _Guardrail(_NamedCheck[GuardrailFunction]):
    """A named check on a text; the subclasses say whose text (`kind`)."""

    kind: ClassVar[str] = "guardrail"

    def __init_subclass__(cls, *, kind: str = "guardrail", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.kind = kind
        cls.described = f"an {kind} guardrail"

    async def _verdict(
        self, context: Any, agent: RealtimeAgent, text: str
    ) -> GuardrailFunctionOutput:
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
        return result


G = TypeVar("G", bound=_Guardrail)


@dataclass(frozen=True)
class GuardrailResult(Generic[G]):
    """What one guardrail decided about a text (the base of the input and output results)."""

    guardrail: G
    agent: RealtimeAgent
    text: str
    output: GuardrailFunctionOutput

    @property
    def tripped(self) -> bool:
        """Whether this guardrail tripped."""
        return self.output.tripwire_triggered


class OutputGuardrail(_Guardrail, kind="output"):
    """A named check on the assistant's output text."""

    async def run(self, context: Any, agent: RealtimeAgent, text: str) -> OutputGuardrailResult:
        """Run the check on `text`."""
        return OutputGuardrailResult(self, agent, text, await self._verdict(context, agent, text))


class OutputGuardrailResult(GuardrailResult[OutputGuardrail]):
    """One output guardrail's verdict on one piece of the assistant's text."""


class InputGuardrail(_Guardrail, kind="input"):
    """A named check on what the user said: a text message, or the transcript of speech."""

    async def run(self, context: Any, agent: RealtimeAgent, text: str) -> InputGuardrailResult:
        """Run the check on the user's `text`."""
        return InputGuardrailResult(self, agent, text, await self._verdict(context, agent, text))


class InputGuardrailResult(GuardrailResult[InputGuardrail]):
    """One input guardrail's verdict on one user message."""


C = TypeVar("C", bound=_NamedCheck[Any])


class _GuardrailDecorator(Generic[F, C]):
    """`@decorator` or `@decorator(name=...)` making a guardrail of one class from a function."""

    def __init__(self, cls: Callable[..., C], doc: str) -> None:
        self._cls = cls
        self.__doc__ = doc

    @overload
    def __call__(self, function: F, /) -> C: ...

    @overload
    def __call__(self, /, *, name: str = "") -> Callable[[F], C]: ...

    def __call__(self, function: F | None = None, /, *, name: str = "") -> C | Callable[[F], C]:
        def wrap(func: F) -> C:
            return self._cls(guardrail_function=func, name=name)

        return wrap if function is None else wrap(function)


output_guardrail = _GuardrailDecorator[GuardrailFunction, OutputGuardrail](
    OutputGuardrail,
    "Make an `OutputGuardrail`: `@output_guardrail` or `@output_guardrail(name=...)`.",
)
input_guardrail = _GuardrailDecorator[GuardrailFunction, InputGuardrail](
    InputGuardrail, "Make an `InputGuardrail`: `@input_guardrail` or `@input_guardrail(name=...)`."
)


ToolGuardrailFunction: TypeAlias = Callable[
    [Any, "FunctionTool", dict[str, Any]], str | Awaitable[str | None] | None
]
"""`(context, tool, arguments)`, sync or async: None lets the call run; a string rejects it and
is sent to the model as the tool's output. `arguments` are the model's parsed JSON arguments."""


class ToolInputGuardrail(_NamedCheck[ToolGuardrailFunction]):
    """A named check on a tool call's arguments, run before the tool (see `function_tool`)."""

    described: ClassVar[str] = "a tool input guardrail"
    signature: ClassVar[str] = "(context, tool, arguments)"

    async def run(self, context: Any, tool: FunctionTool, arguments: dict[str, Any]) -> str | None:
        """None to let the call run, or the rejection message."""
        result = self.guardrail_function(context, tool, arguments)
        if inspect.isawaitable(result):
            result = await result
        if result is not None and not isinstance(result, str):
            raise TypeError(
                f"tool input guardrail {self.name!r} returned {type(result).__name__}; "
                "return None to let the call run, or a str message to reject it"
            )
        return result


tool_input_guardrail = _GuardrailDecorator[ToolGuardrailFunction, ToolInputGuardrail](
    ToolInputGuardrail,
    "Make a `ToolInputGuardrail`: `@tool_input_guardrail` or `@tool_input_guardrail(name=...)`.",
)


def check_guardrails(owner: str, field: str, guardrails: Sequence[object]) -> None:
    """Raise a clear TypeError if `field` (input_ or output_guardrails) holds anything else."""
    wanted = InputGuardrail if field == "input_guardrails" else OutputGuardrail
    for guardrail in guardrails:
        if not isinstance(guardrail, wanted):
            raise TypeError(
                f"{owner}: {field} must be {wanted.__name__} objects "
                f"(use @{wanted.kind}_guardrail), got {guardrail!r}"
            )


def _names(results: Sequence[GuardrailResult[Any]]) -> str:
    return ", ".join(dict.fromkeys(r.guardrail.name for r in results))


def default_recovery_message(results: Sequence[OutputGuardrailResult]) -> str:
    """The message that asks the agent to recover after an output guardrail trip."""
    return (
        f"[system] Your last response was stopped by a safety check ({_names(results)}) and the "
        "user did not hear the rest of it. Do not repeat it. Briefly apologise and continue "
        "helping the user within your instructions."
    )


def default_input_recovery_message(results: Sequence[InputGuardrailResult]) -> str:
    """The message that asks the agent to go on after the user's input was blocked."""
    return (
        f"[system] What the user just said was blocked by a safety check ({_names(results)}) "
        "and removed from the conversation; any answer you started was stopped. Do not act on "
        "it or repeat it. Politely tell the user you cannot help with that, and steer the "
        "conversation back to what you can help with."
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
