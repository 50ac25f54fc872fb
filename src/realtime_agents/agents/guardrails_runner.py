"""Running output guardrails on streamed text, and what the session does when one trips."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ..inputs import RealtimeModelSendInterrupt, RealtimeModelSendUserInput
from .events import GuardrailTrippedEvent
from .guardrails import (
    GuardrailDebouncer,
    OutputGuardrail,
    OutputGuardrailResult,
    default_recovery_message,
)

if TYPE_CHECKING:
    from .agent import RealtimeAgent
    from .session import RealtimeSession


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
        found: list[OutputGuardrail] = []
        for guardrail in (
            *self._session.current_agent.output_guardrails,
            *self._session._config.get("output_guardrails", ()),
        ):
            if all(guardrail is not g for g in found):
                found.append(guardrail)
        return found

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
        outcomes = await asyncio.gather(
            *(g.run(session.context, agent, text) for g in guardrails),
            return_exceptions=True,
        )
        tripped: list[OutputGuardrailResult] = []
        for guardrail, outcome in zip(guardrails, outcomes, strict=True):
            if isinstance(outcome, asyncio.CancelledError):
                raise outcome
            if isinstance(outcome, BaseException):
                await session._report(f"output guardrail {guardrail.name!r} raised", outcome)
            elif outcome.tripped:
                tripped.append(outcome)
        if not tripped or not self.debouncer.mark_tripped(response_id, item_id):
            return
        await session._send(
            RealtimeModelSendInterrupt(cancel_response=True, response_id=response_id)
        )
        await session._publish(
            GuardrailTrippedEvent(
                results=tuple(tripped), text=text, item_id=item_id, response_id=response_id
            )
        )
        message = session._config.get("guardrail_recovery_message")
        if message is None:
            text_out = default_recovery_message(tripped)
        elif isinstance(message, str):
            text_out = message
        else:
            text_out = message(tripped)
        await session._send(RealtimeModelSendUserInput(user_input=text_out))
