"""`AgentSwitcher`: builds an agent's session settings and makes it the current agent."""

from __future__ import annotations

import logging
from typing import Any

from ..inputs import RealtimeModelSendSessionUpdate
from ..model import RealtimeModelConfig
from ..settings import RealtimeSessionModelSettings, merge_settings, normalize_settings
from .agent import RealtimeAgent, build_agent_settings
from .core import SessionCore
from .guardrails_runner import input_guardrails_of

logger = logging.getLogger("realtime_agents.agents.session")  # the session's log, as before


class AgentSwitcher:
    """The settings each agent runs with: the model config's initial settings, then the run
    config's `model_settings`, then the agent's own (see `build_agent_settings`)."""

    def __init__(self, core: SessionCore, model_config: RealtimeModelConfig) -> None:
        self._core = core
        self._initial = model_config.get("initial_model_settings") or {}

    async def settings_for(
        self, agent: RealtimeAgent, *, include_voice: bool = True
    ) -> RealtimeSessionModelSettings:
        """`agent`'s session settings (raises what the agent's instructions or tools raise)."""
        core = self._core
        base = merge_settings(self._initial, core.config.get("model_settings") or {})
        settings = await build_agent_settings(
            agent, core.context, base, include_voice=include_voice
        )
        self.warn_if_speech_unchecked(agent, settings)
        return settings

    async def switch(self, agent: RealtimeAgent) -> bool:
        """Make `agent` current and send its settings (without the voice once audio played).

        False, with an error event, when its settings could not be built or sent.
        """
        core = self._core
        try:
            settings = await self.settings_for(agent, include_voice=not core.audio_produced)
        except Exception as exc:
            await core.report(f"building the settings of agent {agent.name!r} failed", exc)
            return False
        core.agent = agent
        return await core.send(RealtimeModelSendSessionUpdate(session_settings=settings))

    def warn_if_speech_unchecked(self, agent: RealtimeAgent, settings: Any) -> None:
        """Log a warning when input guardrails are set but speech is not transcribed: spoken
        turns then cannot be checked, and their tool calls are blocked after the wait."""
        if not input_guardrails_of(agent, self._core.config):
            return
        audio_input = normalize_settings(settings).get("audio", {}).get("input", {})
        if audio_input.get("transcription") is None:
            logger.warning(
                "agent %r has input guardrails but input audio transcription is off: spoken "
                "turns cannot be checked, and tool calls answering them are not run (blocked "
                "after input_guardrail_tool_wait_s). Set input_audio_transcription in the "
                "model settings.",
                agent.name,
            )
