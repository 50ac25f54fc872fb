"""Input guardrails at run time: what the user says is checked (text before it is sent, speech
on its final transcript), and tool calls answering a spoken turn wait for that turn's check
(`TurnCheck`). The shared evaluation and recovery helpers are in `guardrails_runner.py`."""

from __future__ import annotations

import asyncio
import math
from collections import OrderedDict
from collections.abc import AsyncIterator, Hashable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

from ..inputs import RealtimeModelSendDeleteItem
from .agent import RealtimeAgent
from .core import SessionCore
from .events import InputGuardrailTrippedEvent, ToolBlockReason
from .guardrails import InputGuardrail, InputGuardrailResult, default_input_recovery_message
from .guardrails_runner import (
    GuardrailRunner,
    evaluate,
    evaluate_all,
    input_guardrails_of,
    send_recovery,
)

_REMEMBERED_ITEMS = 4096
DEFAULT_TOOL_WAIT_S = 5.0

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class TurnVerdict:
    """Whether tool calls answering a spoken user item may run; why not, if not."""

    item_id: str
    allowed: bool
    reason: ToolBlockReason | None = None
    detail: str = ""
    """Why the calls may not run, in words (sent to the model)."""
    results: tuple[InputGuardrailResult, ...] = ()
    """The guardrails that tripped (`reason="tripped"` only)."""


class TurnCheck:
    """The input check of one spoken user item, which tool calls answering it wait for.

    Decided once: allowed when the guardrails passed, blocked when one tripped or the check
    cannot finish (transcription failed or was empty, the item was deleted, a guardrail raised).
    After a trip, blocked calls answer only once the runner `release`s them (after it stopped the
    answer, deleted the item and emitted `input_guardrail_tripped`), and the runner waits for
    them to have answered before it sends the recovery message.
    """

    def __init__(self, item_id: str) -> None:
        self.item_id = item_id
        self.verdict: TurnVerdict | None = None
        self._decided = asyncio.Event()
        self._released = asyncio.Event()
        self._answered = asyncio.Event()
        self._answered.set()
        self._answering = 0

    def decide(self, verdict: TurnVerdict, *, hold: bool = False) -> bool:
        """Record the verdict (the first one wins); `hold` keeps blocked calls until `release`."""
        if self.verdict is not None:
            return False
        self.verdict = verdict
        self._decided.set()
        if not hold:
            self._released.set()
        return True

    def release(self) -> None:
        """Let calls blocked by a held verdict answer."""
        self._released.set()

    async def answered(self) -> None:
        """Wait until no call is waiting for or answering this verdict."""
        await self._answered.wait()

    @asynccontextmanager
    async def verdict_within(self, timeout_s: float) -> AsyncIterator[TurnVerdict]:
        """The verdict, waited for at most `timeout_s` (then a blocking `timeout` verdict).

        A call stays counted as answering until it leaves the `async with`.
        """
        self._answering += 1
        self._answered.clear()
        try:
            verdict = self.verdict
            if verdict is None:
                try:
                    async with asyncio.timeout(timeout_s):
                        await self._decided.wait()
                except TimeoutError:
                    pass
                verdict = self.verdict
            if verdict is None:
                verdict = TurnVerdict(
                    self.item_id,
                    allowed=False,
                    reason="timeout",
                    detail=f"the check did not finish within {timeout_s:g} s",
                )
            elif not verdict.allowed:
                await self._released.wait()
            yield verdict
        finally:
            self._answering -= 1
            if self._answering == 0:
                self._answered.set()


class InputGuardrailRunner:
    """Checks what the user says: text messages before they are sent, speech once transcribed.

    Speech is checked in a background task when the user item's final transcript arrives. With
    server VAD the model has usually started answering by then, so on a trip the answer to that
    turn is stopped like an output guardrail stops one (its further output dropped, cancelled,
    audio cut), the user item is deleted from the model's conversation, `input_guardrail_tripped`
    is emitted and a recovery message asks the agent to steer the conversation on.

    A response answers the latest user item added before it started; a trip that comes before
    that response starts stops the response as soon as it does.

    Tool calls: each spoken user item that arrives while input guardrails are configured gets a
    `TurnCheck`. A tool call (or handoff) from a response that answers it (the latest user item
    when the response started) waits for that check before anything runs, at most
    `input_guardrail_tool_wait_s`, and is not run unless the check passed. Without input
    guardrails there are no checks and nothing waits.
    """

    def __init__(self, core: SessionCore, output: GuardrailRunner) -> None:
        self._core = core
        self._output = output
        self.tool_wait_s = _tool_wait(
            core.config.get("input_guardrail_tool_wait_s", DEFAULT_TOOL_WAIT_S)
        )
        self._checked: OrderedDict[str, None] = OrderedDict()
        self._answered_by: OrderedDict[str, str | None] = OrderedDict()
        self._unanswered: str | None = None
        self._blocked_unanswered: str | None = None
        self._active: set[str | None] = set()
        self._latest: str | None = None
        self._checks: OrderedDict[str, TurnCheck] = OrderedDict()
        self._turn_items: OrderedDict[str | None, str | None] = OrderedDict()

    def guardrails(self) -> list[InputGuardrail]:
        """The current agent's input guardrails and the run config's, each once."""
        return input_guardrails_of(self._core.agent, self._core.config)

    async def check_text(self, text: str) -> bool:
        """Check a text message before it is sent; False (and the event emitted) if it tripped."""
        guardrails = self.guardrails()
        if not guardrails or not text:
            return True
        core = self._core
        tripped = await evaluate(core, guardrails, core.agent, text, "input")
        if not tripped:
            return True
        await core.publish(
            InputGuardrailTrippedEvent(results=tuple(tripped), text=text, source="text")
        )
        return False

    def skip(self, item_id: str) -> None:
        """Never check this item (e.g. seeded history the app vouches for)."""
        _remember(self._checked, item_id, None)

    def on_user_item(self, item_id: str, *, spoken: bool = False) -> None:
        """A user item joined the conversation: the next response answers it.

        A spoken one gets a `TurnCheck` (if input guardrails are configured) that tool calls
        answering it wait for.
        """
        if self._unanswered != item_id:
            self._blocked_unanswered = None
        self._unanswered = item_id
        self._latest = item_id
        if (
            spoken
            and item_id not in self._checked
            and item_id not in self._checks
            and self.guardrails()
        ):
            _remember(self._checks, item_id, TurnCheck(item_id))

    def pending_check(self, response_id: str | None) -> TurnCheck | None:
        """The check a tool call from this response must wait for, or None (nothing to wait for).

        The response answers the latest user item when it started (or, for a response never seen
        starting, the latest user item now).
        """
        if not self._checks:
            return None
        item_id = self._turn_items.get(response_id, self._latest)
        return None if item_id is None else self._checks.get(item_id)

    def wait_for_verdict(self, check: TurnCheck) -> AbstractAsyncContextManager[TurnVerdict]:
        """`async with runner.wait_for_verdict(check) as verdict:` waits for the turn's verdict,
        at most `tool_wait_s` (then it blocks with `reason="timeout"`). Answer a blocked call
        inside the `async with`, so the recovery message follows the answer."""
        return check.verdict_within(self.tool_wait_s)

    def on_transcription_failed(self, item_id: str) -> None:
        """The user item will get no transcript: tool calls answering it are not run."""
        self._block(item_id, "transcription_failed", "the transcription of what they said failed")

    def on_item_deleted(self, item_id: str) -> None:
        """The user item is gone before its check decided: tool calls answering it are not run."""
        self._block(item_id, "item_deleted", "what they said was removed before it was checked")

    def _block(self, item_id: str, reason: ToolBlockReason, detail: str) -> None:
        check = self._checks.get(item_id)
        if check is not None:
            check.decide(TurnVerdict(item_id, allowed=False, reason=reason, detail=detail))

    def on_turn_started(self, response_id: str | None) -> None:
        """A response started; stop it at once if it answers an item already blocked."""
        self._active.add(response_id)
        _remember(self._turn_items, response_id, self._latest)
        item_id, self._unanswered = self._unanswered, None
        if item_id is None:
            return
        _remember(self._answered_by, item_id, response_id)
        if item_id == self._blocked_unanswered:
            self._blocked_unanswered = None
            if self._output.stop_response(response_id, item_id):
                self._core.spawn(self._output.cancel_response(response_id), "input guardrails")

    def on_turn_ended(self, response_id: str | None) -> None:
        """A response ended."""
        self._active.discard(response_id)

    def on_transcript(self, item_id: str, transcript: str | None, *, final: bool = False) -> None:
        """The transcript of a user item: check it once, in the background.

        `final` says no other transcript will come (the transcription finished): an empty one
        cannot be checked, so tool calls answering the item are not run.
        """
        if item_id in self._checked:
            return
        if not transcript or not transcript.strip():
            if final:
                self._block(
                    item_id, "transcript_empty", "the transcription of what they said was empty"
                )
            return
        guardrails = self.guardrails()
        if not guardrails:
            check = self._checks.get(item_id)
            if check is not None:
                check.decide(TurnVerdict(item_id, allowed=True))
            return
        _remember(self._checked, item_id, None)
        agent = self._core.agent
        self._core.spawn(
            self._check_speech(guardrails, agent, item_id, transcript), "input guardrails"
        )

    async def _check_speech(
        self, guardrails: list[InputGuardrail], agent: RealtimeAgent, item_id: str, text: str
    ) -> None:
        check = self._checks.get(item_id)
        try:
            await self._check_speech_and_act(guardrails, agent, item_id, text, check)
        finally:  # a check that ended without a verdict (cancelled, failed) lets no call run
            if check is not None:
                check.decide(
                    TurnVerdict(
                        item_id, allowed=False, reason="check_failed", detail="the check failed"
                    )
                )
                check.release()

    async def _check_speech_and_act(
        self,
        guardrails: list[InputGuardrail],
        agent: RealtimeAgent,
        item_id: str,
        text: str,
        check: TurnCheck | None,
    ) -> None:
        core = self._core
        tripped: list[InputGuardrailResult]
        tripped, raised = await evaluate_all(core, guardrails, agent, text, "input")
        if check is not None and not tripped:
            check.decide(
                TurnVerdict(item_id, allowed=True)
                if not raised
                else TurnVerdict(
                    item_id,
                    allowed=False,
                    reason="check_failed",
                    detail="an input guardrail raised while checking it",
                )
            )
        if not tripped:
            return
        if check is not None:  # blocked calls answer after the trip was handled, see below
            check.decide(
                TurnVerdict(
                    item_id,
                    allowed=False,
                    reason="tripped",
                    detail="it was blocked by a safety check",
                    results=tuple(tripped),
                ),
                hold=True,
            )
        response_id = self._answered_by.get(item_id)
        interrupted = False
        if item_id in self._answered_by:
            if response_id in self._active and self._output.stop_response(response_id, item_id):
                interrupted = True
                await self._output.cancel_response(response_id)
        elif self._unanswered == item_id:
            self._blocked_unanswered = item_id
        await core.send(RealtimeModelSendDeleteItem(item_id=item_id))
        await core.publish(
            InputGuardrailTrippedEvent(
                results=tuple(tripped),
                text=text,
                source="speech",
                item_id=item_id,
                response_id=response_id,
                response_interrupted=interrupted,
            )
        )
        if check is not None:  # the blocked calls' outputs go before the recovery message
            check.release()
            await check.answered()
        await send_recovery(
            core,
            core.config.get("input_guardrail_recovery_message"),
            tripped,
            default_input_recovery_message,
        )


def _tool_wait(value: object) -> float:
    """Validate `input_guardrail_tool_wait_s`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"input_guardrail_tool_wait_s must be a number of seconds, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(
            "input_guardrail_tool_wait_s must be a finite number of seconds >= 0 "
            f"(the wait is bounded), got {value!r}"
        )
    return float(value)


def _remember(store: OrderedDict[K, T], key: K, value: T) -> None:
    store[key] = value
    if len(store) > _REMEMBERED_ITEMS:
        store.popitem(last=False)
