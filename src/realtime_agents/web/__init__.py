"""The voice page `realtime-agents serve` shows at `http://HOST:PORT/`.

Plain static files shipped in this package (index.html, app.js, audio.js, style.css,
audio-worklet.js), and the plain HTTP routes the server answers next to `/v1/realtime`
(`routes.py`; the POST body reading is in `_wsdirect/request_bodies.py`, the adapter to
`websockets` internals).
"""

from __future__ import annotations

from urllib.parse import urlsplit

_ANY_ADDRESS = {"0.0.0.0", "::", "[::]", ""}


def page_url(realtime_url: str) -> str:
    """The voice page's address for a server at `ws://HOST:PORT/v1/realtime` (a wildcard
    host becomes 127.0.0.1)."""
    parts = urlsplit(realtime_url)
    host = parts.hostname or ""
    if host in _ANY_ADDRESS:
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    scheme = "https" if parts.scheme == "wss" else "http"
    return f"{scheme}://{host}:{parts.port}/"


def page_line(realtime_url: str, *, api_key_set: bool) -> str:
    """The line of `realtime-agents serve`'s ready message that says which page to open."""
    url = page_url(realtime_url)
    if not api_key_set:
        return f"voice page: open {url} in a browser"
    return (
        f"voice page: {url}?client_secret=ek_... (the page never takes the API key: mint a "
        "short-lived secret with curl -s -X POST "
        '-H "Authorization: Bearer $REALTIME_AGENTS_API_KEY" '
        f"{url}v1/realtime/client_secrets and pass its `value`)"
    )
