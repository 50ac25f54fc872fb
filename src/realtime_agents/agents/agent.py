"""`RealtimeAgent`: who the model is (instructions, tools, handoffs, voice) and its hooks."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from ..settings import FunctionToolDefinition, RealtimeSessionModelSettings, merge_settings
from .guardrails import InputGuardrail, OutputGuardrail, check_guardrails
from .handoffs import Handoff, handoff
from .tools import FunctionTool, ToolResult

Instructions: TypeAlias = (
    str | Callable[[Any, "RealtimeAgent"], str] | Callable[[Any, "RealtimeAgent"], Awaitable[str]]
)
"""A string, or a sync or async function of `(context, agent)` returning one."""


class AgentHooks:
    """Lifecycle callbacks; subclass and override what you need. Every method is awaited.

    Set on an agent (`RealtimeAgent(hooks=...)`) for that agent, or in the run config
    (`{"hooks": ...}`) for every agent. An exception in a hook becomes an `error` event; the
    session goes on. Hooks run in order with event delivery, so keep them quick.
    """

    async def on_start(self, context: Any, agent: RealtimeAgent) -> None:
        """The agent started a response."""

    async def on_end(self, context: Any, agent: RealtimeAgent) -> None:
        """The agent finished a response."""

    async def on_handoff(
        self, context: Any, from_agent: RealtimeAgent, to_agent: RealtimeAgent
    ) -> None:
        """The conversation passed from `from_agent` to `to_agent`."""

    async def on_tool_start(
        self, context: Any, agent: RealtimeAgent, tool: FunctionTool, call_id: str
    ) -> None:
        """A tool is about to run."""

    async def on_tool_end(
        self,
        context: Any,
        agent: RealtimeAgent,
        tool: FunctionTool,
        call_id: str,
        result: ToolResult,
    ) -> None:
        """A tool finished (`result.status` says whether it worked)."""


@dataclass(eq=False)
class RealtimeAgent:
    """An agent: a name, instructions, tools, handoffs, guardrails, its own settings and hooks.

    `settings` are per-agent session settings (voice, turn detection, ...), in the GA or flat
    shape; they are merged over the run config's `model_settings` when this agent is active.
    """

    name: str
    instructions: Instructions | None = None
    tools: Sequence[FunctionTool] = ()
    handoffs: Sequence[RealtimeAgent | Handoff] = ()
    output_guardrails: Sequence[OutputGuardrail] = ()
    settings: RealtimeSessionModelSettings | None = None
    hooks: AgentHooks | None = None
    handoff_description: str | None = None
    """What this agent handles; shown to other agents in the handoff tool's description."""
    input_guardrails: Sequence[InputGuardrail] = ()
    """Checks on what the user says (text messages and the transcripts of speech)."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("an agent needs a non-empty name")
        self.tools = tuple(self.tools)
        self.handoffs = tuple(self.handoffs)
        self.output_guardrails = tuple(self.output_guardrails)
        self.input_guardrails = tuple(self.input_guardrails)
        check_guardrails(f"agent {self.name!r}", "output_guardrails", self.output_guardrails)
        check_guardrails(f"agent {self.name!r}", "input_guardrails", self.input_guardrails)
        for tool in self.tools:
            if not isinstance(tool, FunctionTool):
                raise TypeError(
                    f"agent {self.name!r}: tools must be FunctionTool (use @function_tool), "
                    f"got {tool!r}"
                )
        for item in self.handoffs:
            if not isinstance(item, RealtimeAgent | Handoff):
                raise TypeError(
                    f"agent {self.name!r}: handoffs must be agents or handoff(...), got {item!r}"
                )
        if self.settings is not None and not isinstance(self.settings, Mapping):
            raise TypeError(f"agent {self.name!r}: settings must be a dict")
        if self.hooks is not None and not isinstance(self.hooks, AgentHooks):
            raise TypeError(f"agent {self.name!r}: hooks must be an AgentHooks instance")
        self.tool_definitions()  # raises at once on duplicate tool names

    def __repr__(self) -> str:
        return f"RealtimeAgent(name={self.name!r})"

    def clone(self, **changes: Any) -> RealtimeAgent:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    async def get_instructions(self, context: Any) -> str:
        """The instructions, calling the function (sync or async) if they are one."""
        if self.instructions is None:
            return ""
        if isinstance(self.instructions, str):
            return self.instructions
        result = self.instructions(context, self)
        if inspect.isawaitable(result):
            result = await result
        if not isinstance(result, str):
            raise TypeError(
                f"agent {self.name!r}: the instructions function returned "
                f"{type(result).__name__}, not str"
            )
        return result

    def get_handoffs(self) -> tuple[Handoff, ...]:
        """The handoffs, with plain agents wrapped by `handoff(agent)`."""
        return tuple(h if isinstance(h, Handoff) else handoff(h) for h in self.handoffs)

    def tool_definitions(self) -> list[FunctionToolDefinition]:
        """Tools and handoffs as the model sees them; raises if two share a name."""
        definitions = [tool.definition() for tool in self.tools]
        definitions += [h.definition() for h in self.get_handoffs()]
        seen: set[str] = set()
        for definition in definitions:
            if definition["name"] in seen:
                raise ValueError(
                    f"agent {self.name!r} has two tools or handoffs named {definition['name']!r}"
                )
            seen.add(definition["name"])
        return definitions

    def find_tool(self, name: str) -> FunctionTool | Handoff | None:
        """The tool or handoff with this name, if the agent has one."""
        for tool in self.tools:
            if tool.name == name:
                return tool
        for item in self.get_handoffs():
            if item.tool_name == name:
                return item
        return None


def _without_voice(settings: RealtimeSessionModelSettings) -> RealtimeSessionModelSettings:
    audio = settings.get("audio")
    if not audio or "voice" not in audio.get("output", {}):
        return settings
    output = {k: v for k, v in audio["output"].items() if k != "voice"}
    new_audio: dict[str, Any] = {**audio, "output": output}
    if not output:
        del new_audio["output"]
    result: dict[str, Any] = {**settings, "audio": new_audio}
    if not new_audio:
        del result["audio"]
    return result  # type: ignore[return-value]


async def build_agent_settings(
    agent: RealtimeAgent,
    context: Any,
    base: Mapping[str, Any] | None = None,
    *,
    include_voice: bool = True,
) -> RealtimeSessionModelSettings:
    """Session settings for `agent`: `base`, then the agent's settings, instructions and tools.

    `include_voice=False` drops the voice: the server refuses to change it once audio was
    produced (`cannot_update_voice`).
    """
    settings = merge_settings(base or {}, agent.settings or {})
    settings["instructions"] = await agent.get_instructions(context)
    settings["tools"] = agent.tool_definitions()
    return settings if include_voice else _without_voice(settings)
