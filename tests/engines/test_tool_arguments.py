"""A tool's arguments come from the user's words: places are capitalised spans, numbers must be
said, and a question without them is no request for the tool."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from realtime_agents.server.engines.tool_arguments import (
    argument_choices,
    constrained_schema,
    place_spans,
    says_a_number,
    text_spans,
)
from realtime_agents.server.engines.tool_router import argument_schema, parse_tools

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "get_weather",
        "parameters": {"properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
    {
        "type": "function",
        "name": "set_timer",
        "parameters": {"properties": {"minutes": {"type": "integer"}}, "required": ["minutes"]},
    },
    {
        "type": "function",
        "name": "play_music",
        "parameters": {
            "properties": {"query": {"type": "string"}, "loud": {"type": "boolean"}},
            "required": ["query"],
        },
    },
]
WEATHER, TIMER, MUSIC = parse_tools(TOOLS)


def test_places_are_capitalised_spans_that_do_not_start_a_sentence() -> None:
    assert place_spans("What is the weather in New York?") == ["New York", "New", "York"]
    assert place_spans("Do I need an umbrella in Berlin?") == ["Berlin"]
    assert place_spans("Remind me in 15 minutes. Then Oslo.") == ["Oslo"]
    assert place_spans("What is the speed of light?") == []


def test_spans_stay_inside_one_sentence() -> None:
    spans = text_spans("Play jazz. Now rock", max_words=2)
    assert "jazz Now" not in spans
    assert {"Play jazz", "Now rock", "jazz", "rock"} <= set(spans)


def test_numbers_in_digits_or_words() -> None:
    assert says_a_number("Set a timer for 10 minutes")
    assert says_a_number("Wake me up in twenty minutes")
    assert not says_a_number("How do I tie a tie?")


def test_a_question_without_the_place_or_number_is_no_request() -> None:
    assert argument_choices(WEATHER, "What is the capital of France?") is not None
    assert argument_choices(WEATHER, "What is the speed of light?") is None
    assert argument_choices(TIMER, "How many minutes are in an hour?") is None
    assert argument_choices(TIMER, "Set a timer for five minutes.") == {}
    music = argument_choices(MUSIC, "Put on the Beatles.")
    assert music is not None
    assert "the Beatles" in music["query"] and "loud" not in music


def test_the_schema_limits_strings_to_the_choices() -> None:
    schema = constrained_schema(argument_schema(WEATHER), {"city": ["Paris"]})
    assert schema["properties"]["city"] == {"enum": ["Paris"]}
    assert schema["required"] == ["city"]
    assert argument_schema(WEATHER)["properties"]["city"] == {"type": "string"}


@given(st.text(alphabet=st.sampled_from("ab Cd.?1"), max_size=30))
def test_every_span_is_in_the_text(text: str) -> None:
    for span in text_spans(text):
        assert all(word in text for word in span.split())
    assert set(place_spans(text)) <= set(text_spans(text))


def test_a_free_text_value_may_be_a_long_phrase() -> None:
    note = parse_tools(
        [
            {
                "type": "function",
                "name": "send_message",
                "parameters": {"properties": {"text": {"type": "string"}}, "required": ["text"]},
            }
        ]
    )[0]
    choices = argument_choices(note, "Tell Bob that I am running late for dinner tonight, sorry")
    assert choices is not None
    assert "I am running late for dinner tonight" in choices["text"]
