"""Failover behind HAProxy: two `realtime-agents serve` processes, one killed mid-answer.

The OpenAI provider talks to the balancer with reconnect on. The server carrying the session is
killed (SIGKILL) while it speaks; HAProxy sends the reconnect to the other server, the provider
re-seeds the conversation and replays the user audio the dead server never committed, and the
conversation goes on there. Deployment guide: docs/deployment.md.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from deploy_helpers import HAPROXY, HaproxyProcess, ServeProcess

from realtime_agents.events import RealtimeModelEvent
from realtime_agents.inputs import (
    RealtimeModelSendAudio,
    RealtimeModelSendCreateResponse,
    RealtimeModelSendRawMessage,
    RealtimeModelSendUserInput,
)
from realtime_agents.model import RealtimeModelListener
from realtime_agents.providers.openai import OpenAIRealtimeWebSocketModel

pytestmark = pytest.mark.skipif(
    HAPROXY is None,
    reason="needs HAProxy: apt-get install haproxy (.ci/run installs it when run as root)",
)
API_KEY = "deploy-test-key"
TIMEOUT_S = 60.0
FILLER = " ".join(f"Clause {n} of a long answer, spoken slowly." for n in range(12))
RECONNECT = {"max_attempts": 8, "initial_backoff_s": 0.1, "max_backoff_s": 1.0, "jitter": 0.2}


def scripted(name: str) -> dict[str, object]:
    """Each server says its own name, so the test knows who answered."""
    return {"reply": f"This is server {name}. {FILLER}", "tts_chunk_delay_s": 0.03}


def pcm(seed: int, milliseconds: int = 200) -> bytes:
    """Distinct 24 kHz PCM16 user audio per `seed` (any bytes do: turn detection is off)."""
    count = milliseconds * 48
    return bytes((index * seed + seed) % 251 for index in range(count))


class Recorder(RealtimeModelListener):
    """Every event the provider emits, in order, with a way to wait for one."""

    def __init__(self) -> None:
        self.events: list[RealtimeModelEvent] = []
        self._changed = asyncio.Condition()

    async def on_event(self, event: RealtimeModelEvent) -> None:
        self.events.append(event)
        async with self._changed:
            self._changed.notify_all()

    def raw(self, kind: str, start: int = 0) -> list[dict[str, Any]]:
        """Server frames of type `kind` received after event number `start`."""
        return [
            event.data
            for event in self.events[start:]
            if event.type == "raw_server_event" and event.data.get("type") == kind
        ]

    async def wait(self, check: Callable[[], Any]) -> Any:
        async with asyncio.timeout(TIMEOUT_S), self._changed:
            await self._changed.wait_for(check)
        return check()

    async def wait_raw(self, kind: str, start: int = 0) -> dict[str, Any]:
        found: list[dict[str, Any]] = await self.wait(lambda: self.raw(kind, start))
        return found[0]


def answer_text(done: dict[str, Any]) -> str:
    """The transcript (or text) of a `response.done`'s message."""
    parts = [part for item in done["response"]["output"] for part in item.get("content", [])]
    return "".join(part.get("transcript") or part.get("text") or "" for part in parts)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[dict[str, ServeProcess]]:
    started: dict[str, ServeProcess] = {}
    try:
        for name in ("a", "b"):
            started[name] = ServeProcess(name, tmp_path, API_KEY, scripted(name))
        yield started
    finally:
        for server in started.values():
            server.kill()


@pytest.fixture
def balancer(tmp_path: Path, servers: dict[str, ServeProcess]) -> Iterator[HaproxyProcess]:
    haproxy = HaproxyProcess(tmp_path, list(servers.values()))
    yield haproxy
    haproxy.stop()


async def test_killed_server_fails_over_with_history_and_user_audio(
    servers: dict[str, ServeProcess], balancer: HaproxyProcess
) -> None:
    recorder = Recorder()
    model = OpenAIRealtimeWebSocketModel(emit_raw_events=True)
    model.add_listener(recorder)
    await model.connect(
        {
            "url": balancer.url,
            "api_key": API_KEY,
            "reconnect": RECONNECT,  # type: ignore[typeddict-item]
            "initial_model_settings": {"turn_detection": None},
        }
    )
    try:
        # Turn 1 completes on whichever server HAProxy picked.
        await model.send_event(RealtimeModelSendUserInput("Remember: my name is Ada."))
        first = await recorder.wait_raw("response.done")
        carrier = "a" if "server a" in answer_text(first) else "b"
        other = "b" if carrier == "a" else "a"
        assert f"server {carrier}." in answer_text(first)

        # Turn 2: the carrier starts speaking; user audio goes out; the carrier dies mid-answer.
        mark = len(recorder.events)
        await model.send_event(RealtimeModelSendUserInput("Tell me a long story."))
        await recorder.wait_raw("response.output_audio.delta", mark)
        before_kill = pcm(3)
        await model.send_event(RealtimeModelSendAudio(before_kill))
        await asyncio.to_thread(servers[carrier].kill)
        assert not recorder.raw("response.done", mark), "the answer ended before the kill"
        while_down = pcm(5)
        await model.send_event(RealtimeModelSendAudio(while_down))  # no server holds it yet

        def reconnected() -> int | None:
            statuses = [
                (index, event.status)
                for index, event in enumerate(recorder.events)
                if event.type == "connection_status"
            ]
            after = [index for index, status in statuses if status == "connected"]
            return after[1] if len(after) > 1 else None

        resumed_at: int = await recorder.wait(reconnected)
        assert "reconnecting" in [
            event.status for event in recorder.events if event.type == "connection_status"
        ]

        # Turn 3, on the other server: more audio, commit, answer.
        after_reconnect = pcm(7)
        await model.send_event(RealtimeModelSendAudio(after_reconnect, commit=True))
        await model.send_event(RealtimeModelSendCreateResponse())
        committed = await recorder.wait_raw("input_audio_buffer.committed", resumed_at)
        done = await recorder.wait_raw("response.done", resumed_at)
        assert done["response"]["status"] == "completed", done
        assert f"server {other}." in answer_text(done)  # the survivor answered

        # The survivor holds the history the provider re-seeded...
        added = [event["item"] for event in recorder.raw("conversation.item.added", resumed_at)]
        user_texts = [
            part.get("text")
            for item in added
            if item.get("role") == "user"
            for part in item.get("content", [])
        ]
        assert "Remember: my name is Ada." in user_texts
        assert "Tell me a long story." in user_texts
        assistant = [item for item in added if item.get("role") == "assistant"]
        assert any(
            f"server {carrier}." in (part.get("text") or part.get("transcript") or "")
            for item in assistant
            for part in item.get("content", [])
        ), "turn 1's answer was not re-seeded"
        # Turn 2's answer, cut by the kill, as far as its transcript had arrived.
        cut_item = recorder.raw("response.output_item.added", mark)[0]["item"]["id"]
        heard = "".join(
            event["delta"]
            for event in recorder.raw("response.output_audio_transcript.delta", mark)
            if event["item_id"] == cut_item
        )
        assert heard and scripted(carrier)["reply"].startswith(heard)  # type: ignore[union-attr]
        reseeded = [item for item in assistant if item["id"] == cut_item]
        assert [item["content"] for item in reseeded] == [[{"type": "output_text", "text": heard}]]

        # ...and every byte of user audio: sent before the kill, while down, and after.
        mark = len(recorder.events)
        retrieve = {"type": "conversation.item.retrieve", "item_id": committed["item_id"]}
        await model.send_event(RealtimeModelSendRawMessage(retrieve))
        retrieved = await recorder.wait_raw("conversation.item.retrieved", mark)
        (part,) = retrieved["item"]["content"]
        assert base64.b64decode(part["audio"]) == before_kill + while_down + after_reconnect
    finally:
        await model.close()
    errors = [event for event in recorder.events if event.type == "error"]
    assert not errors, errors
    assert servers[other].process.poll() is None
