"""Several server processes on one port (SO_REUSEPORT), each with its own engines."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import pytest
from server_helpers import utterance_chunks
from socket_client import connect, receive, send, until
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from realtime_agents.cli import build_parser
from realtime_agents.server import ServerOptions, serve
from realtime_agents.server.engines.scripted import scripted_engine_set
from realtime_agents.server.workers import WorkerPool, serve_workers, session_shares

LOAD = functools.partial(scripted_engine_set, reply="Two workers.")


def test_session_shares_split_the_limit() -> None:
    assert session_shares(256, 2) == [128, 128]
    assert session_shares(7, 3) == [3, 2, 2]
    assert sum(session_shares(500, 4)) == 500


async def test_serve_and_start_workers_reject_bad_settings() -> None:
    with pytest.raises(ValueError, match="serve_workers"):
        await serve("127.0.0.1", 0, LOAD(), ServerOptions(workers=2))
    with pytest.raises(ValueError, match="event_hook"):
        await serve_workers("127.0.0.1", 0, LOAD, ServerOptions(workers=2, event_hook=print))
    with pytest.raises(ValueError, match="at least 1"):
        await serve_workers("127.0.0.1", 0, LOAD, ServerOptions(workers=0))
    with pytest.raises(ValueError, match="event_loop"):
        await serve_workers("127.0.0.1", 0, LOAD, ServerOptions(workers=2), event_loop="trio")


def test_cli_parses_the_serving_options() -> None:
    args = build_parser().parse_args(["serve", "--workers", "3", "--loop", "uvloop"])
    assert (args.workers, args.loop, args.compression) == (3, "uvloop", False)


@pytest.mark.parametrize("event_loop", ["asyncio", "uvloop"])
async def test_two_workers_serve_clients_on_one_port(event_loop: str) -> None:
    if event_loop == "uvloop":
        pytest.importorskip("uvloop")
    options = ServerOptions(api_key="test-key", workers=2, max_sessions=20, ping_interval=None)
    pool: WorkerPool = await serve_workers("127.0.0.1", 0, LOAD, options, event_loop=event_loop)
    try:
        assert len(pool.pids) == 2 and pool.port > 0
        clients = [await connect(pool.url) for _ in range(8)]
        ids = set()
        for ws in clients:
            created = await receive(ws)
            assert created["type"] == "session.created"
            ids.add(created["session"]["id"])
        assert len(ids) == 8

        async def one_turn(ws: ClientConnection) -> dict[str, Any]:
            await send(ws, {"type": "conversation.item.create", "item": _user("hi")})
            await send(ws, {"type": "response.create"})
            events = await until(ws, "response.done")
            return events[-1]

        dones = await asyncio.gather(*(one_turn(ws) for ws in clients))
        assert all(done["response"]["status"] == "completed" for done in dones)

        # server VAD works in a worker too
        ws = clients[0]
        for chunk in utterance_chunks():
            await send(ws, {"type": "input_audio_buffer.append", "audio": chunk})
        assert (await until(ws, "input_audio_buffer.speech_stopped"))[-1]["audio_end_ms"] > 0
    finally:
        await pool.close()
    for ws in clients:  # graceful shutdown: every session was closed with 1001
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert all(not process.is_alive() for process in pool.processes)


def _user(text: str) -> dict[str, object]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
