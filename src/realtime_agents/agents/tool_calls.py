"""Running the model's tool calls: function tools, handoffs and approvals, each in its own task."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ..events import RealtimeModelToolCallEvent
from ..inputs import RealtimeModelSendToolOutput
from .agent import RealtimeAgent
from .agent_switch import AgentSwitcher
from .core import SessionCore
from .events import (
    ErrorEvent,
    HandoffEvent,
    ToolApprovalRequiredEvent,
    ToolCallBlockedEvent,
    ToolEndEvent,
    ToolGuardrailRejectedEvent,
    ToolStartEvent,
)
from .handoffs import Handoff, HandoffInputError, transfer_message
from .input_guardrails_runner import InputGuardrailRunner, TurnCheck, TurnVerdict
from .tools import FunctionTool, ToolContext

_SEEN_CALL_IDS = 4096


def rejection_message(tool: FunctionTool) -> str:
    """The default tool output for a rejected call."""
    return (
        f"The user did not approve the call to tool '{tool.name}', so it was not run. "
        "Tell the user and ask how they would like to continue."
    )


def blocked_message(name: str, verdict: TurnVerdict) -> str:
    """The tool output for a call not run because the user's spoken request was blocked."""
    if verdict.reason == "tripped":
        return (
            f"The call to '{name}' was not run: the user's request was blocked by a safety "
            "check. Do not call it again for this request."
        )
    return (
        f"The call to '{name}' was not run: the user's request could not be checked "
        f"({verdict.detail}), so it was blocked. Tell the user it was not done and ask them to "
        "say it again."
    )


@dataclass(frozen=True)
class PendingApproval:
    """A tool call parked until the app approves or rejects it."""

    call: RealtimeModelToolCallEvent
    agent: RealtimeAgent
    tool: FunctionTool


class ToolCallRunner:
    """Turns tool-call events into tasks on the core, so event delivery never waits on a tool.

    Each call is resolved against the agent that was active when it arrived, so a call that
    races a handoff still finds its tool. A call id seen twice is run once. A call answering a
    spoken turn whose input check has not finished waits for it first (see `TurnCheck`, from
    `input_guardrails`); a handoff switches agents through `switcher`.
    """

    def __init__(
        self,
        core: SessionCore,
        input_guardrails: InputGuardrailRunner,
        switcher: AgentSwitcher,
    ) -> None:
        self._core = core
        self._input_guardrails = input_guardrails
        self._switcher = switcher
        self._pending: dict[str, PendingApproval] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()

    @property
    def pending_approvals(self) -> dict[str, PendingApproval]:
        """Calls waiting for approval, by call id."""
        return dict(self._pending)

    def on_tool_call(self, call: RealtimeModelToolCallEvent) -> None:
        """Start handling a tool call in the background."""
        if call.call_id in self._seen:
            return
        self._seen[call.call_id] = None
        if len(self._seen) > _SEEN_CALL_IDS:
            self._seen.popitem(last=False)
        agent = self._core.agent
        check = self._input_guardrails.pending_check(call.response_id)
        self._core.spawn(self._dispatch(call, agent, check), f"tool call {call.name}")

    async def approve(self, call_id: str) -> None:
        """Run a parked call."""
        pending = self._take(call_id)
        self._core.spawn(
            self._execute(pending.call, pending.agent, pending.tool),
            f"tool call {pending.tool.name}",
        )

    async def reject(self, call_id: str, message: str | None = None) -> None:
        """Answer a parked call with a rejection instead of running it."""
        pending = self._take(call_id)
        await self._send_output(pending.call, message or rejection_message(pending.tool))

    def clear(self) -> None:
        """Forget parked calls (the session is closing)."""
        self._pending.clear()

    def _take(self, call_id: str) -> PendingApproval:
        pending = self._pending.pop(call_id, None)
        if pending is None:
            waiting = ", ".join(self._pending) or "none"
            raise KeyError(f"no tool call {call_id!r} is waiting for approval (waiting: {waiting})")
        return pending

    async def _dispatch(
        self, call: RealtimeModelToolCallEvent, agent: RealtimeAgent, check: TurnCheck | None
    ) -> None:
        target = agent.find_tool(call.name)
        if target is None:
            names = [d["name"] for d in agent.tool_definitions()]
            message = (
                f"Error: there is no tool named '{call.name}'. "
                f"Available tools: {', '.join(names) or 'none'}."
            )
            await self._core.publish(ErrorEvent(message=f"the model called {message[7:]}"))
            await self._send_output(call, message)
        elif check is not None and not await self._turn_allowed(call, agent, target, check):
            return
        elif isinstance(target, Handoff):
            await self._handoff(call, agent, target)
        else:
            try:
                needs_approval = await target.requires_approval(self._core.context, call.arguments)
            except Exception as exc:
                await self._core.report(f"needs_approval of tool {target.name!r} raised", exc)
                await self._send_output(
                    call, f"Error: could not decide whether '{target.name}' may run: {exc}"
                )
                return
            if needs_approval:
                self._pending[call.call_id] = PendingApproval(call, agent, target)
                await self._core.publish(
                    ToolApprovalRequiredEvent(
                        agent=agent, tool=target, call_id=call.call_id, arguments=call.arguments
                    )
                )
            else:
                await self._execute(call, agent, target)

    async def _turn_allowed(
        self,
        call: RealtimeModelToolCallEvent,
        agent: RealtimeAgent,
        target: FunctionTool | Handoff,
        check: TurnCheck,
    ) -> bool:
        """Wait for the input check of the spoken turn the call answers; answer it if blocked.

        After a trip no response is started (the recovery message follows); after a check that
        could not finish, one is, so the agent tells the user.
        """
        core = self._core
        async with self._input_guardrails.wait_for_verdict(check) as verdict:
            if verdict.allowed:
                return True
            name = target.tool_name if isinstance(target, Handoff) else target.name
            message = blocked_message(name, verdict)
            reason = verdict.reason or "check_failed"
            await core.send(
                RealtimeModelSendToolOutput(
                    tool_call=call, output=message, start_response=reason != "tripped"
                )
            )
            await core.record_tool_output(call.call_id, message)
            await core.publish(
                ToolCallBlockedEvent(
                    agent=agent,
                    tool=target,
                    call_id=call.call_id,
                    arguments=call.arguments,
                    item_id=verdict.item_id,
                    reason=reason,
                    message=message,
                    results=verdict.results,
                )
            )
            return False

    async def _execute(
        self, call: RealtimeModelToolCallEvent, agent: RealtimeAgent, tool: FunctionTool
    ) -> None:
        core = self._core
        if not await self._passes_guardrails(call, agent, tool):
            return
        context = ToolContext(
            context=core.context,
            call_id=call.call_id,
            tool_name=tool.name,
            arguments=call.arguments,
            agent=agent,
        )
        await core.publish(
            ToolStartEvent(agent=agent, tool=tool, call_id=call.call_id, arguments=call.arguments)
        )
        await core.call_hooks((agent,), "on_tool_start", agent, tool, call.call_id)
        result = await tool.invoke(context, timeout_s=core.config.get("tool_timeout_s"))
        await self._send_output(call, result.output)
        await core.publish(
            ToolEndEvent(
                agent=agent,
                tool=tool,
                call_id=call.call_id,
                arguments=call.arguments,
                output=result.output,
                status=result.status,
                value=result.value,
            )
        )
        await core.call_hooks((agent,), "on_tool_end", agent, tool, call.call_id, result)

    async def _passes_guardrails(
        self, call: RealtimeModelToolCallEvent, agent: RealtimeAgent, tool: FunctionTool
    ) -> bool:
        """Run the tool's input guardrails; on a rejection or an error, answer the call instead.

        A guardrail that raises is reported and the call is not run (a check that could not
        decide does not let the call through).
        """
        core = self._core
        try:
            rejection = await tool.check_input(core.context, call.arguments)
        except Exception as exc:
            await core.report(f"an input guardrail of tool {tool.name!r} raised", exc)
            await self._send_output(
                call, f"Error: the call to '{tool.name}' could not be checked, so it was not run."
            )
            return False
        if rejection is None:
            return True
        guardrail, text = rejection
        await self._send_output(call, text)
        cid, args = call.call_id, call.arguments
        rejected = ToolGuardrailRejectedEvent(
            agent=agent, tool=tool, call_id=cid, arguments=args, guardrail=guardrail, message=text
        )
        await core.publish(rejected)
        return False

    async def _handoff(
        self, call: RealtimeModelToolCallEvent, from_agent: RealtimeAgent, target: Handoff
    ) -> None:
        core = self._core
        try:
            value: Any = target.parse_input(call.arguments)
        except HandoffInputError as exc:
            await self._send_output(call, str(exc))
            return
        try:
            await target.run_callback(core.context, value)
        except Exception as exc:
            await core.report(f"on_handoff of {target.tool_name!r} raised", exc)
            await self._send_output(
                call, f"Error: the handoff to {target.agent.name} failed: {exc}"
            )
            return
        to_agent = target.agent
        if not await self._switcher.switch(to_agent):
            await self._send_output(call, f"Error: the handoff to {to_agent.name} failed.")
            return
        await core.publish(
            HandoffEvent(from_agent=from_agent, to_agent=to_agent, call_id=call.call_id)
        )
        await core.call_hooks((to_agent, from_agent), "on_handoff", from_agent, to_agent)
        await self._send_output(call, transfer_message(from_agent, to_agent))

    async def _send_output(self, call: RealtimeModelToolCallEvent, output: str) -> None:
        """Send the output and ask the model to go on; record it in the history."""
        await self._core.send(
            RealtimeModelSendToolOutput(tool_call=call, output=output, start_response=True)
        )
        await self._core.record_tool_output(call.call_id, output)
