"""A minimal GA Realtime server for the provider benchmark, run in its own process.

It speaks just enough of the protocol: `session.created` on connect, `session.updated` for every
`session.update`, and `response.created` + `response.done` for a client `response.create`.
Audio turns are started by the benchmark over a side channel (`/control`), so that the client
under test pays nothing for triggering them:

* `{"cmd": "wait", "n": N}`: answers once N realtime sessions are connected.
* `{"cmd": "burst", "n": N}`: on every connected session, `response.created`, N
  `response.output_audio.delta` frames as fast as the socket takes them, `response.done`.
* `{"cmd": "paced", "seconds": S, "spread": T, "head": K}`: on every connected session, a turn of
  S seconds of 40 ms deltas sent at realtime pace; turn i starts at a random offset in [0, T)
  (T = 0: all at once) and its first K deltas go out back to back (the audio a real server sends
  ahead of playback). Every paced delta is stamped with `time.time_ns()` taken just before the
  send: in its `event_id`, and in the first 8 bytes (little-endian) of its PCM payload, which
  both clients decode and hand to the listener as `.data`.

Every delta carries 1,920 bytes of PCM16 (40 ms at 24 kHz) in base64. Frames are pre-encoded
once and audio frames are written straight to the transport as complete WebSocket frames, so the
server stays far cheaper than either client; a stamped frame is three byte strings joined (the
stamp takes the first 9 payload bytes, a multiple of 3, so its base64 is independent of the rest).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import struct
import time
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

CHUNK = 1920
DELTA_S = 0.040
_PCM = bytes(random.Random(7).getrandbits(8) for _ in range(CHUNK))
_SESSION: dict[str, Any] = {
    "type": "realtime",
    "object": "realtime.session",
    "id": "sess_C9G5QPteg4UIbotdKLoYQ",
    "model": "gpt-realtime",
    "output_modalities": ["audio"],
    "instructions": "You are a helpful assistant.",
    "tools": [],
    "tool_choice": "auto",
    "max_output_tokens": "inf",
    "tracing": None,
    "truncation": "auto",
    "prompt": None,
    "expires_at": 1767233035,
    "audio": {
        "input": {
            "format": {"type": "audio/pcm", "rate": 24000},
            "transcription": None,
            "noise_reduction": None,
            "turn_detection": {
                "type": "server_vad",
                "threshold": 0.5,
                "prefix_padding_ms": 300,
                "silence_duration_ms": 200,
                "idle_timeout_ms": None,
                "create_response": True,
                "interrupt_response": True,
            },
        },
        "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy", "speed": 1.0},
    },
    "include": None,
}


def _dump(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _id(prefix: str, n: int) -> str:
    return f"{prefix}_{n:021d}"


def _response(resp_id: str, item_id: str, done: bool) -> dict[str, Any]:
    usage = None
    output: list[dict[str, Any]] = []
    if done:
        output = [
            {
                "id": item_id,
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_audio", "transcript": "Hello there."}],
            }
        ]
        usage = {
            "total_tokens": 320,
            "input_tokens": 132,
            "output_tokens": 188,
            "input_token_details": {
                "text_tokens": 59,
                "audio_tokens": 73,
                "image_tokens": 0,
                "cached_tokens": 64,
                "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 64, "image_tokens": 0},
            },
            "output_token_details": {"text_tokens": 41, "audio_tokens": 147},
        }
    return {
        "object": "realtime.response",
        "id": resp_id,
        "status": "completed" if done else "in_progress",
        "status_details": None,
        "output": output,
        "conversation_id": "conv_C9G5QPteg4UIbotdKLoYQ",
        "output_modalities": ["audio"],
        "max_output_tokens": "inf",
        "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy"}},
        "usage": usage,
        "metadata": None,
    }


class Turn:
    """Pre-encoded frames of one response (its ids fixed)."""

    def __init__(self, n: int) -> None:
        resp, item = _id("resp", n), _id("item", n)
        ev = iter(range(n * 1000, n * 1000 + 999))
        created = {"type": "response.created", "event_id": _id("event", next(ev))}
        self.created = _dump({**created, "response": _response(resp, item, False)})
        done = {"type": "response.done", "event_id": _id("event", next(ev))}
        self.done = _dump({**done, "response": _response(resp, item, True)})
        tail = {"response_id": resp, "item_id": item, "output_index": 0, "content_index": 0}
        payload = base64.b64encode(_PCM).decode()
        # A small cycle of distinct frames (distinct event ids) for bursts.
        self.deltas = [
            _dump(
                {
                    "type": "response.output_audio.delta",
                    "event_id": _id("event", next(ev)),
                    **tail,
                    "delta": payload,
                }
            )
            for _ in range(64)
        ]
        # Stamped frames: head + stamp digits + mid + b64(stamp bytes) + rest.
        sample = _dump(
            {
                "type": "response.output_audio.delta",
                "event_id": "event_\x00",
                **tail,
                "delta": "\x01",
            }
        )
        a, b = sample.split(b"\\u0000")
        b, c = b.split(b"\\u0001")
        self._head, self._mid = a, b
        self._rest = base64.b64encode(_PCM[9:]) + c

    def stamped(self) -> bytes:
        now = time.time_ns()
        stamp = base64.b64encode(struct.pack("<QB", now, 0))
        return b"".join((self._head, b"%021d" % now, self._mid, stamp, self._rest))


def frame(payload: bytes) -> bytes:
    """A complete unmasked server TEXT frame (FIN), as websockets would write it."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return bytes((0x81, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + n.to_bytes(8, "big") + payload


async def write(ws: ServerConnection, data: bytes) -> None:
    """Write pre-built frames to the transport (cheaper than ws.send), with flow control."""
    ws.transport.write(data)
    if ws.transport.get_write_buffer_size() > 1 << 16:
        await ws.drain()


class BenchServer:
    def __init__(self) -> None:
        self.sessions: list[ServerConnection] = []
        self.turns = [Turn(i) for i in range(1, 8)]
        self.created = _dump(
            {"type": "session.created", "event_id": _id("event", 1), "session": _SESSION}
        )
        self.updated = _dump(
            {"type": "session.updated", "event_id": _id("event", 2), "session": _SESSION}
        )
        self.late_ms: list[float] = []
        self.joined = asyncio.Event()

    async def handler(self, ws: ServerConnection) -> None:
        if ws.request is not None and ws.request.path.startswith("/control"):
            await self.control(ws)
            return
        await ws.send(self.created, text=True)
        self.sessions.append(ws)
        self.joined.set()
        turn = self.turns[0]
        try:
            async for message in ws:
                kind = json.loads(message).get("type")
                if kind == "session.update":
                    await ws.send(self.updated, text=True)
                elif kind == "response.create":
                    await ws.send(turn.created, text=True)
                    await ws.send(turn.done, text=True)
        except Exception:
            pass
        finally:
            self.sessions.remove(ws)

    async def control(self, ws: ServerConnection) -> None:
        async for message in ws:
            cmd = json.loads(message)
            if cmd["cmd"] == "wait":
                while len(self.sessions) < cmd["n"]:
                    self.joined.clear()
                    await self.joined.wait()
                await ws.send(json.dumps({"sessions": len(self.sessions)}))
            elif cmd["cmd"] == "burst":
                sessions = list(self.sessions)
                await asyncio.gather(*(self.burst(s, cmd["n"]) for s in sessions))
                await ws.send(json.dumps({"sessions": len(sessions)}))
            elif cmd["cmd"] == "paced":
                self.late_ms = []
                sessions = list(self.sessions)
                rng = random.Random(11)
                start = time.monotonic() + 0.05
                await asyncio.gather(
                    *(
                        self.paced(s, i, start + rng.random() * cmd["spread"], cmd)
                        for i, s in enumerate(sessions)
                    )
                )
                late = sorted(self.late_ms) or [0.0]
                p99 = late[int(0.99 * (len(late) - 1))]
                await ws.send(json.dumps({"sessions": len(sessions), "server_late_p99_ms": p99}))

    async def burst(self, ws: ServerConnection, n: int) -> None:
        turn = self.turns[1]
        await ws.send(turn.created, text=True)
        frames = [frame(d) for d in turn.deltas]
        blob = b"".join(frames)
        for _ in range(n // len(frames)):
            await write(ws, blob)
        for i in range(n % len(frames)):
            await write(ws, frames[i])
        await ws.send(turn.done, text=True)

    async def paced(self, ws: ServerConnection, i: int, start: float, cmd: dict[str, Any]) -> None:
        turn = self.turns[2 + i % 5]
        await asyncio.sleep(max(0.0, start - time.monotonic()))
        await ws.send(turn.created, text=True)
        n = round(cmd["seconds"] / DELTA_S)
        head = cmd["head"]
        for k in range(n):
            due = start + max(0, k - head + 1) * DELTA_S
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif k >= head:
                self.late_ms.append(-delay * 1000)
            await write(ws, frame(turn.stamped()))
        await ws.send(turn.done, text=True)


def run(port_pipe: Any, cpus: list[int] | None = None) -> None:
    """Process entry point: serve on 127.0.0.1, send the port through the pipe, run forever.

    `cpus`: pin this process to these CPUs (the benchmark keeps the clients off them)."""
    if cpus:
        os.sched_setaffinity(0, cpus)

    async def main() -> None:
        server = BenchServer()
        async with serve(server.handler, "127.0.0.1", 0, max_size=None, compression=None) as srv:
            port = next(iter(srv.sockets)).getsockname()[1]
            port_pipe.send(port)
            await asyncio.Future()

    asyncio.run(main())
