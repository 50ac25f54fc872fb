"""Prefill the LLM for a session's new tools or instructions before its first turn needs them.

The core compares the LLM setup before and after a `session.update` (`prepare_effect`) and
asks for a `PrepareLlm`; the shell runs `prepare_job` for it in a worker thread when its LLM
has `prepare` (only some engines keep prompt caches).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any

from .effects import PrepareLlm
from .engines.base import PreparingLanguageModel

logger = logging.getLogger(__name__)

LlmSetup = tuple[Any, Any, Any]
"""(tools, tool_choice, instructions) of a session."""


def llm_setup(session: dict[str, Any]) -> LlmSetup:
    """What of the session the LLM's prompt prefixes depend on (a copy)."""
    return (
        copy.deepcopy(session.get("tools") or []),
        copy.deepcopy(session.get("tool_choice", "auto")),
        session.get("instructions"),
    )


def prepare_effect(before: LlmSetup, session: dict[str, Any]) -> PrepareLlm | None:
    """The `PrepareLlm` for `session` if its LLM setup differs from `before`, else None."""
    after = llm_setup(session)
    tools_changed = after[:2] != before[:2]
    if not tools_changed and after[2] == before[2]:
        return None
    tools, tool_choice, instructions = after
    return PrepareLlm(tools if tools_changed else [], tool_choice, instructions)


def prepare_job(llm: object, effect: PrepareLlm) -> Callable[[], None] | None:
    """A blocking call of `llm.prepare(...)` for `effect`, or None if the engine has no
    `prepare`. Run the job in a worker thread; a failure is logged, never raised."""
    if not isinstance(llm, PreparingLanguageModel):
        return None
    prepare = llm.prepare

    def job() -> None:
        try:
            prepare(effect.tools, effect.tool_choice, effect.instructions)
        except Exception:
            logger.exception("preparing the LLM for new tools or instructions failed")

    return job
