"""llama.cpp plumbing for the LLM engine (`llama.py`): waiting for a model's lock with
cancellation, prefilling a prompt in small steps, snapshots of a model's KV cache, and the
router's per-tool-list prompt, grammars and snapshot."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol

from realtime_agents.server.engines import llama_adapter
from realtime_agents.server.engines.tool_arguments import constrained_schema
from realtime_agents.server.engines.tool_router import RouterPrompt

LOCK_POLL_SECONDS: Final = 0.05
PREFILL_STEP: Final = 4
"""Tokens per evaluation when prefilling ahead (a turn that needs the model waits at most one)."""
NAME_PREFIX: Final = '{"name": "'
_GRAMMARS_KEPT: Final = 64
"""Argument grammars kept per tool list (they depend on the words of each request)."""


class Cancellation(Protocol):
    """Anything with `is_set()`, like `threading.Event`."""

    def is_set(self) -> bool: ...


class EitherSet:
    """Set as soon as either of two events is set."""

    def __init__(self, first: Cancellation, second: Cancellation) -> None:
        self._first = first
        self._second = second

    def is_set(self) -> bool:
        return self._first.is_set() or self._second.is_set()


def acquire(lock: threading.Lock, cancel: Cancellation) -> bool:
    """Wait for `lock` unless `cancel` is set first; True when the lock is held."""
    while not cancel.is_set():
        if lock.acquire(timeout=LOCK_POLL_SECONDS):
            return True
    return False


def gbnf_literal(text: str) -> str:
    """A GBNF string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class KvSnapshot:
    """The KV cache of a model's sequence 0 and the tokens it holds, to restore later.

    Restoring copies a few MB (about 23 KB per token for SmolLM2-135M): a few milliseconds,
    against a second or more to prefill a few-shot prompt again.
    """

    def __init__(self, model: Any) -> None:
        self._state = llama_adapter.save_sequence(model)
        self.tokens: list[int] = list(self._state.tokens)

    def restore(self, model: Any) -> bool:
        """Put the saved cache back in `model` (the model's lock held); False on failure."""
        return llama_adapter.restore_sequence(model, self._state)


def restore_if_longer(model: Any, snapshot: KvSnapshot | None, tokens: list[int]) -> None:
    """Restore `snapshot` when it shares a longer prefix with `tokens` than the cache does."""
    if snapshot is None:
        return
    cached = llama_adapter.cached_tokens(model)
    if model.longest_token_prefix(snapshot.tokens, tokens) > model.longest_token_prefix(
        cached, tokens
    ):
        snapshot.restore(model)


class RouterSetup:
    """A tool list's router prompt and its grammars (compiled on first use)."""

    def __init__(self, prompt: RouterPrompt) -> None:
        self.prompt = prompt
        self.names = [option["properties"]["name"]["const"] for option in prompt.schema["anyOf"]]
        self._name_grammar: Any = None
        self._argument_grammars: dict[str, Any] = {}
        self._first_tokens: dict[str, int] | None = None
        self._first_tokens_known = False
        self.snapshot: KvSnapshot | None = None
        """The router's KV cache with this prompt evaluated, when it may be evicted and needed
        again (the tool lists that are checked, and each of their tools' own prompts)."""
        self.keep_snapshot = False

    def first_tokens(self, model: Any) -> dict[str, int] | None:
        """Each name's first token after `{"name": "`; None when two names share one."""
        if not self._first_tokens_known:
            self._first_tokens_known = True
            head = model.tokenize(NAME_PREFIX.encode("utf-8"), add_bos=False, special=True)
            firsts: dict[str, int] = {}
            for name in self.names:
                tokens = model.tokenize(
                    (NAME_PREFIX + name).encode("utf-8"), add_bos=False, special=True
                )
                if tokens[: len(head)] != head or len(tokens) == len(head):
                    return None
                firsts[name] = tokens[len(head)]
            if len(set(firsts.values())) == len(firsts):
                self._first_tokens = firsts
        return self._first_tokens

    def name_grammar(self) -> Any:
        """The rest of the name string after `{"name": "`: one of the names, then a quote."""
        if self._name_grammar is None:
            from llama_cpp.llama_grammar import LlamaGrammar

            names = " | ".join(gbnf_literal(name) for name in self.names)
            self._name_grammar = LlamaGrammar.from_string(
                f"root ::= ({names}) {gbnf_literal(chr(34))}", verbose=False
            )
        return self._name_grammar

    def argument_grammar(self, tool: Any, choices: Mapping[str, Sequence[str]]) -> Any:
        """A space, the tool's arguments object (grammar from its JSON schema, its string
        properties limited to `choices`), then `}`.

        The outer `}` is part of the grammar because the model writes `}}` as one token.
        """
        key = json.dumps([tool.name, choices], sort_keys=True)
        grammar = self._argument_grammars.get(key)
        if grammar is None:
            from llama_cpp.llama_grammar import LlamaGrammar, json_schema_to_gbnf

            option = next(
                o
                for o in self.prompt.schema["anyOf"]
                if o["properties"]["name"]["const"] == tool.name
            )
            schema = constrained_schema(option["properties"]["arguments"], choices)
            rules = json_schema_to_gbnf(json.dumps(schema))
            rules = re.sub(r"^root ::=", "arguments ::=", rules, count=1, flags=re.MULTILINE)
            grammar = LlamaGrammar.from_string(
                rules + '\nroot ::= " " arguments "}"\n', verbose=False
            )
            if len(self._argument_grammars) >= _GRAMMARS_KEPT:
                self._argument_grammars.clear()
            self._argument_grammars[key] = grammar
        return grammar


def prefill_model(
    model: Any,
    lock: threading.Lock,
    tokens: list[int],
    cancel: Cancellation,
    *,
    wait: bool = False,
    snapshot: KvSnapshot | None = None,
) -> None:
    """Evaluate `tokens` on `model` after the longest prefix its KV cache already holds.

    A busy model is skipped (it is answering a turn), unless `wait`. `snapshot` is restored
    first when it holds a longer prefix of `tokens` than the cache.
    """
    if not (acquire(lock, cancel) if wait else lock.acquire(blocking=False)):
        return
    try:
        restore_if_longer(model, snapshot, tokens)
        cached = llama_adapter.cached_tokens(model)
        done = model.longest_token_prefix(cached, tokens)
        for start in range(done, len(tokens), PREFILL_STEP):
            if cancel.is_set():
                return
            llama_adapter.evaluate_after(model, start, tokens[start : start + PREFILL_STEP])
    finally:
        lock.release()


def close_models(*models: Any) -> None:
    for model in models:
        model.close()
