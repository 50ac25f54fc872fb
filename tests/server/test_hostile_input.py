"""Inputs that used to end a session (issue 14, server 1-3, 8): each gets an `error` event and
the session goes on, with nothing raised in the server log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hostile_client import ServerLog, answer_to, dumps, one_error, probe, watched_log
from socket_client import connect, receive, send, user_message

from realtime_agents.server import RealtimeServer
from realtime_agents.server.client_reader import MAX_JSON_DEPTH, MAX_JSON_VALUES
from realtime_agents.server.errors import MAX_ERROR_MESSAGE_CHARS
from realtime_agents.server.handlers import HANDLERS

HUGE = int("9" * 401)


@pytest.fixture
def server_log() -> Iterator[ServerLog]:
    yield from watched_log()


def nested_text(depth: int, open_: str = "[", close: str = "]", leaf: str = "1") -> str:
    return open_ * depth + leaf + close * depth


def deep_schema(depth: int) -> dict[str, Any]:
    """A JSON schema nested `2 * depth` levels deep (as a tool's `parameters`)."""
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"x": schema}}
    return schema


def realtime_update(**session: Any) -> dict[str, Any]:
    return {"type": "session.update", "session": {"type": "realtime", **session}}


async def test_deeply_nested_json_gets_invalid_json(
    server: RealtimeServer, server_log: ServerLog
) -> None:
    async with await connect(server.url) as ws:
        await receive(ws)
        for text in (nested_text(1000), nested_text(100_000), nested_text(5000, '{"a":', "}")):
            error = one_error(await answer_to(ws, text))
            assert error["code"] == "invalid_json"
            assert f"more than {MAX_JSON_DEPTH} levels" in error["message"]
        # Deep inside a valid event too, and just past the cap.
        deep_event = (
            '{"type":"response.create","response":{"metadata":' + nested_text(MAX_JSON_DEPTH) + "}}"
        )
        assert one_error(await answer_to(ws, deep_event))["code"] == "invalid_json"
    assert server_log.lines() == []


@pytest.mark.parametrize(
    ("field", "within"),
    [
        (lambda v: {"tools": [{"type": "function", "name": "f", "parameters": v}]}, None),
        (lambda v: {"tracing": {"metadata": v}}, None),
        # (the openai types take only strings and input parts as prompt variables, and only
        # `post_instructions` as a token limit)
        (lambda v: {"prompt": {"id": "p", "variables": {"v": v}}}, "text"),
        (
            lambda v: {"truncation": {"type": "retention_ratio", "retention_ratio": 0.5, **v}},
            {"token_limits": {"post_instructions": 1000}},
        ),
    ],
    ids=["tool-parameters", "tracing-metadata", "prompt-variables", "truncation-token-limits"],
)
async def test_nesting_stored_by_session_update_is_refused_at_parse_time(
    server: RealtimeServer, server_log: ServerLog, field: Any, within: Any
) -> None:
    async with await connect(server.url) as ws:
        await receive(ws)
        deep = (
            {"token_limits": deep_schema(243)}
            if within and "token_limits" in within
            else (deep_schema(243))
        )
        refused = one_error(await answer_to(ws, dumps(realtime_update(**field(deep)))))
        assert refused["code"] == "invalid_json"
        # Within the cap it is stored, and the next update (which copies the session) works.
        accepted = await answer_to(ws, dumps(realtime_update(**field(within or deep_schema(12)))))
        assert [event["type"] for event in accepted][:1] == ["session.updated"], accepted
        again = await answer_to(ws, dumps(realtime_update(instructions="still here")))
        assert again[0]["type"] == "session.updated"
        assert again[0]["session"]["instructions"] == "still here"
    assert server_log.lines() == []


@pytest.mark.parametrize(
    ("session", "param"),
    [
        ({"audio": {"output": {"speed": HUGE}}}, "session.audio.output.speed"),
        ({"audio": {"output": {"speed": -HUGE}}}, "session.audio.output.speed"),
        (
            {"audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": HUGE}}}},
            "session.audio.input.turn_detection.threshold",
        ),
        (
            {"truncation": {"type": "retention_ratio", "retention_ratio": HUGE}},
            "session.truncation.retention_ratio",
        ),
    ],
)
async def test_huge_integers_get_a_range_error(
    server: RealtimeServer, server_log: ServerLog, session: dict[str, Any], param: str
) -> None:
    async with await connect(server.url) as ws:
        await receive(ws)
        error = one_error(await answer_to(ws, dumps(realtime_update(**session))))
        assert error["code"] in ("decimal_above_max_value", "decimal_below_min_value")
        assert error["param"] == param
        assert len(error["message"]) < 300  # the 401 digits are not echoed
    assert server_log.lines() == []


async def test_a_handler_that_raises_gives_server_error_and_the_session_goes_on(
    server: RealtimeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("a bug in a handler")

    monkeypatch.setitem(HANDLERS, "response.cancel", broken)
    async with await connect(server.url) as ws:
        await receive(ws)
        events = await answer_to(ws, dumps({"type": "response.cancel", "event_id": "evt_bug"}))
        assert [event["error"]["type"] for event in events] == ["server_error"]
        assert events[0]["error"]["event_id"] == "evt_bug"
        await send(ws, realtime_update(instructions="after the bug"))
        assert (await receive(ws))["session"]["instructions"] == "after the bug"


async def test_error_messages_do_not_echo_unbounded_input(
    server: RealtimeServer, server_log: ServerLog
) -> None:
    big = "x" * (10 * 1024 * 1024)
    async with await connect(server.url, max_size=None) as ws:
        await receive(ws)
        for event in (
            {"type": big},
            {"type": "session.update", big: 1},
            {"type": "conversation.item.delete", "item_id": big},
            {"type": "conversation.item.retrieve", "item_id": "x", "event_id": big},
        ):
            error = one_error(await answer_to(ws, json.dumps(event)))
            assert len(error["message"]) <= MAX_ERROR_MESSAGE_CHARS
            assert len(json.dumps(error)) < 2 * MAX_ERROR_MESSAGE_CHARS
        assert await probe(ws) == []
    assert server_log.lines() == []


async def test_structures_too_large_to_parse_are_refused_unparsed(
    server: RealtimeServer, server_log: ServerLog
) -> None:
    """200,000 empty arrays (600 kB of JSON) would be ~11 MB parsed; refused before parsing.
    The same brackets and commas inside a string are text, and are accepted."""
    many = MAX_JSON_VALUES * 2
    async with await connect(server.url, max_size=None) as ws:
        await receive(ws)
        for text in ("[" + "[]," * many + "[]]", "[" + '"",' * many + '""]'):
            error = one_error(await answer_to(ws, text))
            assert error["code"] == "invalid_json"
            assert f"more than {MAX_JSON_VALUES} JSON values" in error["message"]
        prose = "[], {}, " * many  # as text: fine
        events = await answer_to(ws, json.dumps(user_message(prose)))
        assert [event["type"] for event in events] == [
            "conversation.item.added",
            "conversation.item.done",
        ]
        assert events[0]["item"]["content"][0]["text"] == prose
    assert server_log.lines() == []
