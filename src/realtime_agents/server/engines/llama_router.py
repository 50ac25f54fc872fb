"""The embedded tool router: which tool (if any) a user's words call, on a llama.cpp instance.

A tool is a candidate only when the place or number it needs is in the words
(`tool_arguments.py`): without any, the model is not asked. A few-shot prompt per tool list
(`tool_router.py`) ends inside the answer, at `{"name": "`, and one evaluation gives the
probability of each tool's name against "none"; the tools it prefers to "none" get two more
pieces of evidence: how much likelier the words are from someone asking for the tool (its
description) than from someone asking a question (`request_context`), and, with several tools,
the log-odds in the tool's own single-tool prompt. Each prompt's evaluated prefix is kept in a
snapshot of the KV cache. The chosen tool's arguments are decoded under a grammar built from its
JSON schema. The router owns no model: the llama.cpp instance, its lock and the chat template
are passed in by the engine (`llama.py`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final

from realtime_agents.server.engines import llama_adapter
from realtime_agents.server.engines.base import LlmToolCall
from realtime_agents.server.engines.llama_cache import (
    NAME_PREFIX,
    Cancellation,
    KvSnapshot,
    RouterSetup,
    acquire,
    restore_if_longer,
)
from realtime_agents.server.engines.llama_model_file import ChatTemplate
from realtime_agents.server.engines.tool_arguments import argument_choices, place_spans
from realtime_agents.server.engines.tool_router import (
    GENERAL_CONTEXT,
    NO_TOOL,
    FunctionTool,
    build_router_prompt,
    request_context,
)
from realtime_agents.server.ids import new_call_id

_ROUTER_MAX_TOKENS: Final = 16
_ARGUMENT_MAX_TOKENS: Final = 96
_SETUPS_KEPT: Final = 32
"""Tool lists whose prompt and grammars are kept (a session rarely changes its tools)."""
_CONTEXTS_KEPT: Final = 64
"""Evidence contexts (`request_context`) whose evaluated prefix is kept in a KV snapshot."""
PREPARE_BATCH_THREADS: Final = 2
"""Threads the router prefills a session's tool prompts with in `prepare()` (decoding stays on
one): 3 tools' prompts took 8.6 s on one thread and 4.5 s on two, measured on this 2-core VM."""
EVIDENCE_GATE: Final = 2.0
"""The description evidence is weighed only when the best candidate's log-odds from the prompts
are within this of the decision. Over the router benchmark's five sets (309 routed utterances,
1-3 tools) every route the evidence changed had prompt log-odds in -1.62..1.18, and skipping it
outside +-2 changed no route while sparing 140 of the 309 its 2-4 extra evaluations."""
VERIFY_MARGIN: Final = 0.0
"""A tool chosen from several is called only when its log-odds against "none" in the tool list's
prompt plus those in the tool's own single-tool prompt exceed this (a product of the two
prompts' odds above 1). With several tools, the tiny model sends general questions to a tool;
with the tool alone it says "none" for most of them, but it also misses more real requests:
each prompt vetoes the other's mistakes only when it is confident."""


def checks_choice(tools: Sequence[Any], allow_none: bool) -> bool:
    """Whether a tool chosen from `tools` is checked with its own single-tool prompt."""
    return allow_none and len(tools) > 1


class LlamaToolRouter:
    """Routes a user's words to a function tool (or none) on one llama.cpp instance."""

    def __init__(
        self,
        model: Any,
        lock: threading.Lock,
        template: ChatTemplate,
        *,
        n_threads: int = 1,
        n_threads_batch: int | None = None,
    ) -> None:
        """`model` is a loaded `llama_cpp.Llama`, used only while holding `lock`; `template`
        renders its chat prompts. `n_threads` decode and `n_threads_batch` prefill."""
        self.model = model
        self.lock = lock
        self._template = template
        self._n_threads = n_threads
        self._n_threads_batch = n_threads_batch or n_threads
        self._setups: dict[str, RouterSetup] = {}
        self._contexts: dict[str, KvSnapshot] = {}
        self.description_evidence = True
        """Add each candidate's description evidence (`request_context`) to its log-odds."""

    # ------------------------------------------------------------------ public API

    def setup(self, tools: Sequence[Any], allow_none: bool, keep: bool = False) -> RouterSetup:
        """The cached prompt and compiled grammars for a tool list (`keep`: its KV snapshot)."""
        key = json.dumps(
            [[t.name, t.description, dict(t.properties), list(t.required)] for t in tools]
            + [allow_none],
            sort_keys=True,
            default=str,
        )
        setup = self._setups.get(key)
        if setup is None:
            if len(self._setups) > _SETUPS_KEPT:
                self._setups.clear()
            setup = self._setups[key] = RouterSetup(build_router_prompt(tools, allow_none))
        setup.keep_snapshot = setup.keep_snapshot or keep
        return setup

    def prompt(self, setup: RouterSetup, user_text: str) -> str:
        """The router's prompt for `user_text` under `setup`, up to the end of the user turn."""
        return self._template.render(setup.prompt.messages(user_text))

    def prepare(self, tools: Sequence[FunctionTool], allow_none: bool) -> None:
        """Prefill a tool list's prompt, each tool's own prompt when a choice is checked and
        the evidence contexts (each kept in a snapshot) on `PREPARE_BATCH_THREADS` threads,
        leaving the list's prompt in the cache."""
        check = checks_choice(tools, allow_none)
        evidence = allow_none and self.description_evidence
        with self._prefill_threads(PREPARE_BATCH_THREADS):
            for tool in tools if check else []:
                self._evaluate_prompt([tool], True, keep=True)
            if evidence:
                for tool in tools:
                    self.evidence(tool, "Hello.")
            self._evaluate_prompt(tools, allow_none, keep=check or evidence)  # last: it stays

    def route(
        self,
        user_text: str,
        tools: Sequence[FunctionTool],
        allow_none: bool,
        cancel: Cancellation,
        on_tool: Callable[[str], None] | None = None,
        *,
        keep: bool = False,
    ) -> LlmToolCall | None:
        """Which tool (if any) answers `user_text`, with its arguments.

        The prompt ends inside the answer, at `{"name": "`, and one evaluation gives the
        probabilities of each name's first token (when two names share a first token, the name
        is decoded under a grammar instead). Without "none" the likeliest tool is called. With
        "none" allowed, only the tools whose required places and numbers appear in the text
        (`argument_choices`) and that are likelier than "none" are candidates; each gets its
        description evidence (`evidence`, unless `description_evidence` is off) and, with
        several tools, its log-odds in its own single-tool prompt (restored from a snapshot of
        its evaluated prefix) added, and the candidate with the largest sum is called when that
        sum exceeds `VERIFY_MARGIN`. Its arguments are then decoded under a grammar built from
        its JSON schema, string values limited to words of the text, in the last prompt it was
        scored in.
        `on_tool` hears the chosen tool's name before its arguments are decoded. `keep`:
        snapshot this tool list's evaluated prompt.
        """
        check = checks_choice(tools, allow_none)
        evidence = allow_none and self.description_evidence
        setup = self.setup(tools, allow_none, keep or check or evidence)
        if not acquire(self.lock, cancel):
            return None
        try:
            text = user_text.strip() or "..."
            prefix = self.prompt(setup, text) + NAME_PREFIX
            firsts = setup.first_tokens(self.model)
            if firsts is None:
                chosen = self._decode_name(setup, prefix, cancel)
                tool = next((t for t in tools if t.name == chosen), None)
            else:
                if allow_none:
                    tools = [t for t in tools if argument_choices(t, text) is not None]
                    if not tools:
                        return None  # no place or number any tool needs: nothing to ask the model
                logprobs = self._next_logprobs(setup, prefix, text)
                odds = {
                    t.name: float(logprobs[firsts[t.name]])
                    - (float(logprobs[firsts[NO_TOOL]]) if allow_none else 0.0)
                    for t in tools
                }
                if allow_none:
                    tools = [t for t in tools if odds[t.name] > VERIFY_MARGIN]
                prompts = self._add_own_odds(tools, odds, check, text)
                evicted = evidence and bool(tools) and self._undecided(tools, odds)
                if evicted:
                    self._add_description_evidence(tools, odds, text)
                tool, setup, prefix = self._best_candidate(
                    tools, odds, prompts, setup, prefix, text, evicted=evicted
                )
                if allow_none and (tool is None or odds[tool.name] <= VERIFY_MARGIN):
                    return None
            if tool is None or cancel.is_set():
                return None
            name = tool.name
            choices = argument_choices(tool, text)
            if choices is None and allow_none:
                return None  # no place or number the tool needs: a question, not a request
            if on_tool is not None:
                on_tool(name)
            arguments = "{}"
            if tool.properties:
                prefix += name + '", "arguments":'
                pieces = []
                grammar = setup.argument_grammar(tool, choices or {})
                for piece in self._complete(prefix, grammar, _ARGUMENT_MAX_TOKENS):
                    if cancel.is_set():
                        return None
                    pieces.append(piece)
                arguments = "".join(pieces).strip().removesuffix("}")
        finally:
            self.lock.release()
        try:
            decoded = json.loads(arguments)
        except json.JSONDecodeError:
            decoded = {}
        decoded = decoded if isinstance(decoded, dict) else {}
        return LlmToolCall(name=name, arguments=json.dumps(decoded), call_id=new_call_id())

    def evidence(self, tool: FunctionTool, user_text: str) -> float:
        """How much likelier (log ratio) `user_text`, its names left out, is from someone
        asking for `tool` (`request_context`) than in conversation (`GENERAL_CONTEXT`)."""
        with self.lock:
            general = self._text_logprob(GENERAL_CONTEXT, user_text)
            return self._text_logprob(request_context(tool), user_text) - general

    # ------------------------------------------------------------------ scoring

    def _evaluate_prompt(self, tools: Sequence[Any], allow_none: bool, keep: bool) -> None:
        """Evaluate a tool list's prompt (`keep`: and snapshot it) up to its user turn."""
        setup = self.setup(tools, allow_none, keep)
        text = "Hello."
        with self.lock:
            self._next_logprobs(setup, self.prompt(setup, text) + NAME_PREFIX, text)

    @contextlib.contextmanager
    def _prefill_threads(self, threads: int) -> Iterator[None]:
        """Let the router prefill with `threads` threads (decoding keeps `n_threads`) inside the
        block: a tool list's few-shot prompts take seconds to prefill on one thread."""
        threads = max(self._n_threads_batch, min(threads, os.cpu_count() or 1))
        if threads == self._n_threads_batch:
            yield
            return
        with self.lock:
            llama_adapter.set_threads(self.model, self._n_threads, threads)
        try:
            yield
        finally:
            with self.lock:
                llama_adapter.set_threads(self.model, self._n_threads, self._n_threads_batch)

    def _complete(self, prompt: str, grammar: Any, max_tokens: int) -> Iterator[str]:
        """Stream a grammar-constrained completion of a raw prompt on the router instance."""
        stream = self.model.create_completion(
            prompt=prompt, grammar=grammar, max_tokens=max_tokens, temperature=0.0, stream=True
        )
        try:
            for chunk in stream:
                yield chunk["choices"][0]["text"]
        finally:
            stream.close()

    def _next_logprobs(self, setup: RouterSetup, prompt: str, user_text: str) -> Any:
        """Evaluate `prompt` on the router (its lock held) after the longest prefix held by the
        cache or the setup's snapshot; the log-probabilities of the next token.

        The first time a setup that keeps a snapshot is evaluated, the snapshot is taken at the
        end of the prompt's constant part (up to the user text).
        """
        import numpy as np

        model = self.model
        tokens = model.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        restore_if_longer(model, setup.snapshot, tokens)
        cached = llama_adapter.cached_tokens(model)
        done = min(model.longest_token_prefix(cached, tokens), len(tokens) - 1)
        if setup.keep_snapshot and setup.snapshot is None:
            head = prompt[: prompt.rfind(user_text)].encode("utf-8")
            constant = model.longest_token_prefix(
                model.tokenize(head, add_bos=False, special=True), tokens
            )
            done = min(done, constant)
            llama_adapter.evaluate_after(model, done, tokens[done:constant])
            llama_adapter.keep_only(model, constant)
            done = constant
            setup.snapshot = KvSnapshot(model)
        llama_adapter.evaluate_after(model, done, tokens[done:])
        logits = llama_adapter.next_token_logits(model).astype(np.float64)
        top = float(logits.max())
        return logits - (top + math.log(float(np.exp(logits - top).sum())))

    def _decode_name(self, setup: RouterSetup, prefix: str, cancel: Cancellation) -> str | None:
        """The name the router decodes greedily under the name grammar (None if cancelled)."""
        text = ""
        candidates = setup.names
        for piece in self._complete(prefix, setup.name_grammar(), _ROUTER_MAX_TOKENS):
            if cancel.is_set():
                return None
            text += piece
            candidates = [n for n in setup.names if (n + '"').startswith(text.rstrip("}"))]
            if len(candidates) <= 1:
                break
        return candidates[0] if len(candidates) == 1 else None

    @staticmethod
    def _undecided(candidates: Sequence[Any], odds: dict[str, float]) -> bool:
        """Whether the best candidate's log-odds so far are within `EVIDENCE_GATE` of the
        decision (`VERIFY_MARGIN`): only then can the description evidence change the route."""
        best = max(odds[tool.name] for tool in candidates)
        return abs(best - VERIFY_MARGIN) < EVIDENCE_GATE

    def _add_own_odds(
        self, candidates: Sequence[Any], odds: dict[str, float], check: bool, text: str
    ) -> dict[str, tuple[RouterSetup, str]]:
        """With `check`, add each candidate's log-odds in its own single-tool prompt to `odds`
        (most promising last, so its prompt is the one left in the cache; router lock held);
        returns each scored candidate's setup and prompt prefix."""
        prompts: dict[str, tuple[RouterSetup, str]] = {}
        for tool in sorted(candidates, key=lambda t: odds[t.name]) if check else []:
            own = self.setup([tool], True, keep=True)
            own_firsts = own.first_tokens(self.model)
            if own_firsts is None:
                continue
            own_prefix = self.prompt(own, text) + NAME_PREFIX
            own_logprobs = self._next_logprobs(own, own_prefix, text)
            odds[tool.name] += float(
                own_logprobs[own_firsts[tool.name]] - own_logprobs[own_firsts[NO_TOOL]]
            )
            prompts[tool.name] = (own, own_prefix)
        return prompts

    def _best_candidate(
        self,
        candidates: Sequence[Any],
        odds: dict[str, float],
        prompts: dict[str, tuple[RouterSetup, str]],
        setup: RouterSetup,
        prefix: str,
        text: str,
        *,
        evicted: bool = False,
    ) -> tuple[Any, RouterSetup, str]:
        """The candidate with the highest log-odds against "none" (router lock held), with the
        setup and prompt prefix to decode its arguments in (its own prompt when `prompts` has
        one, put back in the cache unless it was the last evaluated). `evicted`: the cache no
        longer holds the last evaluated prompt."""
        if not candidates:
            return None, setup, prefix
        best = max(candidates, key=lambda t: odds[t.name])
        last = next(reversed(prompts), "")  # evaluated in insertion order
        if best.name in prompts:
            setup, prefix = prompts[best.name]
            if best.name != last or evicted:  # put its prompt back in the cache
                self._next_logprobs(setup, prefix, text)
        elif evicted or prompts:
            self._next_logprobs(setup, prefix, text)
        return best, setup, prefix

    def _add_description_evidence(
        self, candidates: Sequence[FunctionTool], odds: dict[str, float], text: str
    ) -> None:
        """Add to each candidate's log-odds how much likelier `text` is from someone asking
        for the tool than in general conversation (router lock held)."""
        general = self._text_logprob(GENERAL_CONTEXT, text)
        for tool in candidates:
            odds[tool.name] += self._text_logprob(request_context(tool), text) - general

    def _text_logprob(self, system: str, text: str) -> float:
        """The log-probability of `text` as the user's turn after the system message `system`
        (router lock held), without its names (`place_spans`): a city is likelier from someone
        asking for the weather whatever they ask about it. The prefix up to the text is kept in
        a KV snapshot per `system`."""
        import numpy as np

        model = self.model
        rendered = self._template.render(
            [{"role": "system", "content": system}, {"role": "user", "content": text}]
        )
        end = rendered.rfind(text)
        if end < 0:
            return 0.0
        tokens = model.tokenize(
            rendered[: end + len(text)].encode("utf-8"), add_bos=False, special=True
        )
        head = model.tokenize(rendered[:end].encode("utf-8"), add_bos=False, special=True)
        start = max(1, model.longest_token_prefix(head, tokens))
        if start >= len(tokens):
            return 0.0
        snapshot = self._contexts.get(system)
        restore_if_longer(model, snapshot, tokens)
        cached = llama_adapter.cached_tokens(model)
        done = min(model.longest_token_prefix(cached, tokens), start - 1)
        if snapshot is None or done < start - 1:
            llama_adapter.evaluate_after(model, done, tokens[done : start - 1])
            done = start - 1
            if snapshot is None:
                if len(self._contexts) >= _CONTEXTS_KEPT:
                    self._contexts.clear()
                self._contexts[system] = KvSnapshot(model)
        logits = llama_adapter.evaluate_scoring(model, done, tokens[done:]).astype(np.float64)
        rows = logits[start - 1 - done : len(tokens) - 1 - done]
        top = rows.max(axis=1, keepdims=True)
        normaliser = top[:, 0] + np.log(np.exp(rows - top).sum(axis=1))
        chosen = rows[np.arange(len(rows)), tokens[start:]]
        kept = self._outside_names(tokens[start:], text)
        return float(((chosen - normaliser) * kept).sum())

    def _outside_names(self, tokens: list[int], text: str) -> Any:
        """1.0 for each of the text's tokens outside its names (`place_spans`), else 0.0."""
        import numpy as np

        names = [
            (match.start(), match.end())
            for span in place_spans(text)
            for match in re.finditer(re.escape(span), text)
        ]
        kept = np.ones(len(tokens))
        if not names:
            return kept
        decoded = [
            len(self.model.detokenize(tokens[: index + 1]).decode("utf-8", "replace"))
            for index in range(len(tokens))
        ]
        lead = max(0, decoded[-1] - len(text))  # a newline merged into the first token
        begin = 0
        for index, stop in enumerate(decoded):
            first, last = begin - lead, stop - lead
            if any(first < name_end and name_start < last for name_start, name_end in names):
                kept[index] = 0.0
            begin = stop
        return kept
