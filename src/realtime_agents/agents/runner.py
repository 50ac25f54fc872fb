"""`RealtimeRunner`: builds a `RealtimeSession` for a starting agent and a model."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..items import RealtimeItem
from ..model import RealtimeModel, RealtimeModelConfig
from .agent import RealtimeAgent
from .config import RealtimeRunConfig
from .session import RealtimeSession


def _default_model() -> RealtimeModel:
    """A new OpenAI provider model, imported here so the agents layer loads without it."""
    try:
        from ..providers.openai import OpenAIRealtimeWebSocketModel
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "no model was given and the OpenAI provider could not be imported; "
            "pass model=... to RealtimeRunner"
        ) from exc
    model: RealtimeModel = OpenAIRealtimeWebSocketModel()
    return model


class RealtimeRunner:
    """Runs an agent over a realtime model: `async with await runner.run() as session:`.

    `model` defaults to a new `OpenAIRealtimeWebSocketModel` per run (imported only when
    needed). A model object serves one session at a time; to run several sessions from one
    runner, pass a factory: `model=lambda: MyModel()`.
    """

    def __init__(
        self,
        starting_agent: RealtimeAgent,
        *,
        model: RealtimeModel | Callable[[], RealtimeModel] | None = None,
        config: RealtimeRunConfig | None = None,
    ) -> None:
        if not isinstance(starting_agent, RealtimeAgent):
            raise TypeError(f"starting_agent must be a RealtimeAgent, got {starting_agent!r}")
        self.starting_agent = starting_agent
        self._model = model
        self.config: RealtimeRunConfig = config or {}

    async def run(
        self,
        *,
        context: Any = None,
        history: Iterable[RealtimeItem] = (),
        model_config: RealtimeModelConfig | None = None,
    ) -> RealtimeSession:
        """A new, not yet connected session; `async with` it to connect.

        `history` seeds the conversation (e.g. restored from a database): the items are sent to
        the model as conversation items when the session starts. `model_config` is passed to
        `model.connect` (api_key, url, headers, ...).
        """
        if self._model is None:
            model = _default_model()
        elif isinstance(self._model, RealtimeModel):
            model = self._model
        else:
            model = self._model()
        return RealtimeSession(
            model,
            self.starting_agent,
            context=context,
            config=self.config,
            model_config=model_config,
            history=history,
        )
