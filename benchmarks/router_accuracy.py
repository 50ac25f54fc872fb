"""Accuracy and latency of the embedded tool router (SmolLM2-135M on llama.cpp) per tool set.

Routes a labelled set of about 30 utterances (chit-chat and questions that must give "none",
weather questions, timer and music requests, near misses) with 1, 2 and 3 tools and prints, per
tool set, how many were routed to the right tool (or to "none"), how many tool calls also got
the right arguments, and the router's p50 / p90 time per utterance. The router's few-shot prefix
is prefilled first (as `prepare()` does for a session), so times are those of a warm session.

A query whose tool is not in the tool set must give "none" (a timer request with only
get_weather, say). No asserts: it is a measurement.

    flock /tmp/bench.lock .venv/bin/python benchmarks/router_accuracy.py [-v]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from realtime_agents.server.engines.llama import LlamaLanguageModel
from realtime_agents.server.engines.tool_router import parse_tools, select_tools

WEATHER: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
TIMER: dict[str, Any] = {
    "type": "function",
    "name": "set_timer",
    "description": "Start a countdown timer.",
    "parameters": {
        "type": "object",
        "properties": {"minutes": {"type": "integer"}},
        "required": ["minutes"],
    },
}
MUSIC: dict[str, Any] = {
    "type": "function",
    "name": "play_music",
    "description": "Play music by an artist or in a genre.",
    "parameters": {
        "type": "object",
        "properties": {"query": {"type": "string"}},
        "required": ["query"],
    },
}
TOOL_SETS: list[list[dict[str, Any]]] = [[WEATHER], [WEATHER, TIMER], [WEATHER, TIMER, MUSIC]]

# (utterance, expected tool or "none", expected arguments or None when not checked)
QUERIES: list[tuple[str, str, dict[str, Any] | None]] = [
    # must be "none": chit-chat and general questions
    ("What color is the sky?", "none", None),
    ("What's two plus two?", "none", None),
    ("How are you doing today?", "none", None),
    ("What is the capital of France?", "none", None),
    ("Tell me a joke.", "none", None),
    ("Who painted the Mona Lisa?", "none", None),
    ("Thank you, that's all.", "none", None),
    ("How many legs does a spider have?", "none", None),
    ("What's your name?", "none", None),
    ("Can you explain what a black hole is?", "none", None),
    # near misses: share words with a tool but ask for none
    ("Why is the sky blue when the weather is clear?", "none", None),
    ("What time is it in Tokyo?", "none", None),
    ("How long should I boil an egg?", "none", None),
    ("Who invented the clock?", "none", None),
    ("What is a cloud made of?", "none", None),
    # weather
    ("What's the weather in Paris?", "get_weather", {"city": "Paris"}),
    ("Is it raining in London right now?", "get_weather", {"city": "London"}),
    ("How hot is it in Cairo today?", "get_weather", {"city": "Cairo"}),
    ("Do I need an umbrella in Berlin?", "get_weather", {"city": "Berlin"}),
    ("What's the temperature in New York?", "get_weather", {"city": "New York"}),
    ("Will it snow in Denver tomorrow?", "get_weather", {"city": "Denver"}),
    ("Tell me the forecast for Rome.", "get_weather", {"city": "Rome"}),
    # timer
    ("Set a timer for five minutes.", "set_timer", {"minutes": 5}),
    ("Start a 10 minute timer.", "set_timer", {"minutes": 10}),
    ("Remind me in 15 minutes.", "set_timer", {"minutes": 15}),
    ("Can you time 2 minutes for my tea?", "set_timer", {"minutes": 2}),
    ("Count down 30 minutes, please.", "set_timer", {"minutes": 30}),
    # music
    ("Play some jazz.", "play_music", None),
    ("Put on music by the Beatles.", "play_music", None),
    ("I want to listen to rock music.", "play_music", None),
]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="print every wrong route")
    parser.add_argument("--repeats", type=int, default=1, help="route each query this often")
    args = parser.parse_args()

    llm = LlamaLanguageModel()
    llm.warm_up()
    summary = []
    for tool_set in TOOL_SETS:
        names = {tool["name"] for tool in tool_set}
        chosen, allow_none = select_tools(parse_tools(tool_set), "auto")
        llm.prepare(tool_set)  # prefill the few-shot prefix, as a session does
        llm._route("Hello.", chosen, allow_none, threading.Event())
        right = args_right = calls = 0
        times: list[float] = []
        wrong: list[str] = []
        for text, tool, expected_args in QUERIES:
            expected = tool if tool in names else "none"
            for _ in range(args.repeats):
                start = time.perf_counter()
                call = llm._route(text, chosen, allow_none, threading.Event())
                times.append((time.perf_counter() - start) * 1000)
            got = call.name if call is not None else "none"
            if got == expected:
                right += 1
            else:
                wrong.append(f"{text!r}: {got} (want {expected})")
            if expected != "none" and expected_args is not None:
                calls += 1
                if got == expected and call is not None:
                    args_right += json.loads(call.arguments) == expected_args
        label = "+".join(tool["name"] for tool in tool_set)
        p50, p90 = statistics.median(times), _percentile(times, 0.9)
        summary.append((label, right, args_right, calls, p50, p90))
        print(
            f"{label:34s} routed {right:2d}/{len(QUERIES)}  args {args_right}/{calls}  "
            f"p50 {p50:5.0f} ms  p90 {p90:5.0f} ms",
            flush=True,
        )
        if args.verbose:
            for line in wrong:
                print("    wrong:", line)
    total = sum(s[1] for s in summary)
    all_times = [s[4] for s in summary]
    print(
        f"{'total':34s} routed {total}/{len(QUERIES) * len(TOOL_SETS)}  "
        f"mean p50 {statistics.mean(all_times):.0f} ms"
    )
    llm.close()


if __name__ == "__main__":
    main()
