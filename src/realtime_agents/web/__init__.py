"""The voice page `realtime-agents serve` shows at `http://HOST:PORT/`.

Plain static files (index.html, app.js, style.css, audio-worklet.js) shipped in this package,
and the plain HTTP routes the server answers next to `/v1/realtime` (`routes.py`).
"""
