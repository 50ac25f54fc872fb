"""Few-shot prompts and JSON-schema grammars that let a tiny LLM route between function tools.

A 135M-parameter model cannot follow a tool list from instructions alone. It routes reliably when
it sees a handful of example turns (a user query, then a JSON object naming the tool and its
arguments) and its output is constrained by a JSON-schema grammar whose `name` can only be one
of the tool names or "none". This module builds both from a session's tool list, with no model
code, so it is cheap to test and to cache per tool list.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

NO_TOOL: Final = "none"

_GENERIC_VERBS: Final = frozenset(
    {"get", "fetch", "lookup", "look", "retrieve", "query", "find", "do", "run", "call", "show"}
)
_LOCATION_WORDS: Final = ("city", "location", "place", "town", "country", "region", "address")
_LOCATION_VALUES: Final = ("Madrid", "Oslo", "Tokyo")
_NUMBER_VALUES: Final = (3, 20, 7)
_NAME_VALUES: Final = ("Alice", "Bob", "Carol")
_TEXT_VALUES: Final = ("jazz", "the news", "pizza")
_NONE_ROUNDS: Final = 2
_NONE_QUERIES: Final = (
    "Who wrote Hamlet?",
    "How are you?",
    "What is the largest ocean on Earth?",
    "Tell me a joke.",
    "Thanks, that's all.",
)


@dataclass(frozen=True, slots=True)
class FunctionTool:
    """The parts of a Realtime function tool the router uses."""

    name: str
    description: str
    properties: Mapping[str, Mapping[str, Any]]
    required: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RouterPrompt:
    """A system prompt, example turns and a JSON schema for one tool list."""

    system: str
    examples: tuple[tuple[str, str], ...]
    schema: dict[str, Any]

    def messages(self, user_text: str) -> list[dict[str, str]]:
        """Chat messages asking the router about `user_text`; all but the last are constant."""
        messages = [{"role": "system", "content": self.system}]
        for query, answer in self.examples:
            messages.append({"role": "user", "content": query})
            messages.append({"role": "assistant", "content": answer})
        messages.append({"role": "user", "content": user_text})
        return messages


def parse_tools(tools: Sequence[Mapping[str, Any]]) -> list[FunctionTool]:
    """Function tools from Realtime (`{type, name, ...}`) or chat (`{function: {...}}`) shapes."""
    parsed: list[FunctionTool] = []
    for tool in tools:
        spec = tool.get("function", tool)
        if not isinstance(spec, Mapping) or tool.get("type", "function") != "function":
            continue
        name = spec.get("name")
        if not isinstance(name, str) or not name:
            continue
        parameters = spec.get("parameters") or {}
        properties = parameters.get("properties") if isinstance(parameters, Mapping) else None
        required = parameters.get("required") if isinstance(parameters, Mapping) else None
        props = {
            key: value if isinstance(value, Mapping) else {}
            for key, value in (properties or {}).items()
            if isinstance(key, str)
        }
        parsed.append(
            FunctionTool(
                name=name,
                description=str(spec.get("description") or ""),
                properties=props,
                required=tuple(r for r in (required or ()) if isinstance(r, str) and r in props),
            )
        )
    return parsed


def select_tools(
    tools: Sequence[FunctionTool], tool_choice: object
) -> tuple[list[FunctionTool], bool]:
    """The tools the router may pick under `tool_choice`, and whether "none" is allowed."""
    if tool_choice == "none":
        return [], True
    if tool_choice == "required":
        return list(tools), False
    if isinstance(tool_choice, Mapping):
        wanted = tool_choice.get("name")
        function = tool_choice.get("function")
        if wanted is None and isinstance(function, Mapping):
            wanted = function.get("name")
        chosen = [tool for tool in tools if tool.name == wanted]
        if chosen:
            return chosen, False
    return list(tools), True


def _words(name: str) -> list[str]:
    """Lower-case words of an identifier such as `getWeather` or `set_timer`."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [w.lower() for w in re.split(r"[^A-Za-z0-9]+", spaced) if w]


def parameter_kind(name: str, schema: Mapping[str, Any]) -> str:
    """A coarse kind for a parameter: enum, location, number, boolean, person or text."""
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return "enum"
    lowered = name.lower()
    if any(word in lowered for word in _LOCATION_WORDS):
        return "location"
    if schema.get("type") in ("integer", "number"):
        return "number"
    if schema.get("type") == "boolean":
        return "boolean"
    if lowered in ("name", "person", "contact", "recipient", "user"):
        return "person"
    return "text"


def _example_value(name: str, schema: Mapping[str, Any], index: int) -> Any:
    """A plausible value for a parameter, varied by `index`."""
    kind = parameter_kind(name, schema)
    if kind == "enum":
        options = schema["enum"]
        return options[index % len(options)]
    if kind == "location":
        return _LOCATION_VALUES[index % len(_LOCATION_VALUES)]
    if kind == "number":
        return _NUMBER_VALUES[index % len(_NUMBER_VALUES)]
    if kind == "boolean":
        return index % 2 == 0
    if kind == "person":
        return _NAME_VALUES[index % len(_NAME_VALUES)]
    return _TEXT_VALUES[index % len(_TEXT_VALUES)]


def _spoken(value: Any) -> str:
    """How a value appears inside a spoken query."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def example_queries(tool: FunctionTool) -> list[tuple[str, dict[str, Any]]]:
    """Two or three plausible user queries for a tool, each with the arguments it implies."""
    words = _words(tool.name)
    verb = words[0] if len(words) > 1 else ""
    topic = " ".join(words[1:] if verb else words) or tool.name
    action = "" if verb in _GENERIC_VERBS else verb
    params = [p for p in tool.properties if p in tool.required] or list(tool.properties)
    examples: list[tuple[str, dict[str, Any]]] = []
    for index in range(2):
        args = {p: _example_value(p, tool.properties[p], index) for p in params}
        if not params:
            text = f"{(action or 'show').capitalize()} the {topic}, please."
            if index == 1:
                text = f"Can you {action or 'check'} the {topic}?"
        else:
            first = params[0]
            value = _spoken(args[first])
            kind = parameter_kind(first, tool.properties[first])
            unit = first.replace("_", " ")
            if kind == "location":
                text = (
                    f"What is the {topic} in {value}?"
                    if index == 0
                    else f"How is the {topic} in {value} today?"
                )
            elif kind == "number" and action:
                text = f"{action.capitalize()} a {topic} for {value} {unit}."
                if index == 1:
                    text = f"Please {action} the {topic} to {value} {unit}."
            elif kind == "number":
                text = f"What is the {topic} for {value} {unit}?"
            elif action:
                text = f"{action.capitalize()} the {topic} {value}, please."
                if index == 1:
                    text = f"Can you {action} {value}?"
            else:
                text = f"What is the {topic} for {value}?"
                if index == 1:
                    text = f"Tell me the {topic} of {value}."
            extra = [p for p in params[1:]]
            if extra:
                text = (
                    text.rstrip(".?")
                    + ", "
                    + ", ".join(f"{p.replace('_', ' ')} {_spoken(args[p])}" for p in extra)
                    + "."
                )
        examples.append((text, args))
    description = tool.description.strip().rstrip(".")
    if description and params:
        args = {p: _example_value(p, tool.properties[p], 2) for p in params}
        values = " ".join(_spoken(args[p]) for p in params)
        lead = description[0].lower() + description[1:]
        examples.append((f"I need to {lead}: {values}.", args))
    return examples


def argument_schema(tool: FunctionTool) -> dict[str, Any]:
    """A grammar-friendly JSON schema for a tool's arguments (primitive types only)."""
    properties: dict[str, Any] = {}
    for name, schema in tool.properties.items():
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            properties[name] = {"enum": list(schema["enum"])}
        elif schema.get("type") in ("string", "integer", "number", "boolean"):
            properties[name] = {"type": schema["type"]}
        else:
            properties[name] = {"type": "string"}
    return {
        "type": "object",
        "properties": properties,
        "required": list(tool.required),
        "additionalProperties": False,
    }


def router_schema(tools: Sequence[FunctionTool], allow_none: bool) -> dict[str, Any]:
    """`anyOf` one object per tool (name const + arguments), plus `{"name": "none"}`."""
    options: list[dict[str, Any]] = [
        {
            "type": "object",
            "properties": {"name": {"const": tool.name}, "arguments": argument_schema(tool)},
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for tool in tools
    ]
    if allow_none or not options:
        options.append(
            {
                "type": "object",
                "properties": {"name": {"const": NO_TOOL}},
                "required": ["name"],
                "additionalProperties": False,
            }
        )
    return {"anyOf": options}


def _answer(name: str, args: Mapping[str, Any] | None) -> str:
    """The router's JSON answer for one example."""
    if args is None:
        return json.dumps({"name": name})
    return json.dumps({"name": name, "arguments": dict(args)})


def build_router_prompt(tools: Sequence[FunctionTool], allow_none: bool) -> RouterPrompt:
    """The few-shot router prompt for a tool list, interleaving tools and "none" examples."""
    lines = ["You are a voice assistant. Tools:"]
    for tool in tools:
        params = ", ".join(tool.properties)
        summary = tool.description.strip() or " ".join(_words(tool.name))
        lines.append(f"- {tool.name}({params}): {summary}")
    if allow_none:
        lines.append(
            'Reply with a JSON object choosing a tool, or name "none" if no tool is needed.'
        )
    else:
        lines.append("Reply with a JSON object choosing one of the tools.")
    per_tool = [
        [(query, _answer(tool.name, args)) for query, args in example_queries(tool)]
        for tool in tools
    ]
    tool_words = {word for tool in tools for word in _words(tool.name)}
    none_examples = [
        (query, _answer(NO_TOOL, None))
        for query in _NONE_QUERIES
        if not tool_words & set(_words(query))
    ]
    if not allow_none:
        none_examples = []
    # One "none" example per round for the first rounds only: a run of "none" answers at the
    # end of the prompt biases the tiny model towards "none" for everything.
    examples: list[tuple[str, str]] = []
    rounds = max([len(e) for e in per_tool] + [0])
    for index in range(rounds):
        for tool_examples in per_tool:
            if index < len(tool_examples):
                examples.append(tool_examples[index])
        if index < min(len(none_examples), _NONE_ROUNDS):
            examples.append(none_examples[index])
    return RouterPrompt(
        system="\n".join(lines), examples=tuple(examples), schema=router_schema(tools, allow_none)
    )


GENERAL_CONTEXT: Final = (
    "You are a helpful voice assistant. The user asks you to answer a question or to chat."
)
"""The system message under which a user's words are scored as ordinary conversation (framed
like `request_context`, so the two differ only in what is asked for)."""


def request_context(tool: FunctionTool) -> str:
    """The system message under which a user's words are scored as a request for `tool`.

    How much likelier the words are here than under `GENERAL_CONTEXT` (their pointwise mutual
    information with the tool's description) is evidence for the tool that does not depend on
    the few-shot examples: "Put on music by the Beatles" is far likelier from someone asking
    to play music than from someone asking a question, which the examples alone miss.
    """
    summary = tool.description.strip().rstrip(".") or " ".join(_words(tool.name))
    summary = summary[0].lower() + summary[1:]
    return f"You are a helpful voice assistant. The user asks you to {summary}."
