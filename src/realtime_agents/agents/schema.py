"""JSON schemas for tool parameters, built from a function's type hints and docstring."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_origin, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

_SECTION = re.compile(
    r"^(Args|Arguments|Parameters|Params|Returns|Return|Yields|Raises|Examples?|Notes?|"
    r"Attributes|See Also|Warnings?|Todo)\s*:\s*$",
    re.IGNORECASE,
)
_ARGS_SECTIONS = {"args", "arguments", "parameters", "params"}
_ARG_LINE = re.compile(r"^\*{0,2}(?P<name>\w+)\s*(\([^)]*\))?\s*:\s*(?P<text>.*)$")
_SPHINX_PARAM = re.compile(r"^:param\s+(?:[^:]*\s)?(?P<name>\w+)\s*:\s*(?P<text>.*)$")


@dataclass(frozen=True)
class ParsedDocstring:
    """A docstring's summary and per-parameter descriptions."""

    description: str
    parameters: dict[str, str]


def parse_docstring(doc: str | None) -> ParsedDocstring:
    """Split a Google-style (or Sphinx `:param x:`) docstring into a description and parameters."""
    if not doc:
        return ParsedDocstring("", {})
    lines = inspect.cleandoc(doc).splitlines()
    description: list[str] = []
    parameters: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    arg_indent: int | None = None
    for raw in lines:
        line = raw.strip()
        header = _SECTION.match(line)
        if header and not raw.startswith((" ", "\t")):
            section = header.group(1).lower()
            current = None
            arg_indent = None
            continue
        sphinx = _SPHINX_PARAM.match(line)
        if sphinx:
            current = sphinx.group("name")
            parameters[current] = sphinx.group("text").strip()
            section = "sphinx"
            continue
        if section is None:
            description.append(line)
        elif section in _ARGS_SECTIONS:
            arg = _ARG_LINE.match(line)
            indent = len(raw) - len(raw.lstrip())
            if arg_indent is None and arg:
                arg_indent = indent
            if arg and indent == arg_indent:
                current = arg.group("name")
                parameters[current] = arg.group("text").strip()
            elif current is not None and line:
                parameters[current] = f"{parameters[current]} {line}".strip()
        elif section == "sphinx" and current is not None and line and raw.startswith(" "):
            parameters[current] = f"{parameters[current]} {line}".strip()
    text = "\n".join(description).strip()
    return ParsedDocstring(re.sub(r"\n{3,}", "\n\n", text), parameters)


@dataclass(frozen=True)
class FunctionSchema:
    """What a tool needs to know about its function: the arguments model and how to call it."""

    name: str
    description: str
    arguments_model: type[BaseModel]
    json_schema: dict[str, Any]
    takes_context: bool
    positional_only: tuple[str, ...]
    keyword: tuple[str, ...]

    def call_arguments(self, validated: BaseModel) -> tuple[list[Any], dict[str, Any]]:
        """Positional and keyword arguments for the function, from validated arguments."""
        args = [getattr(validated, name) for name in self.positional_only]
        kwargs = {name: getattr(validated, name) for name in self.keyword}
        return args, kwargs


def _is_context_annotation(annotation: Any, context_type: type) -> bool:
    return annotation is context_type or get_origin(annotation) is context_type


def function_schema(
    func: Callable[..., Any],
    *,
    context_type: type,
    name: str | None = None,
    description: str | None = None,
) -> FunctionSchema:
    """Build the arguments model and JSON schema for `func`.

    A first parameter annotated with `context_type` is not part of the schema; it receives the
    tool context. `*args`/`**kwargs` are refused, since the model can only send named arguments.
    """
    tool_name = name or getattr(func, "__name__", None)
    if not tool_name or tool_name == "<lambda>":
        raise ValueError("give the tool a name=..., it cannot be taken from a lambda")
    signature = inspect.signature(func)
    try:
        hints = get_type_hints(func, include_extras=True)
    except NameError as exc:
        raise TypeError(
            f"cannot resolve the type hints of tool {tool_name!r}: {exc}; "
            "define the types it uses at module level"
        ) from exc
    doc = parse_docstring(inspect.getdoc(func))
    fields: dict[str, Any] = {}
    positional_only: list[str] = []
    keyword: list[str] = []
    takes_context = False
    for index, (param_name, param) in enumerate(signature.parameters.items()):
        annotation = hints.get(param_name, Any)
        if index == 0 and _is_context_annotation(annotation, context_type):
            takes_context = True
            continue
        if _is_context_annotation(annotation, context_type):
            raise TypeError(
                f"tool {tool_name!r}: the {context_type.__name__} parameter must come first"
            )
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(
                f"tool {tool_name!r} takes *{param_name}; a tool needs named parameters only"
            )
        default = ... if param.default is param.empty else param.default
        fields[param_name] = (
            annotation,
            Field(default, description=doc.parameters.get(param_name)),
        )
        (positional_only if param.kind is param.POSITIONAL_ONLY else keyword).append(param_name)
    model: type[BaseModel] = create_model(
        f"{tool_name}_arguments",
        __config__=ConfigDict(extra="forbid"),
        **fields,
    )
    return FunctionSchema(
        name=tool_name,
        description=description if description is not None else doc.description,
        arguments_model=model,
        json_schema=_clean_schema(model.model_json_schema()),
        takes_context=takes_context,
        positional_only=tuple(positional_only),
        keyword=tuple(keyword),
    )


def _clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop pydantic's generated titles, which only add tokens for the model."""
    cleaned = _drop_titles(schema)
    assert isinstance(cleaned, dict)
    cleaned.setdefault("properties", {})
    return cleaned


def _drop_titles(value: Any, *, in_properties: bool = False) -> Any:
    if isinstance(value, dict):
        return {
            key: _drop_titles(item, in_properties=key in ("properties", "$defs"))
            for key, item in value.items()
            if in_properties or key != "title"
        }
    if isinstance(value, list):
        return [_drop_titles(item) for item in value]
    return value


def describe_validation_error(error: ValidationError, root: str) -> str:
    """`field: problem; ...` for the model to read (`root` names a problem with the whole input)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in problem['loc']) or root}: {problem['msg']}"
        for problem in error.errors(include_url=False)
    )
