"""The `websockets` internals `_wsdirect` relies on exist in the installed release.

When one of these tests fails, `websockets` changed what the adapter uses beyond its documented
API: the message names the installed and the supported versions. Fix the adapter (and widen
`SUPPORTED_WEBSOCKETS` and the pin in pyproject.toml together), or pin the release it works with.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from websockets.asyncio.client import connect
from websockets.asyncio.connection import Connection
from websockets.asyncio.messages import Assembler
from websockets.asyncio.server import ServerConnection, serve

from realtime_agents._wsdirect import (
    SUPPORTED_WEBSOCKETS,
    DirectClientConnection,
    missing_internals,
    transport_of,
    websockets_version,
)
from wsdirect_helpers import DirectServer, closed

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
VERSIONS = (
    f"websockets {websockets_version} is installed; the adapter supports {SUPPORTED_WEBSOCKETS}"
)


def check(connection: Connection) -> None:
    missing = missing_internals(connection)
    assert missing == [], f"{VERSIONS}, and it lacks what the adapter uses: {missing}"


def test_the_installed_release_is_in_the_supported_range() -> None:
    assert websockets_version in SpecifierSet(SUPPORTED_WEBSOCKETS), VERSIONS


def test_pyproject_pins_the_supported_range() -> None:
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    pins = [Requirement(d) for d in dependencies if Requirement(d).name == "websockets"]
    assert [pin.specifier for pin in pins] == [SpecifierSet(SUPPORTED_WEBSOCKETS)]


async def test_direct_connections_have_every_internal_they_use() -> None:
    async with DirectServer() as server:
        client = await connect(server.url, create_connection=DirectClientConnection)
        assert isinstance(client, DirectClientConnection)
        server_side, _ = await server.connection()
        check(client)
        check(server_side)
        await client.close()
        await closed(server_side)
        assert client.own_close() == (1000, "")  # this side closed first


async def test_plain_connections_have_what_transport_of_uses() -> None:
    """The fake server's plain `ServerConnection`s: `transport_of` pauses and drops them."""
    accepted: list[ServerConnection] = []

    async def handler(connection: ServerConnection) -> None:
        accepted.append(connection)
        await connection.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}/") as client:
            await client.send("hello")  # the handler runs once the handshake is done
            while not accepted:
                await client.ping()
            check(accepted[0])
            transport_of(accepted[0]).abort()
            await closed(client)
            assert client.close_code == 1006


async def test_the_check_names_what_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    async with DirectServer() as server:
        client = await connect(server.url, create_connection=DirectClientConnection)
        monkeypatch.delattr(client.protocol, "close_rcvd_then_sent")
        monkeypatch.setattr(Assembler, "put", lambda self: None)  # the direct one is used
        assert missing_internals(client) == [
            "Assembler.put(frame), not []",
            "Protocol.close_rcvd_then_sent",
        ]
        monkeypatch.undo()
        assert missing_internals(client) == []
        await client.close()
