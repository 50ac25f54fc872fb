"""Tool arguments the user actually said: the values a tiny router may put in a call.

A 135M model decoding a tool's arguments under a JSON grammar always produces some value, so a
question routed to a tool by mistake ("What is the speed of light?" to `get_weather`) comes out
with a value the user never said, and a real request sometimes gets a value from the model's
memory instead of the words ("Cairo" becomes "Egypt"). Here each string parameter's values are
restricted to word spans of the user's text, a place to a capitalised span (a transcript writes
a place's name capitalised), and a call whose required place or number has no candidate in the
text is not a request for that tool at all. No model code: cheap to test.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from realtime_agents.server.engines.tool_router import FunctionTool, parameter_kind

MAX_SPAN_WORDS: Final = 4
"""The longest place or name, in words."""
MAX_TEXT_WORDS: Final = 12
"""The longest free-text value (a message, a search), in words."""
_WORD: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9'&.-]*")
_NUMBER_WORDS: Final = frozenset(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "  # noqa: SIM905
    "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy "
    "eighty ninety hundred thousand half quarter dozen".split()
)
_SENTENCE_END: Final = re.compile(r"[.!?]\s*$")


def _words(text: str) -> list[tuple[str, bool]]:
    """The text's words, each with whether it starts a sentence (its capital says nothing)."""
    words = []
    for match in _WORD.finditer(text):
        before = text[: match.start()]
        starts = not before.strip() or bool(_SENTENCE_END.search(before))
        words.append((match.group().rstrip(".'") or match.group(), starts))
    return words


def _spans(words: list[tuple[str, bool]], max_words: int) -> list[list[tuple[str, bool]]]:
    """Runs of consecutive words within one sentence."""
    return [
        words[start : start + length]
        for length in range(1, max_words + 1)
        for start in range(len(words) - length + 1)
        if not any(starts for _, starts in words[start + 1 : start + length])
    ]


def _distinct(spans: list[str]) -> list[str]:
    return sorted(set(spans), key=lambda span: (-len(span.split()), span))


def text_spans(user_text: str, max_words: int = MAX_SPAN_WORDS) -> list[str]:
    """Every run of up to `max_words` consecutive words of the text, longest first."""
    spans = _spans(_words(user_text), max_words)
    return _distinct([" ".join(word for word, _ in span) for span in spans])


def place_spans(user_text: str, max_words: int = MAX_SPAN_WORDS) -> list[str]:
    """Runs of capitalised words that may name a place ("New York"), none starting a
    sentence ("What", "Remind")."""
    spans = _spans(_words(user_text), max_words)
    return _distinct(
        [
            " ".join(word for word, _ in span)
            for span in spans
            if not span[0][1]
            and all(word[0].isupper() and word.split("'")[0] != "I" for word, _ in span)
        ]
    )


def says_a_number(user_text: str) -> bool:
    """Whether the text holds a number, in digits or in words."""
    lowered = user_text.lower()
    words = set(re.findall(r"[a-z]+", lowered))
    return bool(re.search(r"\d", lowered)) or bool(words & _NUMBER_WORDS)


def argument_choices(tool: FunctionTool, user_text: str) -> dict[str, list[str]] | None:
    """Each string parameter's possible values in this text; None when a required place or
    number is nowhere in it (the text does not ask for this tool)."""
    choices: dict[str, list[str]] = {}
    for name, schema in tool.properties.items():
        kind = parameter_kind(name, schema)
        if kind == "number":
            if name in tool.required and not says_a_number(user_text):
                return None
            continue
        if kind in ("enum", "boolean") or schema.get("type") not in (None, "string"):
            continue
        if kind == "location":
            spans = place_spans(user_text)
        else:
            spans = text_spans(user_text, MAX_SPAN_WORDS if kind == "person" else MAX_TEXT_WORDS)
        if spans:
            choices[name] = spans
        elif name in tool.required:
            return None
    return choices


def constrained_schema(
    schema: Mapping[str, Any], choices: Mapping[str, Sequence[str]]
) -> dict[str, Any]:
    """An arguments JSON schema whose string properties take only the given values."""
    properties = dict(schema.get("properties", {}))
    for name, values in choices.items():
        if name in properties:
            properties[name] = {"enum": list(values)}
    return {**schema, "properties": properties}
