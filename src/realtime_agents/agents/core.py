"""`SessionCore`: the state and services a session's helpers share, without the session.

The helpers behind `RealtimeSession` (`ModelEventHandler`, `ToolCallRunner`, `GuardrailRunner`,
`InputGuardrailRunner`, `AgentSwitcher`) each get the core and the other helpers they use as
constructor arguments. The core holds the model, the current agent, the run's context and
config, the history, the metrics and the event broadcaster, and offers `publish`, `report`,
`send`, `spawn` and `call_hooks`. It knows nothing of the helpers, so each one can be built and
tested with a core alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from typing import Any, Literal

from ..inputs import RealtimeModelSendEvent
from ..model import RealtimeModel
from .agent import AgentHooks, RealtimeAgent
from .broadcast import DEFAULT_MAX_QUEUE_SIZE, Broadcaster
from .config import RealtimeRunConfig
from .events import ErrorEvent, HistoryAddedEvent, HistoryUpdatedEvent, RealtimeSessionEvent
from .history import Change, ConversationHistory
from .metrics import MetricsRecorder

logger = logging.getLogger("realtime_agents.agents.session")  # the session's log, as before

SessionState = Literal["new", "starting", "open", "closing", "closed"]


class SessionCore:
    """One conversation's shared state, and the ways its helpers act on it.

    `state` is driven by the session (`RealtimeSession.start` and `close`); `send` and `spawn`
    do nothing unless it is "open". Everything a background task raises becomes an `error`
    event, never a crash.
    """

    def __init__(
        self,
        model: RealtimeModel,
        agent: RealtimeAgent,
        *,
        context: Any = None,
        config: RealtimeRunConfig | None = None,
    ) -> None:
        self.model = model
        self.agent = agent
        """The agent now speaking (changed by `AgentSwitcher`)."""
        self.context = context
        self.config: RealtimeRunConfig = config or {}
        self.history = ConversationHistory(
            keep_audio=self.config.get("keep_audio_in_history", False)
        )
        self.broadcaster: Broadcaster[RealtimeSessionEvent] = Broadcaster(
            self.config.get("event_queue_size", DEFAULT_MAX_QUEUE_SIZE)
        )
        clock = self.config.get("clock")
        self.metrics = MetricsRecorder(clock) if clock else MetricsRecorder()
        self.state: SessionState = "new"
        self.audio_produced = False
        """Whether the model produced audio (the voice can no longer change)."""
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def is_open(self) -> bool:
        """Whether the session is open (started and not closing)."""
        return self.state == "open"

    async def publish(self, event: RealtimeSessionEvent) -> None:
        """Deliver an event to every consumer (waits while a consumer's queue is full)."""
        await self.broadcaster.publish(event)

    async def publish_change(self, change: Change) -> None:
        """Publish a history change as `history_added` or `history_updated`."""
        kind, item = change
        await self.publish(
            HistoryAddedEvent(item=item) if kind == "added" else HistoryUpdatedEvent(item=item)
        )

    async def report(self, what: str, exc: BaseException) -> None:
        """Log a failure and publish it as an `error` event."""
        logger.warning("%s", what, exc_info=exc)
        await self.publish(ErrorEvent(message=f"{what}: {exc}", exception=exc))

    async def send(self, event: RealtimeModelSendEvent) -> bool:
        """Send from a background task: a failure becomes an error event, never a crash."""
        if not self.is_open:
            return False
        try:
            await self.model.send_event(event)
        except Exception as exc:
            await self.report(f"sending {event.type} to the model failed", exc)
            return False
        return True

    def spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        """Run a coroutine in a tracked task; its exceptions become error events."""
        if not self.is_open:
            coroutine.close()
            return
        task = asyncio.create_task(self._guarded(coroutine, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def cancel_tasks(self, caller: asyncio.Task[Any] | None = None) -> None:
        """Cancel and await the spawned tasks (except `caller`, which may be one of them)."""
        tasks = [task for task in self._tasks if task is not caller]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _guarded(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        try:
            await coroutine
        except Exception as exc:
            await self.report(f"{name} failed", exc)

    async def call_hooks(self, agents: Sequence[RealtimeAgent], method: str, *args: Any) -> None:
        """Call `method` on the agents' hooks and the run config's hooks; errors become events."""
        hooks: list[AgentHooks] = []
        for agent in agents:
            if agent.hooks is not None and all(agent.hooks is not h for h in hooks):
                hooks.append(agent.hooks)
        run_hooks = self.config.get("hooks")
        if run_hooks is not None and all(run_hooks is not h for h in hooks):
            hooks.append(run_hooks)
        for hook in hooks:
            try:
                await getattr(hook, method)(self.context, *args)
            except Exception as exc:
                await self.report(f"hook {type(hook).__name__}.{method} raised", exc)

    async def record_tool_output(self, call_id: str, output: str) -> None:
        """Put a tool call's output in the history and publish the update."""
        item = self.history.set_tool_output(call_id, output)
        if item is not None:
            await self.publish(HistoryUpdatedEvent(item=item))
