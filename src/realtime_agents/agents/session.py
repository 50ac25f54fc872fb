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
from collections.abc import AsyncIterator, Coroutine, Iterable, Sequence
from types import TracebackType
from typing import Any, Literal, Self, cast

from ..events import RealtimeModelEvent, RealtimeModelToolCallEvent
from ..inputs import (
    RealtimeModelInputTextContent,
    RealtimeModelSendAudio,
    RealtimeModelSendConversationItem,
    RealtimeModelSendEvent,
    RealtimeModelSendInterrupt,
    RealtimeModelSendSessionUpdate,
    RealtimeModelSendUserInput,
    RealtimeModelUserInput,
)
from ..items import FunctionCallItem, RealtimeItem
from ..model import RealtimeModel, RealtimeModelConfig, RealtimeModelListener
from ..settings import merge_settings, normalize_settings
from .agent import AgentHooks, RealtimeAgent, build_agent_settings
from .broadcast import DEFAULT_MAX_QUEUE_SIZE, Broadcaster, Subscription
from .config import RealtimeRunConfig
from .events import (
    ErrorEvent,
    HistoryAddedEvent,
    HistoryUpdatedEvent,
    RealtimeSessionEvent,
)
from .guardrails import DEFAULT_DEBOUNCE_TEXT_LENGTH, GuardrailDebouncer, check_guardrails
from .guardrails_runner import GuardrailRunner
from .history import Change, ConversationHistory
from .input_guardrails_runner import InputGuardrailRunner
from .metrics import MetricsRecorder, SessionUsage, TurnMetrics
from .model_events import ModelEventHandler
from .tool_calls import PendingApproval, ToolCallRunner

logger = logging.getLogger(__name__)


class RealtimeSession(RealtimeModelListener):
    """A live conversation. Use `async with await runner.run() as session:`."""

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
        self._model = model
        self._agent = agent
        self._context = context
        self._config: RealtimeRunConfig = config or {}
        check_guardrails(
            "the run config", "input_guardrails", self._config.get("input_guardrails", ())
        )
        check_guardrails(
            "the run config", "output_guardrails", self._config.get("output_guardrails", ())
        )
        self._model_config: RealtimeModelConfig = model_config or {}
        self._seed = tuple(history)
        self._history = ConversationHistory(
            keep_audio=self._config.get("keep_audio_in_history", False)
        )
        self._broadcaster: Broadcaster[RealtimeSessionEvent] = Broadcaster(
            self._config.get("event_queue_size", DEFAULT_MAX_QUEUE_SIZE)
        )
        clock = self._config.get("clock")
        self._metrics = MetricsRecorder(clock) if clock else MetricsRecorder()
        self._tools = ToolCallRunner(self)
        self._guardrails = GuardrailRunner(
            self,
            GuardrailDebouncer(
                self._config.get("guardrail_debounce_text_length", DEFAULT_DEBOUNCE_TEXT_LENGTH)
            ),
        )
        self._input_guardrails = InputGuardrailRunner(self, self._guardrails)
        self._handler = ModelEventHandler(self)
        self._tasks: set[asyncio.Task[None]] = set()
        self._state: Literal["new", "starting", "open", "closing", "closed"] = "new"
        self._close_task: asyncio.Task[None] | None = None
        self._audio_produced = False

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
        if self._state != "new":
            raise RuntimeError("this session was already started; run the runner again")
        self._state = "starting"
        base = merge_settings(
            self._model_config.get("initial_model_settings") or {},
            self._config.get("model_settings") or {},
        )
        try:
            settings = await build_agent_settings(self._agent, self._context, base)
            self._warn_if_speech_unchecked(self._agent, settings)
            options: RealtimeModelConfig = {
                **self._model_config,
                "initial_model_settings": settings,
            }
            self._model.add_listener(self)
            try:
                await self._model.connect(options)
            except BaseException:
                self._model.remove_listener(self)
                raise
            self._state = "open"
            await self._seed_history(self._seed)
        except BaseException:
            await self.close()
            raise

    async def _seed_history(self, items: Sequence[RealtimeItem]) -> None:
        previous: str | None = None
        for item in self._history.seed(items):
            self._input_guardrails.skip(item.item_id)  # the app's own history is not checked
            await self._publish(HistoryAddedEvent(item=item))
            await self._model.send_event(
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
        self._state = "closing"
        self._broadcaster.close()  # consumers drain and stop; blocked deliveries are released
        self._model.remove_listener(self)
        tasks = [task for task in self._tasks if task is not caller]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tools.clear()
        try:
            await self._model.close()
        except Exception:
            logger.warning("closing the model raised", exc_info=True)
        self._state = "closed"

    @property
    def closed(self) -> bool:
        """Whether `close()` was called (or the start failed)."""
        return self._state in ("closing", "closed")

    # -- events

    def __aiter__(self) -> AsyncIterator[RealtimeSessionEvent]:
        return self._broadcaster.subscribe().__aiter__()

    def events(self) -> Subscription[RealtimeSessionEvent]:
        """A new consumer of every event from now on; iterate it with `async for`.

        Subscribing is immediate, so several consumers created before the session starts each
        see every event from the start.
        """
        return self._broadcaster.subscribe()

    @property
    def event_queues(self) -> tuple[Subscription[RealtimeSessionEvent], ...]:
        """The live consumer queues (their lengths and high-water marks, for monitoring)."""
        return self._broadcaster.subscriptions

    # -- state

    @property
    def model(self) -> RealtimeModel:
        """The model, for raw access (`session.model.send_event(...)`)."""
        return self._model

    @property
    def context(self) -> Any:
        """The context given to `runner.run(context=...)`."""
        return self._context

    @property
    def current_agent(self) -> RealtimeAgent:
        """The agent now speaking."""
        return self._agent

    @property
    def history(self) -> tuple[RealtimeItem, ...]:
        """The conversation so far, oldest first, with transcripts merged in."""
        return self._history.items

    @property
    def usage(self) -> SessionUsage:
        """Token totals over the session."""
        return self._metrics.usage

    @property
    def turn_metrics(self) -> tuple[TurnMetrics, ...]:
        """Usage and latency of each finished response, oldest first."""
        return self._metrics.turns

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
        self._metrics.input_ended("text")
        await self._model.send_event(RealtimeModelSendUserInput(user_input=message))
        return True

    async def send_audio(self, audio: bytes, *, commit: bool = False) -> None:
        """Append user audio (session input format); `commit=True` ends the user's turn."""
        self._check_open()
        await self._model.send_event(RealtimeModelSendAudio(audio=audio, commit=commit))

    async def interrupt(self) -> None:
        """Stop the assistant now: cancel the response and cut what was not heard."""
        self._check_open()
        await self._model.send_event(RealtimeModelSendInterrupt(cancel_response=True))

    async def update_agent(self, agent: RealtimeAgent) -> None:
        """Switch to another agent (no handoff event); sends its settings to the model."""
        self._check_open()
        if not await self._switch_agent(agent):
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
        if self._state != "open":
            raise RuntimeError(
                f"the session is {self._state}; use it inside `async with await runner.run()`"
            )

    # -- the model listener

    async def on_event(self, event: RealtimeModelEvent) -> None:
        """Called by the model for each event."""
        if self._state in ("new", "closing", "closed"):
            return
        await self._handler.handle(event)

    def _on_tool_call(self, call: RealtimeModelToolCallEvent) -> None:
        self._tools.on_tool_call(call)

    # -- internals shared with the helpers (tool_calls, guardrails_runner, model_events)

    async def _publish(self, event: RealtimeSessionEvent) -> None:
        await self._broadcaster.publish(event)

    async def _publish_change(self, change: Change) -> None:
        kind, item = change
        await self._publish(
            HistoryAddedEvent(item=item) if kind == "added" else HistoryUpdatedEvent(item=item)
        )

    async def _report(self, what: str, exc: BaseException) -> None:
        logger.warning("%s", what, exc_info=exc)
        await self._publish(ErrorEvent(message=f"{what}: {exc}", exception=exc))

    async def _send(self, event: RealtimeModelSendEvent) -> bool:
        """Send from a background task: a failure becomes an error event, never a crash."""
        if self._state != "open":
            return False
        try:
            await self._model.send_event(event)
        except Exception as exc:
            await self._report(f"sending {event.type} to the model failed", exc)
            return False
        return True

    def _spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        """Run a coroutine in a tracked task; its exceptions become error events."""
        if self._state != "open":
            coroutine.close()
            return
        task = asyncio.create_task(self._guarded(coroutine, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        try:
            await coroutine
        except Exception as exc:
            await self._report(f"{name} failed", exc)

    async def _call_hooks(self, agents: Sequence[RealtimeAgent], method: str, *args: Any) -> None:
        """Call `method` on the agents' hooks and the run config's hooks; errors become events."""
        hooks: list[AgentHooks] = []
        for agent in agents:
            if agent.hooks is not None and all(agent.hooks is not h for h in hooks):
                hooks.append(agent.hooks)
        run_hooks = self._config.get("hooks")
        if run_hooks is not None and all(run_hooks is not h for h in hooks):
            hooks.append(run_hooks)
        for hook in hooks:
            try:
                await getattr(hook, method)(self._context, *args)
            except Exception as exc:
                await self._report(f"hook {type(hook).__name__}.{method} raised", exc)

    async def _switch_agent(self, agent: RealtimeAgent) -> bool:
        """Make `agent` current and send its settings (without the voice once audio played)."""
        base = merge_settings(
            self._model_config.get("initial_model_settings") or {},
            self._config.get("model_settings") or {},
        )
        try:
            settings = await build_agent_settings(
                agent, self._context, base, include_voice=not self._audio_produced
            )
        except Exception as exc:
            await self._report(f"building the settings of agent {agent.name!r} failed", exc)
            return False
        self._agent = agent
        self._warn_if_speech_unchecked(agent, settings)
        return await self._send(RealtimeModelSendSessionUpdate(session_settings=settings))

    def _warn_if_speech_unchecked(self, agent: RealtimeAgent, settings: Any) -> None:
        """Log a warning when input guardrails are set but speech is not transcribed: spoken
        turns then cannot be checked, and their tool calls are blocked after the wait."""
        if not self._input_guardrails.guardrails_of(agent):
            return
        audio_input = normalize_settings(settings).get("audio", {}).get("input", {})
        if audio_input.get("transcription") is None:
            logger.warning(
                "agent %r has input guardrails but input audio transcription is off: spoken "
                "turns cannot be checked, and tool calls answering them are not run (blocked "
                "after input_guardrail_tool_wait_s). Set input_audio_transcription in the "
                "model settings.",
                agent.name,
            )

    async def _record_tool_output(self, call_id: str, output: str) -> None:
        item = self._history.set_tool_output(call_id, output)
        if item is not None:
            await self._publish(HistoryUpdatedEvent(item=item))

    def _note_tool_call_item(self, call: RealtimeModelToolCallEvent) -> Change | None:
        if call.id is None or call.id in self._history:
            return None
        return self._history.apply(
            FunctionCallItem(
                item_id=call.id,
                call_id=call.call_id,
                name=call.name,
                arguments=call.arguments,
                previous_item_id=call.previous_item_id,
                status="in_progress",
            )
        )


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
