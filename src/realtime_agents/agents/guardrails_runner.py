"""Running guardrails: output ones on streamed text, input ones on what the user says.

Both kinds run in background tasks (a text message's input guardrails run before it is sent).
A guardrail that raises is reported as an `error` event and skipped; it never ends the session.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ..inputs import (
    RealtimeModelSendDeleteItem,
    RealtimeModelSendInterrupt,
    RealtimeModelSendUserInput,
)
from .events import GuardrailTrippedEvent, InputGuardrailTrippedEvent
from .guardrails import (
    GuardrailDebouncer,
    InputGuardrail,
    InputGuardrailResult,
    OutputGuardrail,
    _GuardrailResult,
    default_input_recovery_message,
    default_recovery_message,
)

if TYPE_CHECKING:
    from .agent import RealtimeAgent
    from .session import RealtimeSession

_REMEMBERED_ITEMS = 4096

R = TypeVar("R", bound=_GuardrailResult[Any])
R_co = TypeVar("R_co", bound=_GuardrailResult[Any], covariant=True)
T = TypeVar("T")


class _Check(Protocol[R_co]):
    @property
    def name(self) -> str: ...

    async def run(self, context: Any, agent: RealtimeAgent, text: str) -> R_co: ...


def combined(own: Sequence[T], shared: Sequence[T]) -> list[T]:
    """The agent's guardrails, then the run config's, each object once."""
    found: list[T] = []
    for guardrail in (*own, *shared):
        if all(guardrail is not g for g in found):
            found.append(guardrail)
    return found


async def evaluate(
    session: RealtimeSession,
    guardrails: Sequence[_Check[R]],
    agent: RealtimeAgent,
    text: str,
    kind: str,
) -> list[R]:
    """Run the guardrails concurrently; those that tripped. One that raises is reported."""
    outcomes = await asyncio.gather(
        *(g.run(session.context, agent, text) for g in guardrails), return_exceptions=True
    )
    tripped: list[R] = []
    for guardrail, outcome in zip(guardrails, outcomes, strict=True):
        if isinstance(outcome, asyncio.CancelledError):
            raise outcome
        if isinstance(outcome, BaseException):
            await session._report(f"{kind} guardrail {guardrail.name!r} raised", outcome)
        elif outcome.tripped:
            tripped.append(outcome)
    return tripped


async def send_recovery(
    session: RealtimeSession,
    message: str | Callable[[Sequence[R]], str] | None,
    results: Sequence[R],
    default: Callable[[Sequence[R]], str],
) -> None:
    """Ask the agent to go on after a trip (`message` may be a text, a function, or None)."""
    if message is None:
        text = default(results)
    elif isinstance(message, str):
        text = message
    else:
        text = message(results)
    if text:
        await session._send(RealtimeModelSendUserInput(user_input=text))


class GuardrailRunner:
    """Checks assistant text each `debounce` characters and at its end, in background tasks.

    On a trip: the response is marked (its further audio and text are dropped at once), the
    model is told to cancel that response and cut its audio, `guardrail_tripped` is emitted, and
    a recovery message asks the agent to go on. A guardrail that raises is reported and skipped.
    """

    def __init__(self, session: RealtimeSession, debouncer: GuardrailDebouncer) -> None:
        self._session = session
        self.debouncer = debouncer

    def _guardrails(self) -> list[OutputGuardrail]:
        return combined(
            self._session.current_agent.output_guardrails,
            self._session._config.get("output_guardrails", ()),
        )

    def on_delta(self, item_id: str, response_id: str | None, delta: str) -> None:
        """Feed streamed text; starts a check when one is due."""
        if not self._guardrails():
            return
        text = self.debouncer.add_delta(item_id, response_id, delta)
        if text is not None:
            self._check(item_id, response_id, text)

    def on_done(self, item_id: str, response_id: str | None, text: str | None) -> None:
        """The item's text is final; checks what was not checked yet."""
        if not self._guardrails():
            return
        final = self.debouncer.finish(item_id, response_id, text)
        if final is not None:
            self._check(item_id, response_id, final)

    def is_tripped(self, response_id: str | None) -> bool:
        """Whether output of this response must be dropped."""
        return self.debouncer.is_tripped(response_id)

    def stop_response(self, response_id: str | None, item_id: str) -> bool:
        """Drop the response's further output from now on; False if it was already stopped."""
        return self.debouncer.mark_tripped(response_id, item_id)

    async def cancel_response(self, response_id: str | None) -> None:
        """Tell the model to cancel the response and cut the audio the user did not hear."""
        await self._session._send(
            RealtimeModelSendInterrupt(cancel_response=True, response_id=response_id)
        )

    def _check(self, item_id: str, response_id: str | None, text: str) -> None:
        guardrails = self._guardrails()
        agent = self._session.current_agent
        self._session._spawn(
            self._run(guardrails, agent, item_id, response_id, text), "output guardrails"
        )

    async def _run(
        self,
        guardrails: list[OutputGuardrail],
        agent: RealtimeAgent,
        item_id: str,
        response_id: str | None,
        text: str,
    ) -> None:
        session = self._session
        tripped = await evaluate(session, guardrails, agent, text, "output")
        if not tripped or not self.stop_response(response_id, item_id):
            return
        await self.cancel_response(response_id)
        await session._publish(
            GuardrailTrippedEvent(
                results=tuple(tripped), text=text, item_id=item_id, response_id=response_id
            )
        )
        await send_recovery(
            session,
            session._config.get("guardrail_recovery_message"),
            tripped,
            default_recovery_message,
        )


class InputGuardrailRunner:
    """Checks what the user says: text messages before they are sent, speech once transcribed.

    Speech is checked in a background task when the user item's final transcript arrives. With
    server VAD the model has usually started answering by then, so on a trip the answer to that
    turn is stopped like an output guardrail stops one (its further output dropped, cancelled,
    audio cut), the user item is deleted from the model's conversation, `input_guardrail_tripped`
    is emitted and a recovery message asks the agent to steer the conversation on.

    A response answers the latest user item added before it started; a trip that comes before
    that response starts stops the response as soon as it does.
    """

    def __init__(self, session: RealtimeSession, output: GuardrailRunner) -> None:
        self._session = session
        self._output = output
        self._checked: OrderedDict[str, None] = OrderedDict()
        self._answered_by: OrderedDict[str, str | None] = OrderedDict()
        self._unanswered: str | None = None
        self._blocked_unanswered: str | None = None
        self._active: set[str | None] = set()

    def guardrails(self) -> list[InputGuardrail]:
        """The current agent's input guardrails and the run config's, each once."""
        return combined(
            self._session.current_agent.input_guardrails,
            self._session._config.get("input_guardrails", ()),
        )

    async def check_text(self, text: str) -> bool:
        """Check a text message before it is sent; False (and the event emitted) if it tripped."""
        guardrails = self.guardrails()
        if not guardrails or not text:
            return True
        session = self._session
        tripped = await evaluate(session, guardrails, session.current_agent, text, "input")
        if not tripped:
            return True
        await session._publish(
            InputGuardrailTrippedEvent(results=tuple(tripped), text=text, source="text")
        )
        return False

    def skip(self, item_id: str) -> None:
        """Never check this item (e.g. seeded history the app vouches for)."""
        _remember(self._checked, item_id, None)

    def on_user_item(self, item_id: str) -> None:
        """A user item joined the conversation: the next response answers it."""
        if self._unanswered != item_id:
            self._blocked_unanswered = None
        self._unanswered = item_id

    def on_turn_started(self, response_id: str | None) -> None:
        """A response started; stop it at once if it answers an item already blocked."""
        self._active.add(response_id)
        item_id, self._unanswered = self._unanswered, None
        if item_id is None:
            return
        _remember(self._answered_by, item_id, response_id)
        if item_id == self._blocked_unanswered:
            self._blocked_unanswered = None
            if self._output.stop_response(response_id, item_id):
                self._session._spawn(self._output.cancel_response(response_id), "input guardrails")

    def on_turn_ended(self, response_id: str | None) -> None:
        """A response ended."""
        self._active.discard(response_id)

    def on_transcript(self, item_id: str, transcript: str | None) -> None:
        """The final transcript of a user item: check it once, in the background."""
        if not transcript or not transcript.strip() or item_id in self._checked:
            return
        guardrails = self.guardrails()
        if not guardrails:
            return
        _remember(self._checked, item_id, None)
        agent = self._session.current_agent
        self._session._spawn(
            self._check_speech(guardrails, agent, item_id, transcript), "input guardrails"
        )

    async def _check_speech(
        self, guardrails: list[InputGuardrail], agent: RealtimeAgent, item_id: str, text: str
    ) -> None:
        session = self._session
        tripped: list[InputGuardrailResult] = await evaluate(
            session, guardrails, agent, text, "input"
        )
        if not tripped:
            return
        response_id = self._answered_by.get(item_id)
        interrupted = False
        if item_id in self._answered_by:
            if response_id in self._active and self._output.stop_response(response_id, item_id):
                interrupted = True
                await self._output.cancel_response(response_id)
        elif self._unanswered == item_id:
            self._blocked_unanswered = item_id
        await session._send(RealtimeModelSendDeleteItem(item_id=item_id))
        await session._publish(
            InputGuardrailTrippedEvent(
                results=tuple(tripped),
                text=text,
                source="speech",
                item_id=item_id,
                response_id=response_id,
                response_interrupted=interrupted,
            )
        )
        await send_recovery(
            session,
            session._config.get("input_guardrail_recovery_message"),
            tripped,
            default_input_recovery_message,
        )


def _remember(store: OrderedDict[str, T], key: str, value: T) -> None:
    store[key] = value
    if len(store) > _REMEMBERED_ITEMS:
        store.popitem(last=False)
