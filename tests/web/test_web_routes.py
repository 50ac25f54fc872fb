"""The plain HTTP routes next to `/v1/realtime`: page files, /health, client secrets, refusals."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from realtime_agents._wsdirect.request_bodies import MAX_BODY_BYTES
from realtime_agents.server.app import RealtimeServer, ServerOptions, serve
from realtime_agents.server.engines.scripted import scripted_engine_set
from realtime_agents.web import page_line, page_url

KEY = "sk-the-long-lived-server-key-0123456789"


@pytest.fixture
async def keyed() -> AsyncIterator[RealtimeServer]:
    server = await serve("127.0.0.1", 0, scripted_engine_set(), ServerOptions(api_key=KEY))
    yield server
    await server.close()


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


async def fetch(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    return await asyncio.to_thread(request, port, method, path, body, headers)


def mint_body(seconds: int = 60) -> bytes:
    return json.dumps(
        {"expires_after": {"anchor": "created_at", "seconds": seconds},
         "session": {"type": "realtime", "model": "local"}}
    ).encode()  # fmt: skip


async def test_the_page_files_are_served_with_their_types(keyed: RealtimeServer) -> None:
    expected = {
        "/": ("text/html", b"<!doctype html>"),
        "/index.html": ("text/html", b"<!doctype html>"),
        "/app.js": ("text/javascript", b"input_audio_buffer.append"),
        "/audio.js": ("text/javascript", b"class VoiceAudio"),
        "/audio-worklet.js": ("text/javascript", b'registerProcessor("playback"'),
        "/style.css": ("text/css", b".status"),
    }
    for path, (content_type, marker) in expected.items():
        status, headers, body = await fetch(keyed.port, "GET", path)
        assert status == 200, path
        assert headers["Content-Type"].startswith(content_type)
        assert int(headers["Content-Length"]) == len(body) and marker in body
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert KEY.encode() not in body
    status, headers, body = await fetch(keyed.port, "GET", "/health")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    assert headers["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(
    "path",
    ["/../pyproject.toml", "/%2e%2e/server/app.py", "/routes.py", "/web/app.js", "/__init__.py",
     "//etc/passwd", "/app.js/..", "/nope"],
)  # fmt: skip
async def test_nothing_but_the_page_files_is_served(keyed: RealtimeServer, path: str) -> None:
    status, _, body = await fetch(keyed.port, "GET", path)
    assert status == 404 and b"import" not in body


async def test_minting_needs_the_server_key_and_the_secret_opens_sessions(
    keyed: RealtimeServer,
) -> None:
    auth = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer ek_x"}):
        status, _, body = await fetch(
            keyed.port, "POST", "/v1/realtime/client_secrets", mint_body(), headers
        )
        assert status == 401 and json.loads(body)["error"]["code"] == "invalid_api_key"
    status, _, body = await fetch(
        keyed.port, "POST", "/v1/realtime/client_secrets", mint_body(), auth
    )
    assert status == 200
    minted = json.loads(body)
    assert (
        minted["value"].startswith("ek_")
        and time.time() + 50 < minted["expires_at"] <= time.time() + 61
    )
    assert minted["session"]["type"] == "realtime" and minted["session"]["model"] == "local"
    assert minted["session"]["object"] == "realtime.session" and minted["session"]["id"].startswith(
        "sess_"
    )
    for _ in range(2):  # a secret opens several sessions while it lives
        async with websockets.connect(
            keyed.url + "?model=local",
            subprotocols=["realtime", f"openai-insecure-api-key.{minted['value']}"],  # type: ignore[list-item]
        ) as ws:
            assert json.loads(await ws.recv())["type"] == "session.created"
    # The long-lived key still works, and a bad body is a 400.
    async with websockets.connect(
        keyed.url + "?model=local", additional_headers={"Authorization": f"Bearer {KEY}"}
    ) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"
    status, _, body = await fetch(keyed.port, "POST", "/v1/realtime/client_secrets", b"{nope", auth)
    assert status == 400 and json.loads(body)["error"]["code"] == "invalid_json"
    status, _, body = await fetch(
        keyed.port, "POST", "/v1/realtime/client_secrets", mint_body(seconds=5), auth
    )
    assert status == 400 and json.loads(body)["error"]["param"] == "expires_after.seconds"


async def test_expired_and_unknown_secrets_are_refused_with_401(keyed: RealtimeServer) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    _, _, body = await fetch(keyed.port, "POST", "/v1/realtime/client_secrets", mint_body(10), auth)
    secret = json.loads(body)["value"]
    keyed.web.clock = lambda: time.time() + 11  # ten seconds later
    for token in (secret, "ek_" + "0" * 32):
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(
                keyed.url + "?model=local",
                subprotocols=["realtime", f"openai-insecure-api-key.{token}"],  # type: ignore[list-item]
            )
        assert refused.value.response.status_code == 401
        assert json.loads(refused.value.response.body)["error"]["code"] == "invalid_client_secret"
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(
                keyed.url + "?model=local", additional_headers={"Authorization": f"Bearer {token}"}
            )
        assert refused.value.response.status_code == 401


async def test_the_openai_sdk_mints_a_client_secret(keyed: RealtimeServer) -> None:
    openai = pytest.importorskip("openai")
    client = openai.AsyncOpenAI(
        api_key=KEY, base_url=f"http://127.0.0.1:{keyed.port}/v1", max_retries=0
    )
    minted = await client.realtime.client_secrets.create(
        expires_after={"anchor": "created_at", "seconds": 120},
        session={"type": "realtime", "model": "local"},
    )
    assert minted.value.startswith("ek_") and minted.expires_at > time.time() + 100
    assert keyed.client_secrets.check(minted.value, time.time()) is not None


async def test_wrong_methods_and_oversized_bodies(keyed: RealtimeServer) -> None:
    status, _, _ = await fetch(keyed.port, "GET", "/v1/realtime/client_secrets")
    assert status == 405
    status, _, _ = await fetch(keyed.port, "POST", "/", b"{}")
    assert status == 405
    auth = {"Authorization": f"Bearer {KEY}"}
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        await fetch(
            keyed.port, "POST", "/v1/realtime/client_secrets", b" " * (MAX_BODY_BYTES + 1), auth
        )
    assert len(keyed.client_secrets) == 0
    # The WebSocket path is untouched by all this.
    async with websockets.connect(
        keyed.url + "?model=local", additional_headers={"Authorization": f"Bearer {KEY}"}
    ) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"


async def test_a_body_split_over_many_packets_is_read_whole(keyed: RealtimeServer) -> None:
    body = mint_body()
    head = (
        f"POST /v1/realtime/client_secrets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()

    def talk() -> bytes:
        with socket.create_connection(("127.0.0.1", keyed.port), timeout=10) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for index in range(0, len(head + body), 7):
                sock.sendall((head + body)[index : index + 7])
                time.sleep(0.001)
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
            return received

    reply = await asyncio.to_thread(talk)
    assert reply.startswith(b"HTTP/1.1 200 ") and b'"value": "ek_' in reply


def test_page_urls_and_the_ready_message() -> None:
    assert page_url("ws://127.0.0.1:8765/v1/realtime") == "http://127.0.0.1:8765/"
    assert page_url("ws://0.0.0.0:9000/v1/realtime") == "http://127.0.0.1:9000/"
    assert page_url("ws://[::1]:9000/v1/realtime") == "http://[::1]:9000/"
    assert page_line("ws://127.0.0.1:1/v1/realtime", api_key_set=False) == (
        "voice page: open http://127.0.0.1:1/ in a browser"
    )
    keyed_message = page_line("ws://127.0.0.1:1/v1/realtime", api_key_set=True)
    assert "client_secret=" in keyed_message and "/v1/realtime/client_secrets" in keyed_message


def test_serve_prints_the_page_url_and_serves_the_page(tmp_path: Path) -> None:
    src = Path(__file__).resolve().parents[2] / "src"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "realtime_agents.cli",
            "serve",
            "--engines",
            "scripted",
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("ready: listening on ws://127.0.0.1:"), first
        line = process.stdout.readline().strip()
        assert line.startswith("voice page: open http://127.0.0.1:"), line
        url = line.split()[3]
        port = int(url.rsplit(":", 1)[1].strip("/"))
        status, _, body = request(port, "GET", "/")
        assert status == 200 and b"Start talking" in body
    finally:
        process.terminate()
        process.wait(20)
