"""SmolLM2 on llama.cpp runs for real: a reply, tool routing, tool_choice and cancellation."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Generator, Mapping, Sequence
from typing import Any

import pytest

from realtime_agents.server.engines import llama_adapter
from realtime_agents.server.engines.base import ChatMessage, EngineSet, LlmChunk, LlmRequest
from realtime_agents.testing.sample_tools import MUSIC_TOOL, TIMER_TOOL, WEATHER_TOOL

TOOLS: list[dict[str, Any]] = [WEATHER_TOOL, TIMER_TOOL]


def _run(
    embedded: EngineSet,
    messages: Sequence[ChatMessage],
    tools: Sequence[Mapping[str, Any]] = (),
    tool_choice: str | Mapping[str, Any] = "auto",
) -> list[LlmChunk]:
    request = LlmRequest(messages=messages, tools=tools, tool_choice=tool_choice)
    return list(embedded.llm.generate(request, threading.Event()))


def _ask(text: str) -> list[ChatMessage]:
    return [
        {"role": "system", "content": "You are a friendly assistant."},
        {"role": "user", "content": text},
    ]


def _text(chunks: list[LlmChunk]) -> str:
    assert all(chunk.tool_call is None for chunk in chunks), chunks
    return "".join(chunk.text for chunk in chunks)


def test_smollm2_knows_the_capital_of_france(embedded: EngineSet) -> None:
    chunks = _run(embedded, _ask("What is the capital of France?"))
    assert len(chunks) > 1  # streamed piece by piece
    assert "Paris" in _text(chunks)


@pytest.mark.parametrize(
    ("query", "tool", "arguments"),
    [
        ("What's the weather in Paris?", "get_weather", {"city": "Paris"}),
        ("Set a timer for five minutes.", "set_timer", {"minutes": 5}),
    ],
)
def test_router_picks_the_right_tool(
    embedded: EngineSet, query: str, tool: str, arguments: dict[str, Any]
) -> None:
    chunks = _run(embedded, _ask(query), TOOLS)
    assert len(chunks) == 1
    call = chunks[0].tool_call
    assert call is not None
    assert call.name == tool
    assert json.loads(call.arguments) == arguments
    assert call.call_id.startswith("call_")


@pytest.mark.parametrize("query", ["How are you doing today?", "What is the capital of France?"])
def test_router_answers_chit_chat_without_a_tool(embedded: EngineSet, query: str) -> None:
    assert _text(_run(embedded, _ask(query), TOOLS)).strip()


def test_call_ids_are_fresh(embedded: EngineSet) -> None:
    first = _run(embedded, _ask("What's the weather in Paris?"), TOOLS)[0].tool_call
    second = _run(embedded, _ask("What's the weather in Paris?"), TOOLS)[0].tool_call
    assert first is not None and second is not None
    assert first.call_id != second.call_id


def test_tool_choice_none_never_calls_a_tool(embedded: EngineSet) -> None:
    assert _text(_run(embedded, _ask("What's the weather in Paris?"), TOOLS, "none")).strip()


def test_tool_choice_required_always_calls_a_tool(embedded: EngineSet) -> None:
    chunks = _run(embedded, _ask("How are you doing today?"), TOOLS, "required")
    assert chunks[0].tool_call is not None
    assert chunks[0].tool_call.name in {"get_weather", "set_timer"}


def test_tool_choice_names_the_tool(embedded: EngineSet) -> None:
    choice = {"type": "function", "name": "set_timer"}
    chunks = _run(embedded, _ask("What's the weather in Paris?"), TOOLS, choice)
    assert chunks[0].tool_call is not None
    assert chunks[0].tool_call.name == "set_timer"
    assert set(json.loads(chunks[0].tool_call.arguments)) == {"minutes"}


def test_tool_output_is_answered_in_prose(embedded: EngineSet) -> None:
    messages: list[ChatMessage] = [
        *_ask("What's the weather in Paris?"),
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "call_1",
            "content": '{"city": "Paris", "conditions": "sunny", "temperature_c": 18}',
        },
    ]
    reply = _text(_run(embedded, messages, TOOLS)).lower()
    assert "sunny" in reply or "18" in reply, reply


def test_cancel_stops_generation_early(embedded: EngineSet) -> None:
    prompt = _ask("Tell me a long story about a dragon who lives in a castle.")
    full = _run(embedded, prompt)
    cancel = threading.Event()
    stream = embedded.llm.generate(LlmRequest(messages=prompt), cancel)
    received = [next(stream), next(stream)]
    cancel.set()
    received.extend(stream)
    assert len(full) > 10
    assert len(received) <= 3
    assert list(embedded.llm.generate(LlmRequest(messages=prompt), cancel)) == []


def test_parallel_routing_replies_like_sequential_routing(embedded: EngineSet) -> None:
    from realtime_agents.server.engines.llama import LlamaLanguageModel

    llm = embedded.llm
    assert isinstance(llm, LlamaLanguageModel)
    prompt = _ask("How many legs does a spider have?")
    assert llm.parallel_router  # the default: the reply is decoded while the router decides
    parallel = _text(_run(embedded, prompt, TOOLS))
    llm.parallel_router = False
    try:
        sequential = _text(_run(embedded, prompt, TOOLS))
    finally:
        llm.parallel_router = True
    assert parallel == sequential
    assert parallel.strip()


def test_cancel_after_routing_stops_the_reply_and_frees_the_model(embedded: EngineSet) -> None:
    prompt = _ask("Tell me a long story about a dragon who lives in a castle.")
    cancel = threading.Event()
    stream = embedded.llm.generate(LlmRequest(messages=prompt, tools=TOOLS), cancel)
    received = [next(stream), next(stream)]  # the router said "none": the reply streams
    cancel.set()
    received.extend(stream)
    assert all(chunk.tool_call is None for chunk in received)
    assert len(received) <= 3
    abandoned = embedded.llm.generate(LlmRequest(messages=prompt, tools=TOOLS), threading.Event())
    assert isinstance(abandoned, Generator)
    assert next(abandoned).text
    abandoned.close()  # closed by its consumer mid-reply (a barge-in)
    assert "Paris" in _text(_run(embedded, _ask("What is the capital of France?"), TOOLS))


def test_prefill_caches_the_words_so_far_and_changes_no_answer(embedded: EngineSet) -> None:
    from realtime_agents.server.engines.llama import LlamaLanguageModel

    llm = embedded.llm
    assert isinstance(llm, LlamaLanguageModel)
    question = _ask("What's the weather in Paris?")
    partial: list[ChatMessage] = [
        *question[:-1],
        {"role": "user", "content": "What's the weather in Pa"},
    ]
    llm.prefill(LlmRequest(messages=partial, tools=TOOLS), threading.Event())
    for model in (llm._replier, llm._router):
        cached = model.detokenize(llama_adapter.cached_tokens(model)).decode()
        assert cached.endswith("What's the weather in")  # the last word may still change
    chunks = _run(embedded, question, TOOLS)
    assert [c.tool_call.name for c in chunks if c.tool_call] == ["get_weather"]
    chitchat = _ask("What is the capital of France?")
    expected = _text(_run(embedded, chitchat, TOOLS))
    partial = [*chitchat[:-1], {"role": "user", "content": "What is the capital"}]
    llm.prefill(LlmRequest(messages=partial, tools=TOOLS), threading.Event())
    assert _text(_run(embedded, chitchat, TOOLS)) == expected
    cancelled = threading.Event()
    cancelled.set()
    before = llama_adapter.cached_tokens(llm._replier)
    llm.prefill(
        LlmRequest(messages=_ask("Tell me about the history of Rome"), tools=TOOLS), cancelled
    )
    assert llama_adapter.cached_tokens(llm._replier) == before  # nothing evaluated after a cancel


def test_a_chosen_tool_prefills_the_answer_to_its_result(embedded: EngineSet) -> None:
    from realtime_agents.server.engines.llama import LlamaLanguageModel

    llm = embedded.llm
    assert isinstance(llm, LlamaLanguageModel)
    question = _ask("What's the weather in Paris?")
    chunks = _run(embedded, question, TOOLS)
    call = chunks[0].tool_call
    assert call is not None and call.name == "get_weather"
    replier = llm._replier

    def cached() -> str:
        with llm._replier_lock:
            return str(replier.detokenize(llama_adapter.cached_tokens(replier)).decode())

    for _ in range(200):  # the prefill runs in its own thread while the arguments decode
        if "(Result of get_weather" in cached():
            break
        threading.Event().wait(0.05)
    assert cached().endswith("What's the weather in Paris?\n(Result of get_weather:")
    messages: list[ChatMessage] = [
        *question,
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": call.call_id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
            ],
        },
        {
            "role": "tool",
            "tool_call_id": call.call_id,
            "content": '{"city": "Paris", "conditions": "sunny", "temperature_c": 18}',
        },
    ]
    assert "sunny" in _text(_run(embedded, messages, TOOLS)).lower()


@pytest.mark.parametrize(
    ("tools", "questions"),
    [
        (TOOLS, ["What color is the sky?", "What's two plus two?"]),
        ([*TOOLS, MUSIC_TOOL], ["What color is the sky?"]),
    ],
    ids=["2 tools", "3 tools"],
)
def test_with_several_tools_general_questions_get_no_tool(
    embedded: EngineSet, tools: list[dict[str, Any]], questions: list[str]
) -> None:
    # With several tools the tool list's prompt alone sends these to get_weather; the weather
    # tool's own prompt vetoes it.
    for query in questions:
        assert _text(_run(embedded, _ask(query), tools)).strip(), query
    chunks = _run(embedded, _ask("What's the weather in Paris?"), tools)
    assert chunks[0].tool_call is not None
    assert chunks[0].tool_call.name == "get_weather"
    assert json.loads(chunks[0].tool_call.arguments) == {"city": "Paris"}


def test_checking_a_tool_restores_the_prompts_from_snapshots(embedded: EngineSet) -> None:
    from realtime_agents.server.engines.llama import LlamaLanguageModel
    from realtime_agents.server.engines.tool_router import parse_tools

    llm = embedded.llm
    assert isinstance(llm, LlamaLanguageModel)
    llm.prepare(TOOLS)
    tools = parse_tools(TOOLS)
    setups = [
        llm.tool_router.setup(tools, True),
        *(llm.tool_router.setup([t], True) for t in tools),
    ]
    assert all(setup.snapshot is not None for setup in setups)  # all prefilled by `prepare`
    router = llm._router
    evaluated: list[int] = []
    original_eval = router.eval

    def counting_eval(tokens: Sequence[int]) -> None:
        evaluated.append(len(tokens))
        original_eval(tokens)

    router.eval = counting_eval
    try:
        timer = _run(embedded, _ask("Set a timer for five minutes."), TOOLS)
        assert timer[0].tool_call is not None and timer[0].tool_call.name == "set_timer"
        assert json.loads(timer[0].tool_call.arguments) == {"minutes": 5}
        cached = router.detokenize(llama_adapter.cached_tokens(router)).decode()
        assert "- set_timer(" in cached and "- get_weather(" not in cached  # its own prompt
        evaluated.clear()
        assert _text(_run(embedded, _ask("How are you doing today?"), TOOLS)).strip()
        assert sum(evaluated) == 0  # no place or number for any tool: the model is not asked
        assert _text(_run(embedded, _ask("What's two plus two?"), TOOLS)).strip()
        # The tool list's prefix and the evidence contexts came back from their snapshots.
        assert 0 < sum(evaluated) < 100
    finally:
        del router.eval


def test_prepare_prefills_the_router_with_two_threads_then_restores_one(
    embedded: EngineSet,
) -> None:
    """A tool list's few-shot prompts take seconds to prefill: `prepare` lets the router use two
    threads for it, and turns afterwards are back on the configured single thread."""
    from realtime_agents.server.engines.llama import LlamaLanguageModel

    llm = embedded.llm
    assert isinstance(llm, LlamaLanguageModel)
    seen: list[int] = []
    original_eval = llm._router.eval

    def watching_eval(tokens: Sequence[int]) -> None:
        seen.append(llama_adapter.thread_counts(llm._router)[1])
        original_eval(tokens)

    llm._router.eval = watching_eval
    try:
        llm.prepare([*TOOLS, {**TOOLS[0], "name": "get_forecast"}])  # a new tool list
    finally:
        del llm._router.eval
    assert seen and set(seen) == {min(2, os.cpu_count() or 1)}
    assert llama_adapter.thread_counts(llm._router) == (1, 1)


def test_replies_see_the_instructions_and_a_bounded_recent_view(embedded: EngineSet) -> None:
    from realtime_agents.server.engines.llama import HISTORY_TURNS, LlamaLanguageModel

    llm = embedded.llm
    assert isinstance(llm, LlamaLanguageModel)
    conversation: list[ChatMessage] = [{"role": "system", "content": "Speak like a pirate."}]
    starts = []
    for number in range(20):
        conversation.append({"role": "user", "content": f"Question {number}?"})
        chat = llm._chat(conversation)
        assert chat[0]["role"] == "system" and "Speak like a pirate." in chat[0]["content"]
        assert chat[-1] == {"role": "user", "content": f"Question {number}?"}
        if number >= 1:
            assert chat[-3]["content"] == f"Question {number - 1}?"  # a follow-up has context
        assert len(chat) - 1 <= min(2 * number + 1, HISTORY_TURNS + 3)
        starts.append(chat[1]["content"])
        conversation.append({"role": "assistant", "content": f"Answer {number}."})
    # The view starts at the same turn for two questions at a time (its prefix stays cached).
    assert len(set(starts)) <= len(starts) // 2 + 1
    assert "Question 0?" not in starts[-1]


def test_tool_arguments_come_from_the_words_and_are_needed_for_a_call(embedded: EngineSet) -> None:
    tools = [*TOOLS, MUSIC_TOOL]
    cairo = _run(embedded, _ask("How hot is it in Cairo today?"), tools)
    assert cairo[0].tool_call is not None and cairo[0].tool_call.name == "get_weather"
    assert json.loads(cairo[0].tool_call.arguments) == {"city": "Cairo"}  # not "Egypt"
    # No place for get_weather and no number for set_timer in the question: no call.
    assert _text(_run(embedded, _ask("What's two plus two?"), TOOLS)).strip()
    timer = _run(embedded, _ask("Wake me up in twenty minutes."), tools)
    assert timer[0].tool_call is not None and timer[0].tool_call.name == "set_timer"
    assert json.loads(timer[0].tool_call.arguments) == {"minutes": 20}


def test_description_evidence_favours_the_tool_asked_for(embedded: EngineSet) -> None:
    from realtime_agents.server.engines.llama import LlamaLanguageModel
    from realtime_agents.server.engines.tool_router import parse_tools

    llm = embedded.llm
    assert isinstance(llm, LlamaLanguageModel)
    weather, timer, music = parse_tools([*TOOLS, MUSIC_TOOL])
    request = "Put on something by Metallica."
    first = llm.tool_router.evidence(music, request)
    assert first > 0  # likelier from someone asking for music than in general conversation
    assert first > llm.tool_router.evidence(weather, request)
    assert llm.tool_router.evidence(timer, "Count down 30 minutes, please.") > 0
    # The second time the contexts come from their snapshots: the same score.
    assert llm.tool_router.evidence(music, request) == pytest.approx(first, abs=1e-3)


def test_description_evidence_routes_a_request_the_examples_miss(embedded: EngineSet) -> None:
    """With three tools the few-shot prompts call "Put on music by the Beatles." no tool; the
    description evidence turns it into a call, and a general question stays without one."""
    from realtime_agents.server.engines.llama import LlamaLanguageModel
    from realtime_agents.server.engines.tool_router import parse_tools

    llm = embedded.llm
    assert isinstance(llm, LlamaLanguageModel)
    tools = parse_tools([*TOOLS, MUSIC_TOOL])
    request = "Put on music by the Beatles."
    router = llm.tool_router
    try:
        router.description_evidence = False
        assert router.route(request, tools, True, threading.Event()) is None
        router.description_evidence = True
        call = router.route(request, tools, True, threading.Event())
        assert call is not None and call.name == "play_music"
        assert "Beatles" in json.loads(call.arguments)["query"]
        assert router.route("Who painted the Mona Lisa?", tools, True, threading.Event()) is None
    finally:
        router.description_evidence = True
