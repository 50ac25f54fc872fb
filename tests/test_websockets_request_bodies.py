"""The handshake internals `BodyReadingConnection` relies on exist in the installed websockets."""

from __future__ import annotations

from websockets.server import ServerProtocol

from realtime_agents._wsdirect import SUPPORTED_WEBSOCKETS, websockets_version
from realtime_agents._wsdirect.request_bodies import missing_request_body_internals


def test_the_handshake_parser_has_what_post_bodies_need() -> None:
    missing = missing_request_body_internals(ServerProtocol())
    assert missing == [], (
        f"websockets {websockets_version} is installed; the adapter supports "
        f"{SUPPORTED_WEBSOCKETS}, and its handshake parser lacks {', '.join(missing)}: "
        "POST /v1/realtime/client_secrets cannot be read (see _wsdirect/request_bodies.py)"
    )


def test_the_check_names_what_is_missing() -> None:
    protocol = ServerProtocol()
    del protocol.parser
    protocol.reader = object()  # type: ignore[assignment]
    assert missing_request_body_internals(protocol) == [
        "ServerProtocol.reader.read_line()",
        "ServerProtocol.reader.read_exact()",
        "ServerProtocol.parser",
    ]
