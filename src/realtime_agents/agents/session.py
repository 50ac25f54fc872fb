"""`RealtimeSession`: one live conversation between the app, its agents and a `RealtimeModel`.

The session listens to the model, keeps the history, runs tools and guardrails in background
tasks, and fans typed session events out to every consumer (`async for event in session`).

Back-pressure: each consumer has its own queue of at most `event_queue_size` events (default
1024). When a queue is full, the session waits before delivering more, which in turn slows the
model's delivery (the provider buffers a bounded amount), so memory stays bounded and nothing is
dropped. A consumer that breaks out of its loop is removed. Events emitted before anybody iterates
are held (up to the same bound) for the first consumer. Do not wait inside your event loop for
something that needs the session to deliver more events to that same loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from types import TracebackType
from typing import Any, Self, cast

from ..events import RealtimeModelEvent
from ..inputs import (
    RealtimeModelInputTextContent,
    RealtimeModelSendAudio,
    RealtimeModelSendConversationItem,
    RealtimeModelSendInterrupt,
    RealtimeModelSendUserInput,
    RealtimeModelUserInput,
)
from ..items import RealtimeItem
from ..model import RealtimeModel, RealtimeModelConfig, RealtimeModelListener
from .agent import RealtimeAgent
from .agent_switch import AgentSwitcher
from .broadcast import Subscription
from .config import RealtimeRunConfig
from .core import SessionCore
from .events import HistoryAddedEvent, RealtimeSessionEvent
from .guardrails import DEFAULT_DEBOUNCE_TEXT_LENGTH, GuardrailDebouncer, check_guardrails
from .guardrails_runner import GuardrailRunner
from .input_guardrails_runner import InputGuardrailRunner
from .metrics import SessionUsage, TurnMetrics
from .model_events import ModelEventHandler
from .tool_calls import PendingApproval, ToolCallRunner

logger = logging.getLogger(__name__)


class RealtimeSession(RealtimeModelListener):
    """A live conversation. Use `async with await runner.run() as session:`.

    The public face of the session: it wires a `SessionCore` (history, metrics, event fan-out)
    to the helpers that act on it (`ModelEventHandler`, `ToolCallRunner`, the guardrail runners,
    `AgentSwitcher`) and drives the lifecycle.
    """

    def __init__(
        self,
        model: RealtimeModel,
        agent: RealtimeAgent,
        *,
        context: Any = None,
        config: RealtimeRunConfig | None = None,
        model_config: RealtimeModelConfig | None = None,
        history: Iterable[RealtimeItem] = (),
    ) -> None:
        config = config or {}
        check_guardrails("the run config", "input_guardrails", config.get("input_guardrails", ()))
        check_guardrails("the run config", "output_guardrails", config.get("output_guardrails", ()))
        self._model_config: RealtimeModelConfig = model_config or {}
        self._seed = tuple(history)
        self._core = core = SessionCore(model, agent, context=context, config=config)
        self._switcher = AgentSwitcher(core, self._model_config)
        debounce = config.get("guardrail_debounce_text_length", DEFAULT_DEBOUNCE_TEXT_LENGTH)
        self._guardrails = GuardrailRunner(core, GuardrailDebouncer(debounce))
        self._input_guardrails = InputGuardrailRunner(core, self._guardrails)
        self._tools = ToolCallRunner(core, self._input_guardrails, self._switcher)
        self._handler = ModelEventHandler(
            core, self._tools, self._guardrails, self._input_guardrails
        )
        self._close_task: asyncio.Task[None] | None = None

    # -- lifecycle

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Connect the model with the starting agent's settings and send the seeded history."""
        core = self._core
        if core.state != "new":
            raise RuntimeError("this session was already started; run the runner again")
        core.state = "starting"
        try:
            settings = await self._switcher.settings_for(core.agent)
            options: RealtimeModelConfig = {
                **self._model_config,
                "initial_model_settings": settings,
            }
            core.model.add_listener(self)
            try:
                await core.model.connect(options)
            except BaseException:
                core.model.remove_listener(self)
                raise
            core.state = "open"
            await self._seed_history(self._seed)
        except BaseException:
            await self.close()
            raise

    async def _seed_history(self, items: Sequence[RealtimeItem]) -> None:
        core = self._core
        previous: str | None = None
        for item in core.history.seed(items):
            self._input_guardrails.skip(item.item_id)  # the app's own history is not checked
            await core.publish(HistoryAddedEvent(item=item))
            await core.model.send_event(
                RealtimeModelSendConversationItem(item=item, previous_item_id=previous)
            )
            previous = item.item_id

    async def close(self) -> None:
        """Cancel and await tool and guardrail tasks, close the model, end iteration. Idempotent."""
        if self._close_task is None:
            caller = asyncio.current_task()
            self._close_task = asyncio.create_task(self._close(caller))
        await asyncio.shield(self._close_task)

    async def _close(self, caller: asyncio.Task[Any] | None) -> None:
        core = self._core
        core.state = "closing"
        core.broadcaster.close()  # consumers drain and stop; blocked deliveries are released
        core.model.remove_listener(self)
        await core.cancel_tasks(caller)
        self._tools.clear()
        try:
            await core.model.close()
        except Exception:
            logger.warning("closing the model raised", exc_info=True)
        core.state = "closed"

    @property
    def closed(self) -> bool:
        """Whether `close()` was called (or the start failed)."""
        return self._core.state in ("closing", "closed")

    # -- events

    def __aiter__(self) -> AsyncIterator[RealtimeSessionEvent]:
        return self._core.broadcaster.subscribe().__aiter__()

    def events(self) -> Subscription[RealtimeSessionEvent]:
        """A new consumer of every event from now on; iterate it with `async for`.

        Subscribing is immediate, so several consumers created before the session starts each
        see every event from the start.
        """
        return self._core.broadcaster.subscribe()

    @property
    def event_queues(self) -> tuple[Subscription[RealtimeSessionEvent], ...]:
        """The live consumer queues (their lengths and high-water marks, for monitoring)."""
        return self._core.broadcaster.subscriptions

    # -- state

    @property
    def model(self) -> RealtimeModel:
        """The model, for raw access (`session.model.send_event(...)`)."""
        return self._core.model

    @property
    def context(self) -> Any:
        """The context given to `runner.run(context=...)`."""
        return self._core.context

    @property
    def current_agent(self) -> RealtimeAgent:
        """The agent now speaking."""
        return self._core.agent

    @property
    def history(self) -> tuple[RealtimeItem, ...]:
        """The conversation so far, oldest first, with transcripts merged in."""
        return self._core.history.items

    @property
    def usage(self) -> SessionUsage:
        """Token totals over the session."""
        return self._core.metrics.usage

    @property
    def turn_metrics(self) -> tuple[TurnMetrics, ...]:
        """Usage and latency of each finished response, oldest first."""
        return self._core.metrics.turns

    @property
    def pending_tool_approvals(self) -> dict[str, PendingApproval]:
        """Tool calls waiting for `approve_tool_call` or `reject_tool_call`, by call id."""
        return self._tools.pending_approvals

    # -- what the app sends

    async def send_message(self, message: RealtimeModelUserInput) -> bool:
        """Send a user text message (or a message with images) and ask for a response.

        Input guardrails check the message's text first. If one trips, nothing is sent,
        `input_guardrail_tripped` is emitted and False is returned; otherwise True.
        """
        self._check_open()
        if not await self._input_guardrails.check_text(_message_text(message)):
            return False
        self._check_open()  # the session may have closed while the guardrails ran
        self._core.metrics.input_ended("text")
        await self._core.model.send_event(RealtimeModelSendUserInput(user_input=message))
        return True

    async def send_audio(self, audio: bytes, *, commit: bool = False) -> None:
        """Append user audio (session input format); `commit=True` ends the user's turn."""
        self._check_open()
        await self._core.model.send_event(RealtimeModelSendAudio(audio=audio, commit=commit))

    async def interrupt(self) -> None:
        """Stop the assistant now: cancel the response and cut what was not heard."""
        self._check_open()
        await self._core.model.send_event(RealtimeModelSendInterrupt(cancel_response=True))

    async def update_agent(self, agent: RealtimeAgent) -> None:
        """Switch to another agent (no handoff event); sends its settings to the model."""
        self._check_open()
        if not await self._switcher.switch(agent):
            raise RuntimeError(f"could not switch to agent {agent.name!r}; see the error event")

    async def approve_tool_call(self, call_id: str) -> None:
        """Run a tool call that waits for approval; raises KeyError if none has that id."""
        self._check_open()
        await self._tools.approve(call_id)

    async def reject_tool_call(self, call_id: str, *, message: str | None = None) -> None:
        """Refuse a tool call that waits for approval; `message` is what the model is told."""
        self._check_open()
        await self._tools.reject(call_id, message)

    def _check_open(self) -> None:
        if not self._core.is_open:
            raise RuntimeError(
                f"the session is {self._core.state}; use it inside `async with await runner.run()`"
            )

    # -- the model listener

    async def on_event(self, event: RealtimeModelEvent) -> None:
        """Called by the model for each event."""
        if self._core.state in ("new", "closing", "closed"):
            return
        await self._handler.handle(event)


def _message_text(message: RealtimeModelUserInput) -> str:
    """The text input guardrails check: the string, or a message's text parts joined."""
    if isinstance(message, str):
        return message
    texts = [
        cast(RealtimeModelInputTextContent, part)["text"]
        for part in message.get("content", ())
        if part.get("type") == "input_text"
    ]
    return "\n".join(texts)
