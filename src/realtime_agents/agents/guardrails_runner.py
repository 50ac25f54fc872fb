"""Running guardrails: output ones on streamed text (`GuardrailRunner`), and the evaluation and
recovery helpers input guardrails share (`input_guardrails_runner.py`).

Guardrails run in background tasks (a text message's input guardrails run before it is sent).
A guardrail that raises is reported as an `error` event and skipped; it never ends the session.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from ..inputs import (
    RealtimeModelSendInterrupt,
    RealtimeModelSendUserInput,
)
from .agent import RealtimeAgent
from .config import RealtimeRunConfig
from .core import SessionCore
from .events import GuardrailTrippedEvent
from .guardrails import (
    GuardrailDebouncer,
    GuardrailResult,
    InputGuardrail,
    OutputGuardrail,
    default_recovery_message,
)

R = TypeVar("R", bound=GuardrailResult[Any])
R_co = TypeVar("R_co", bound=GuardrailResult[Any], covariant=True)
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


def input_guardrails_of(agent: RealtimeAgent, config: RealtimeRunConfig) -> list[InputGuardrail]:
    """`agent`'s input guardrails and the run config's, each once."""
    return combined(agent.input_guardrails, config.get("input_guardrails", ()))


def output_guardrails_of(agent: RealtimeAgent, config: RealtimeRunConfig) -> list[OutputGuardrail]:
    """`agent`'s output guardrails and the run config's, each once."""
    return combined(agent.output_guardrails, config.get("output_guardrails", ()))


async def evaluate(
    core: SessionCore,
    guardrails: Sequence[_Check[R]],
    agent: RealtimeAgent,
    text: str,
    kind: str,
) -> list[R]:
    """Run the guardrails concurrently; those that tripped. One that raises is reported."""
    tripped, _ = await evaluate_all(core, guardrails, agent, text, kind)
    return tripped


async def evaluate_all(
    core: SessionCore,
    guardrails: Sequence[_Check[R]],
    agent: RealtimeAgent,
    text: str,
    kind: str,
) -> tuple[list[R], bool]:
    """Like `evaluate`, and whether any guardrail raised (it is reported and skipped)."""
    outcomes = await asyncio.gather(
        *(g.run(core.context, agent, text) for g in guardrails), return_exceptions=True
    )
    tripped: list[R] = []
    raised = False
    for guardrail, outcome in zip(guardrails, outcomes, strict=True):
        if isinstance(outcome, asyncio.CancelledError):
            raise outcome
        if isinstance(outcome, BaseException):
            raised = True
            await core.report(f"{kind} guardrail {guardrail.name!r} raised", outcome)
        elif outcome.tripped:
            tripped.append(outcome)
    return tripped, raised


async def send_recovery(
    core: SessionCore,
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
        await core.send(RealtimeModelSendUserInput(user_input=text))


class GuardrailRunner:
    """Checks assistant text each `debounce` characters and at its end, in background tasks.

    On a trip: the response is marked (its further audio and text are dropped at once), the
    model is told to cancel that response and cut its audio, `guardrail_tripped` is emitted, and
    a recovery message asks the agent to go on. A guardrail that raises is reported and skipped.
    """

    def __init__(self, core: SessionCore, debouncer: GuardrailDebouncer) -> None:
        self._core = core
        self.debouncer = debouncer

    def _guardrails(self) -> list[OutputGuardrail]:
        return output_guardrails_of(self._core.agent, self._core.config)

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
        await self._core.send(
            RealtimeModelSendInterrupt(cancel_response=True, response_id=response_id)
        )

    def _check(self, item_id: str, response_id: str | None, text: str) -> None:
        guardrails = self._guardrails()
        agent = self._core.agent
        self._core.spawn(
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
        core = self._core
        tripped = await evaluate(core, guardrails, agent, text, "output")
        if not tripped or not self.stop_response(response_id, item_id):
            return
        await self.cancel_response(response_id)
        await core.publish(
            GuardrailTrippedEvent(
                results=tuple(tripped), text=text, item_id=item_id, response_id=response_id
            )
        )
        await send_recovery(
            core,
            core.config.get("guardrail_recovery_message"),
            tripped,
            default_recovery_message,
        )
