"""Handoffs: a tool the model calls to pass the conversation to another agent."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pydantic

from ..errors import RealtimeAgentsError
from ..settings import FunctionToolDefinition
from .schema import describe_validation_error

if TYPE_CHECKING:
    from .agent import RealtimeAgent

OnHandoff = Callable[..., Awaitable[None] | None]
"""`(context)` or, with an `input_type`, `(context, input)`; sync or async."""


def default_tool_name(agent: RealtimeAgent) -> str:
    """`transfer_to_<agent name in snake_case>`."""
    slug = re.sub(r"[^0-9a-zA-Z]+", "_", agent.name).strip("_").lower()
    return f"transfer_to_{slug or 'agent'}"


def default_tool_description(agent: RealtimeAgent) -> str:
    """A description naming the agent and what it handles."""
    text = f"Hand off to the {agent.name} agent to handle the request."
    return f"{text} {agent.handoff_description}" if agent.handoff_description else text


def transfer_message(from_agent: RealtimeAgent, to_agent: RealtimeAgent) -> str:
    """The tool output that makes the new agent pick up the user's request (not say goodbye)."""
    return json.dumps(
        {
            "handoff": f"The conversation was transferred from {from_agent.name} to you, "
            f"{to_agent.name}.",
            "instruction": "Continue helping the user with their request right away, following "
            "your instructions. Do not greet them again, say goodbye or mention the transfer "
            "unless asked.",
        }
    )


class HandoffInputError(RealtimeAgentsError, ValueError):
    """The model's handoff arguments did not match the handoff's `input_type`."""


@dataclass(frozen=True)
class Handoff:
    """A handoff to `agent`, offered to the model as the tool `tool_name`."""

    agent: RealtimeAgent
    tool_name: str
    tool_description: str
    input_type: Any = None
    """A type pydantic can validate (model, dataclass, TypedDict, ...) for the handoff's input."""
    on_handoff: OnHandoff | None = None
    _adapter: pydantic.TypeAdapter[Any] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.input_type is not None and self._adapter is None:
            object.__setattr__(self, "_adapter", pydantic.TypeAdapter(self.input_type))

    @property
    def params_json_schema(self) -> dict[str, Any]:
        """The JSON schema of the handoff's input (an empty object without `input_type`)."""
        if self._adapter is None:
            return {"type": "object", "properties": {}, "additionalProperties": False}
        return self._adapter.json_schema()

    def definition(self) -> FunctionToolDefinition:
        """The handoff as a tool in the session settings."""
        return {
            "type": "function",
            "name": self.tool_name,
            "description": self.tool_description,
            "parameters": self.params_json_schema,
        }

    def parse_input(self, arguments: str) -> Any:
        """The validated input (None without `input_type`); raises `HandoffInputError`."""
        if self._adapter is None:
            return None
        try:
            return self._adapter.validate_json(arguments.strip() or "{}")
        except pydantic.ValidationError as exc:
            problems = describe_validation_error(exc, "input")
            raise HandoffInputError(
                f"Error: invalid input for handoff '{self.tool_name}': {problems}. "
                "Fix the arguments and call it again."
            ) from exc

    async def run_callback(self, context: Any, value: Any) -> None:
        """Call `on_handoff` with the context (and the input when there is an `input_type`)."""
        if self.on_handoff is None:
            return
        result = (
            self.on_handoff(context, value)
            if self._adapter is not None
            else self.on_handoff(context)
        )
        if inspect.isawaitable(result):
            await result


def handoff(
    agent: RealtimeAgent,
    *,
    tool_name: str | None = None,
    description: str | None = None,
    input_type: Any = None,
    on_handoff: OnHandoff | None = None,
) -> Handoff:
    """A handoff to `agent` with an optional custom tool name, description, input and callback.

    With `input_type`, `on_handoff(context, input)` receives the validated input; without it,
    `on_handoff(context)`.
    """
    if on_handoff is not None and not callable(on_handoff):
        raise TypeError("on_handoff must be a function")
    return Handoff(
        agent=agent,
        tool_name=tool_name or default_tool_name(agent),
        tool_description=description or default_tool_description(agent),
        input_type=input_type,
        on_handoff=on_handoff,
    )
