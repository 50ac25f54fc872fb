"""Prefill the LLM for a session's new tools or instructions before its first turn needs them."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any

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


def prepare_job(
    llm: object, before: LlmSetup, session: dict[str, Any]
) -> Callable[[], None] | None:
    """A blocking call of `llm.prepare(tools, tool_choice, instructions)` if the setup changed.

    None when nothing changed or the engine has no `prepare` (only some engines keep prompt
    caches). Run the job in a worker thread; a failure is logged, never raised.
    """
    prepare = getattr(llm, "prepare", None)
    if not callable(prepare):
        return None
    after = llm_setup(session)
    tools_changed = after[:2] != before[:2]
    if not tools_changed and after[2] == before[2]:
        return None
    tools, tool_choice, instructions = after

    def job() -> None:
        try:
            prepare(tools if tools_changed else [], tool_choice, instructions)
        except Exception:
            logger.exception("preparing the LLM for new tools or instructions failed")

    return job
