"""`realtime_agents.server` is the import users need: the server entry points and the engine
protocols, with the WebSocket application imported only when first used."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import realtime_agents.server as server
from realtime_agents.server import app
from realtime_agents.server.engines import base
from realtime_agents.server.engines.scripted import ScriptedLlm, ToneTts, scripted_engine_set


def test_exports_are_the_defining_modules_objects() -> None:
    assert server.serve is app.serve and server.ServerOptions is app.ServerOptions
    assert server.RealtimeServer is app.RealtimeServer
    for name in ("EngineSet", "LanguageModelEngine", "PreparingLanguageModel", "WarmableEngine"):
        assert getattr(server, name) is getattr(base, name)
    assert set(server.__all__) <= set(dir(server))
    with pytest.raises(AttributeError, match="no attribute 'serv'"):
        _ = server.serv  # type: ignore[attr-defined]


def test_importing_the_package_does_not_import_the_websocket_app() -> None:
    code = (
        "import sys, realtime_agents.server as s\n"
        "assert 'realtime_agents.server.app' not in sys.modules\n"
        "assert s.serve.__module__ == 'realtime_agents.server.app'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=dict(os.environ), capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode()


def test_optional_abilities_are_recognised_by_their_protocols() -> None:
    engines = scripted_engine_set()
    assert base.runs_inline(engines.vad) and base.runs_inline(ToneTts())
    assert not base.runs_inline(ToneTts(chunk_delay_s=0.01))
    assert not base.runs_inline(object())
    assert not isinstance(ScriptedLlm(), base.PreparingLanguageModel)
    assert not isinstance(ScriptedLlm(), base.PrefillingLanguageModel)

    class Preparing(ScriptedLlm):
        def prepare(
            self, tools: object = (), tool_choice: object = "auto", instructions: object = None
        ) -> None:
            """Nothing to cache."""

    assert isinstance(Preparing(), base.PreparingLanguageModel)
