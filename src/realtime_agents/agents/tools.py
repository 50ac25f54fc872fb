"""Tools from plain Python functions: `@function_tool`, `FunctionTool`, and how a call is run."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeAlias, TypeVar, overload

import pydantic
import pydantic_core

from ..errors import RealtimeAgentsError
from ..settings import FunctionToolDefinition
from .guardrails import ToolInputGuardrail
from .schema import FunctionSchema, describe_validation_error, function_schema

if TYPE_CHECKING:
    from .agent import RealtimeAgent

TContext = TypeVar("TContext")
ToolFunction: TypeAlias = Callable[..., Any]
ToolStatus: TypeAlias = Literal["completed", "invalid_arguments", "error", "timeout"]
ApprovalPredicate: TypeAlias = Callable[[Any, dict[str, Any]], bool | Awaitable[bool]]
"""`(context, arguments) -> bool`, sync or async: whether this call needs the app's approval."""


@dataclass(frozen=True)
class ToolContext(Generic[TContext]):
    """What a tool may know about its call; declare a first parameter of this type to get it."""

    context: TContext
    """The context object given to `runner.run(context=...)`."""
    call_id: str
    tool_name: str
    arguments: str
    """The raw JSON arguments the model sent."""
    agent: RealtimeAgent


@dataclass(frozen=True)
class ToolResult:
    """The outcome of one tool call: the text sent to the model and how the call went."""

    output: str
    status: ToolStatus
    value: Any = None
    exception: BaseException | None = None


class FunctionTool:
    """A tool the model can call, made from a sync or async Python function.

    The parameter schema comes from the type hints (anything pydantic understands) and the
    descriptions from the docstring (Google-style `Args:` or Sphinx `:param x:`). Sync functions
    run in a worker thread, async ones on the event loop. A tool that raises or exceeds
    `timeout_s` answers the model with an error text; the conversation goes on.
    `input_guardrails` check each call's arguments before the tool runs (`check_input`).
    """

    def __init__(
        self,
        function: ToolFunction,
        *,
        name: str | None = None,
        description: str | None = None,
        timeout_s: float | None = None,
        needs_approval: bool | ApprovalPredicate = False,
        input_guardrails: Sequence[ToolInputGuardrail] = (),
    ) -> None:
        if not callable(function):
            raise TypeError(f"FunctionTool needs a function, got {type(function).__name__}")
        if timeout_s is not None and not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0 (or None for no limit), got {timeout_s!r}")
        self.function = function
        self._schema: FunctionSchema = function_schema(
            function, context_type=ToolContext, name=name, description=description
        )
        self.name = self._schema.name
        self.description = self._schema.description
        self.timeout_s = timeout_s
        self.needs_approval = needs_approval
        self.input_guardrails = tuple(input_guardrails)
        for guardrail in self.input_guardrails:
            if not isinstance(guardrail, ToolInputGuardrail):
                raise TypeError(
                    f"tool {self.name!r}: input_guardrails must be ToolInputGuardrail objects "
                    f"(use @tool_input_guardrail), got {guardrail!r}"
                )
        self._is_async = inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
            getattr(function, "__call__", None)  # noqa: B004 - callable objects with async __call__
        )
        functools.update_wrapper(self, function, updated=())

    def __repr__(self) -> str:
        return f"FunctionTool(name={self.name!r})"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the underlying function directly (handy in unit tests of the tool itself)."""
        return self.function(*args, **kwargs)

    @property
    def params_json_schema(self) -> dict[str, Any]:
        """The JSON schema of the arguments, as the model sees it."""
        return self._schema.json_schema

    def definition(self) -> FunctionToolDefinition:
        """The tool as sent to the model in the session settings."""
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": self.params_json_schema,
        }

    def parse_arguments(self, arguments: str) -> pydantic.BaseModel:
        """Validate the model's JSON arguments; raises `ToolArgumentsError` with a readable text."""
        try:
            return self._schema.arguments_model.model_validate_json(arguments.strip() or "{}")
        except pydantic.ValidationError as exc:
            problems = describe_validation_error(exc, "arguments")
            raise ToolArgumentsError(
                f"Error: invalid arguments for tool '{self.name}': {problems}. "
                "Fix the arguments and call the tool again."
            ) from exc

    async def requires_approval(self, context: Any, arguments: str) -> bool:
        """Whether this call must wait for the app's approval (invalid arguments never do)."""
        if isinstance(self.needs_approval, bool):
            return self.needs_approval
        parsed = _parsed(arguments)
        if parsed is None:
            return False
        decision = self.needs_approval(context, parsed)
        if inspect.isawaitable(decision):
            decision = await decision
        return bool(decision)

    async def check_input(
        self, context: Any, arguments: str
    ) -> tuple[ToolInputGuardrail, str] | None:
        """Run the input guardrails in order: the first rejection and its message, or None.

        Raises what a guardrail raises. Arguments that are not a JSON object are not checked:
        the call is refused as invalid anyway.
        """
        parsed = _parsed(arguments) if self.input_guardrails else None
        if parsed is None:
            return None
        for guardrail in self.input_guardrails:
            message = await guardrail.run(context, self, parsed)
            if message is not None:
                return guardrail, message
        return None

    async def invoke(
        self, tool_context: ToolContext[Any], *, timeout_s: float | None = None
    ) -> ToolResult:
        """Validate the arguments and run the function; never raises (except on cancellation)."""
        try:
            validated = self.parse_arguments(tool_context.arguments)
        except ToolArgumentsError as exc:
            return ToolResult(str(exc), "invalid_arguments", exception=exc)
        args, kwargs = self._schema.call_arguments(validated)
        if self._schema.takes_context:
            args.insert(0, tool_context)
        limit = self.timeout_s if self.timeout_s is not None else timeout_s
        try:
            async with asyncio.timeout(limit):
                value = await self._run(args, kwargs)
        except TimeoutError as exc:
            return ToolResult(
                f"Error: tool '{self.name}' timed out after {limit:g} s and returned nothing. "
                "Tell the user it did not finish; you may try again.",
                "timeout",
                exception=exc,
            )
        except Exception as exc:
            return ToolResult(
                f"Error: tool '{self.name}' failed: {type(exc).__name__}: {exc}",
                "error",
                exception=exc,
            )
        return ToolResult(serialize_output(value), "completed", value=value)

    async def _run(self, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if self._is_async:
            return await self.function(*args, **kwargs)
        # A worker thread, so a blocking tool cannot stall audio; the context is copied in.
        context = contextvars.copy_context()
        result = await asyncio.to_thread(context.run, self.function, *args, **kwargs)
        if inspect.isawaitable(result):  # a sync wrapper that returned a coroutine
            return await result
        return result


def _parsed(arguments: str) -> dict[str, Any] | None:
    """The model's arguments as a dict ({} for a non-object), or None if they are not JSON."""
    try:
        parsed = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else {}


class ToolArgumentsError(RealtimeAgentsError, ValueError):
    """The model's arguments were not valid JSON or did not match the tool's schema."""


def serialize_output(value: Any) -> str:
    """Turn a tool's return value into the text sent to the model (str as-is, else JSON)."""
    if isinstance(value, str):
        return value
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump_json()
    try:
        return pydantic_core.to_json(value).decode()
    except (pydantic_core.PydanticSerializationError, TypeError, ValueError):
        return str(value)


@overload
def function_tool(function: ToolFunction, /) -> FunctionTool: ...


@overload
def function_tool(
    *,
    name: str | None = None,
    description: str | None = None,
    timeout_s: float | None = None,
    needs_approval: bool | ApprovalPredicate = False,
    input_guardrails: Sequence[ToolInputGuardrail] = (),
) -> Callable[[ToolFunction], FunctionTool]: ...


def function_tool(
    function: ToolFunction | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout_s: float | None = None,
    needs_approval: bool | ApprovalPredicate = False,
    input_guardrails: Sequence[ToolInputGuardrail] = (),
) -> FunctionTool | Callable[[ToolFunction], FunctionTool]:
    """Make a `FunctionTool` from a function: `@function_tool` or `@function_tool(timeout_s=5)`."""

    def wrap(func: ToolFunction) -> FunctionTool:
        return FunctionTool(
            func,
            name=name,
            description=description,
            timeout_s=timeout_s,
            needs_approval=needs_approval,
            input_guardrails=input_guardrails,
        )

    return wrap if function is None else wrap(function)
