"""Tool calls through a session: sync, async, raising, timing out, concurrent, approvals, hooks."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from agent_test_helpers import GUARD_S, EventRecorder, assistant_turn, tool_call

from realtime_agents import (
    FunctionCallItem,
    RealtimeModelAudioEvent,
    RealtimeModelSendToolOutput,
    RealtimeModelSendUserInput,
)
from realtime_agents.agents import (
    AgentHooks,
    FunctionTool,
    RealtimeAgent,
    RealtimeRunner,
    ToolContext,
    ToolResult,
    function_tool,
)
from realtime_agents.testing import RealtimeStep, ScriptedRealtimeModel


def output_step(check: Any = None, emit: Any = ()) -> RealtimeStep:
    """A step expecting a tool output whose text passes `check` (a substring or predicate)."""

    def expect(event: Any) -> bool:
        if not isinstance(event, RealtimeModelSendToolOutput) or not event.start_response:
            return False
        if check is None:
            return True
        return check in event.output if isinstance(check, str) else bool(check(event))

    return RealtimeStep(expect=expect, emit=emit)


def sent_outputs(model: ScriptedRealtimeModel) -> dict[str, str]:
    return {
        e.tool_call.call_id: e.output
        for e in model.sent_events
        if isinstance(e, RealtimeModelSendToolOutput)
    }


async def test_sync_tool_runs_in_a_thread_and_answers_the_model() -> None:
    threads: list[int] = []

    @function_tool
    def get_weather(ctx: ToolContext[dict[str, str]], city: str) -> str:
        """Weather for a city."""
        threads.append(threading.get_ident())
        return f"{city}: sunny for {ctx.context['user']} ({ctx.call_id}, {ctx.agent.name})"

    model = ScriptedRealtimeModel(
        [output_step("Oslo: sunny", emit=assistant_turn("r1", "a1", "It is sunny."))]
    )
    agent = RealtimeAgent(name="helper", tools=[get_weather])
    async with await RealtimeRunner(agent, model=model).run(context={"user": "ann"}) as session:
        events = EventRecorder(session)
        await model.emit(tool_call("get_weather", '{"city": "Oslo"}', item_id="fc1"))
        end = await events.until("tool_end")
        assert end.type == "tool_end"
        assert end.status == "completed" and end.tool is get_weather
        call = session.history[0]
        assert isinstance(call, FunctionCallItem) and call.output == end.output
    assert sent_outputs(model) == {"call_1": "Oslo: sunny for ann (call_1, helper)"}
    assert threads and threads[0] != threading.get_ident()
    start_index = events.types().index("tool_start")
    assert start_index < events.types().index("tool_end")
    model.assert_complete()


async def test_async_tool_and_hooks_are_called() -> None:
    calls: list[str] = []

    class Hooks(AgentHooks):
        def __init__(self, tag: str) -> None:
            self.tag = tag

        async def on_start(self, context: Any, agent: RealtimeAgent) -> None:
            calls.append(f"{self.tag}:start:{agent.name}")

        async def on_end(self, context: Any, agent: RealtimeAgent) -> None:
            calls.append(f"{self.tag}:end:{agent.name}")

        async def on_tool_start(
            self, context: Any, agent: RealtimeAgent, tool: FunctionTool, call_id: str
        ) -> None:
            calls.append(f"{self.tag}:tool_start:{tool.name}:{call_id}")

        async def on_tool_end(
            self,
            context: Any,
            agent: RealtimeAgent,
            tool: FunctionTool,
            call_id: str,
            result: ToolResult,
        ) -> None:
            calls.append(f"{self.tag}:tool_end:{tool.name}:{result.output}")

    @function_tool
    async def add(a: int, b: int) -> int:
        await asyncio.sleep(0)
        return a + b

    model = ScriptedRealtimeModel([output_step(lambda e: e.output == "5")])
    agent = RealtimeAgent(name="calc", tools=[add], hooks=Hooks("agent"))
    runner = RealtimeRunner(agent, model=model, config={"hooks": Hooks("run")})
    async with await runner.run() as session:
        events = EventRecorder(session)
        await model.emit(*assistant_turn("r1", "a1", "Let me add."))
        await model.emit(tool_call("add", '{"a": 2, "b": 3}'))
        await events.until("tool_end")
    assert calls == [
        "agent:start:calc",
        "run:start:calc",
        "agent:end:calc",
        "run:end:calc",
        "agent:tool_start:add:call_1",
        "run:tool_start:add:call_1",
        "agent:tool_end:add:5",
        "run:tool_end:add:5",
    ]
    model.assert_complete()


async def test_raising_tool_sends_an_error_and_the_session_goes_on() -> None:
    @function_tool
    def flaky(x: int) -> str:
        raise ConnectionError("backend unreachable")

    model = ScriptedRealtimeModel(
        [
            output_step("backend unreachable", emit=assistant_turn("r1", "a1", "Sorry.")),
            RealtimeStep(expect=RealtimeModelSendUserInput("still there?")),
        ]
    )
    async with await RealtimeRunner(
        RealtimeAgent(name="a", tools=[flaky]), model=model
    ).run() as session:
        events = EventRecorder(session)
        await model.emit(tool_call("flaky", '{"x": 1}'))
        end = await events.until("tool_end")
        assert end.type == "tool_end" and end.status == "error"
        assert "ConnectionError" in end.output
        await session.send_message("still there?")
        assert not session.closed
    model.assert_complete()


async def test_invalid_arguments_and_unknown_tool_get_error_outputs() -> None:
    @function_tool
    def square(x: int) -> int:
        return x * x

    model = ScriptedRealtimeModel(
        [
            output_step("invalid arguments for tool 'square'"),
            output_step("there is no tool named 'cube'"),
        ]
    )
    async with await RealtimeRunner(
        RealtimeAgent(name="a", tools=[square]), model=model
    ).run() as session:
        events = EventRecorder(session)
        await model.emit(tool_call("square", '{"x": "lots"}', call_id="c1"))
        end = await events.until("tool_end")
        assert end.type == "tool_end" and end.status == "invalid_arguments"
        await model.emit(tool_call("cube", '{"x": 2}', call_id="c2"))
        error = await events.until("error")
        assert error.type == "error" and "cube" in error.message
        await events.until(lambda e: e.type == "history_updated" and e.item.item_id == "item_c2")
    model.assert_complete()


async def test_timed_out_tool_sends_an_error_output() -> None:
    never = asyncio.Event()

    @function_tool
    async def hang() -> str:
        await never.wait()
        return "never"

    model = ScriptedRealtimeModel([output_step("timed out after 0.05 s")])
    runner = RealtimeRunner(
        RealtimeAgent(name="a", tools=[hang]), model=model, config={"tool_timeout_s": 0.05}
    )
    async with await runner.run() as session:
        events = EventRecorder(session)
        await model.emit(tool_call("hang"))
        end = await events.until("tool_end")
        assert end.type == "tool_end" and end.status == "timeout"
    model.assert_complete()


async def test_two_slow_tools_run_at_once_without_blocking_events() -> None:
    async_started = asyncio.Event()
    release_async = asyncio.Event()
    sync_started = threading.Event()
    release_sync = threading.Event()

    @function_tool
    async def slow_async() -> str:
        async_started.set()
        await release_async.wait()
        return "async done"

    @function_tool
    def slow_sync() -> str:
        sync_started.set()
        release_sync.wait(GUARD_S)
        return "sync done"

    model = ScriptedRealtimeModel([output_step(), output_step()])
    agent = RealtimeAgent(name="a", tools=[slow_async, slow_sync])
    async with await RealtimeRunner(agent, model=model).run() as session:
        events = EventRecorder(session)
        await model.emit(
            tool_call("slow_async", call_id="c1"), tool_call("slow_sync", call_id="c2")
        )
        await events.until("tool_start", count=2)
        await async_started.wait()
        assert await asyncio.to_thread(sync_started.wait, GUARD_S)
        # Both tools are inside their bodies; events still flow.
        await model.emit(RealtimeModelAudioEvent(data=b"\x00\x00", response_id="r", item_id="i"))
        await events.until("audio")
        assert "tool_end" not in events.types()
        release_sync.set()
        release_async.set()
        await events.until("tool_end", count=2)
    types = events.types()
    starts = [i for i, t in enumerate(types) if t == "tool_start"]
    ends = [i for i, t in enumerate(types) if t == "tool_end"]
    assert max(starts) < min(ends)
    assert sent_outputs(model) == {"c1": "async done", "c2": "sync done"}


async def test_approval_approve_runs_the_tool() -> None:
    ran: list[str] = []

    @function_tool(needs_approval=True)
    def delete_account(user: str) -> str:
        ran.append(user)
        return f"deleted {user}"

    model = ScriptedRealtimeModel([output_step(lambda e: e.output == "deleted bob")])
    async with await RealtimeRunner(
        RealtimeAgent(name="a", tools=[delete_account]), model=model
    ).run() as session:
        events = EventRecorder(session)
        await model.emit(tool_call("delete_account", '{"user": "bob"}'))
        request = await events.until("tool_approval_required")
        assert request.type == "tool_approval_required"
        assert request.call_id == "call_1" and request.tool is delete_account
        assert ran == [] and list(session.pending_tool_approvals) == ["call_1"]
        await session.approve_tool_call("call_1")
        await events.until("tool_end")
        assert ran == ["bob"] and session.pending_tool_approvals == {}
        with pytest.raises(KeyError, match="call_1"):
            await session.approve_tool_call("call_1")
    model.assert_complete()


async def test_approval_reject_sends_the_message_and_never_runs() -> None:
    ran: list[int] = []

    @function_tool(needs_approval=lambda ctx, args: args["amount"] > 100)
    def pay(amount: int) -> str:
        ran.append(amount)
        return "paid"

    model = ScriptedRealtimeModel(
        [
            output_step(lambda e: e.output == "paid"),
            output_step(lambda e: e.output == "Too much: ask a manager."),
        ]
    )
    async with await RealtimeRunner(
        RealtimeAgent(name="a", tools=[pay]), model=model
    ).run() as session:
        events = EventRecorder(session)
        await model.emit(tool_call("pay", '{"amount": 5}', call_id="small"))
        await events.until("tool_end")
        await model.emit(tool_call("pay", '{"amount": 500}', call_id="big"))
        await events.until("tool_approval_required")
        await session.reject_tool_call("big", message="Too much: ask a manager.")
        await events.until(lambda e: e.type == "history_updated" and e.item.item_id == "item_big")
    assert ran == [5]
    assert sent_outputs(model)["big"] == "Too much: ask a manager."
    model.assert_complete()


async def test_duplicate_call_ids_run_once() -> None:
    ran: list[int] = []

    @function_tool
    def once() -> str:
        ran.append(1)
        return "ok"

    model = ScriptedRealtimeModel([output_step()])
    async with await RealtimeRunner(
        RealtimeAgent(name="a", tools=[once]), model=model
    ).run() as session:
        events = EventRecorder(session)
        await model.emit(tool_call("once"), tool_call("once"))
        await events.until("tool_end")
    assert ran == [1]
    model.assert_complete()
