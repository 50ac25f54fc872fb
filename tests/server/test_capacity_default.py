"""`serve` limits responses in progress by default when every engine is embedded (issue 14,
item 10): the embedded engines share the machine's cores, so past a few turns at once every
turn is late; HTTP engines keep no limit (their capacity is their own server's)."""

from __future__ import annotations

import argparse

import pytest

from realtime_agents.cli import build_parser, server_options
from realtime_agents.preflight import EnginePlan
from realtime_agents.server.capacity import EMBEDDED_CONCURRENT_RESPONSES, default_limit

ALL_EMBEDDED = {role: {"kind": "embedded"} for role in ("vad", "stt", "llm", "tts")}
HTTP_LLM = {**ALL_EMBEDDED, "llm": {"kind": "http", "model": "m"}}


def serve_arguments(*flags: str) -> argparse.Namespace:
    return build_parser().parse_args(["serve", *flags])


def test_only_an_all_embedded_engine_set_gets_a_default_limit() -> None:
    assert default_limit(["embedded"] * 4) == EMBEDDED_CONCURRENT_RESPONSES
    assert default_limit(["embedded", "embedded", "http", "embedded"]) is None
    assert default_limit([]) is None  # scripted engines: no roles, no limit


@pytest.mark.parametrize(
    ("roles", "flags", "expected"),
    [
        (ALL_EMBEDDED, (), EMBEDDED_CONCURRENT_RESPONSES),
        (ALL_EMBEDDED, ("--max-concurrent-responses", "9"), 9),
        (ALL_EMBEDDED, ("--max-concurrent-responses", "0"), None),  # 0: no limit
        (HTTP_LLM, (), None),
        ({}, (), None),
    ],
)
def test_serve_flags_and_engines_give_the_limit(
    roles: dict[str, dict[str, str]], flags: tuple[str, ...], expected: int | None
) -> None:
    plan = EnginePlan(kind="embedded" if roles else "scripted", config={}, roles=roles)
    options = server_options(serve_arguments(*flags), None, plan)
    assert options.max_concurrent_responses == expected


def test_a_negative_limit_is_refused_by_the_parser() -> None:
    with pytest.raises(SystemExit):
        serve_arguments("--max-concurrent-responses", "-1")
