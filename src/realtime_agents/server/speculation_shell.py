"""Speculative work in the I/O shell: transcribe and reply while the silence is confirmed.

On `Speculate` a `SpeculativeRun` transcribes the audio so far, asks the core's prediction
for the `StartResponse` that transcript would lead to, and runs the LLM (and TTS) for it in
worker threads, recording what a live response would report to the core. Nothing reaches the
core or the client until the core asks for exactly that work: a `Transcribe` of the same audio
takes the speculative transcript, and a `StartResponse` equal to the prediction replays the
recording (then follows it live) instead of starting the engines again. Anything else, or
`CancelSpeculation`, stops the run and discards it.

Earlier still, while the user speaks, `Speculations.warm` transcribes the audio so far now and
then and lets an LLM engine with `prefill` evaluate the prompt up to that transcript, so the
run at the end of the turn finds most of its prompt in the model's cache. That touches only
caches: nothing is reported, and a wrong guess costs nothing but the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from .effects import Output, Speculate, StartResponse, Transcribe
from .engine_runner import EngineRunner
from .engines.base import EngineSet, Hypothesis, LlmToolCall, PrefillingLanguageModel
from .protocol import SessionProtocol
from .response_generation import (
    TURN_HYPOTHESES,
    generate_response,
    transcribe_audio,
    transcribe_hypotheses,
)
from .speculation_core import speculate

logger = logging.getLogger(__name__)

WARM_FIRST_MS = 700
"""Audio of the speech item (prefix padding included) before it is first prefilled."""
WARM_EVERY_MS = 300
"""More audio needed before the next prefill of the same speech item (at least; a quarter of
the audio so far in long speech, since each prefill transcribes all of it again)."""


@dataclass(frozen=True, slots=True)
class SessionShell:
    """What speculative work uses of its session's I/O shell (the pipeline passes it in)."""

    core: SessionProtocol
    engines: EngineSet
    runner: EngineRunner
    handle: Callable[[list[Output]], Awaitable[None]]
    """Queue the core's outputs (events and effects), waiting while the queue is full."""
    clock: Callable[[], float]
    transcribe: Callable[[Transcribe], Awaitable[None]]
    """Transcribe an item the usual way and report it to the core."""


class SpeculativeRun:
    """One speculative transcript + response, recorded until adopted or discarded."""

    def __init__(self, shell: SessionShell, effect: Speculate) -> None:
        self.shell = shell
        self.effect = effect
        self.cancel = threading.Event()
        self.transcript: str | None = None
        self.hypotheses: tuple[Hypothesis, ...] = ()
        """The readings of the speech (best first; the best is `transcript`)."""
        self.transcribed = asyncio.Event()
        self.start: StartResponse | None = None
        self.outputs: list[tuple[str, Any]] = []
        """Recorded reports: ("text", str), ("audio", bytes), ("tool", LlmToolCall)."""
        self.finished = False
        self.error: str | None = None
        self._changed = asyncio.Event()
        self.task: asyncio.Task[None] = asyncio.ensure_future(self._run())

    # ------------------------------------------------------------------ matching

    def transcribes(self, effect: Transcribe) -> bool:
        """Whether `effect` asks for the transcript of exactly the audio speculated on."""
        mine = self.effect
        return (
            effect.item_id == mine.item_id
            and effect.audio_format == mine.audio_format
            and effect.language == mine.language
            and effect.prompt == mine.prompt
            and len(effect.audio) == mine.committed_bytes
            and effect.audio.startswith(mine.audio)
        )

    def matches(self, effect: StartResponse) -> bool:
        """Whether `effect` is the response predicted (same request, voice and format)."""
        start = self.start
        return (
            start is not None
            and not self.cancel.is_set()
            and self.error is None
            and start.request == effect.request
            and start.output_modalities == effect.output_modalities
            and start.voice == effect.voice
            and start.speed == effect.speed
            and start.output_format == effect.output_format
        )

    def stop(self) -> None:
        """Discard: stop the engines (a transcription under way still completes)."""
        self.cancel.set()
        self._changed.set()

    def end(self) -> None:
        """`stop`, and cancel the task once past its transcription: a generation that waits
        on something nobody will set again must not stay pending."""
        self.stop()
        if self.transcribed.is_set() and not self.task.done():
            self.task.cancel()

    # ------------------------------------------------------------------ the speculative work

    async def _run(self) -> None:
        effect, shell = self.effect, self.shell
        stt = shell.engines.stt
        try:
            count = TURN_HYPOTHESES if effect.hypotheses else 1
            found = await shell.runner.in_turn_lane(
                lambda: transcribe_hypotheses(
                    stt, effect.audio, effect.audio_format, effect.language, effect.prompt, count
                )
            )
            self.hypotheses = found
            self.transcript = found[0].text.strip()
        except Exception:
            logger.debug("speculative transcription failed", exc_info=True)
            self.error = "transcription failed"
        finally:
            self.transcribed.set()
        if self.transcript is None or self.cancel.is_set():
            self._finish(self.error or "cancelled")
            return
        self.start = effect.start(self.transcript)
        try:
            await self._generate(self.start)
        except asyncio.CancelledError:
            self.cancel.set()
            raise
        except Exception as error:
            logger.exception("speculative response failed")
            self._finish(str(error))
            return
        self._finish("cancelled" if self.cancel.is_set() else None)

    def _finish(self, error: str | None) -> None:
        self.error = error
        self.finished = True
        self._changed.set()

    def _record(self, kind: str, value: Any) -> None:
        if not self.cancel.is_set():
            self.outputs.append((kind, value))
            self._changed.set()

    async def _generate(self, start: StartResponse) -> None:
        """The live response's engine work (`generate_response`), recorded."""
        shell = self.shell
        await generate_response(shell.runner, shell.engines, start, self.cancel, self)

    async def text(self, text: str) -> None:
        self._record("text", text)

    async def audio(self, data: bytes) -> None:
        self._record("audio", data)

    async def tool_call(self, call: LlmToolCall) -> None:
        self._record("tool", call)

    # ------------------------------------------------------------------ adoption

    async def replay(self, effect: StartResponse) -> None:
        """Be the response `effect` starts: report the recording, then the rest as it comes."""
        handle, core, response_id = self.shell.handle, self.shell.core, effect.response_id
        index = 0
        try:
            while True:
                while index < len(self.outputs):
                    kind, value = self.outputs[index]
                    index += 1
                    if kind == "text":
                        await handle(core.response_text(response_id, value))
                    elif kind == "audio":
                        await handle(core.response_audio(response_id, value))
                    else:
                        await handle(core.response_tool_call(response_id, value))
                if self.finished:
                    break
                self._changed.clear()
                await self._changed.wait()
        finally:
            self.stop()  # barge-in or cancel (the task is cancelled), or done
        await handle(core.response_finished(response_id, self.shell.clock(), self.error))


class Speculations:
    """A session's current speculative run (at most one)."""

    def __init__(self, shell: SessionShell) -> None:
        self.shell = shell
        self.current: SpeculativeRun | None = None
        self._warming: asyncio.Task[None] | None = None
        self._warm_cancel = threading.Event()
        self._warmed: tuple[str | None, float] = (None, 0.0)
        """(speech item, its audio length in ms) of the last prefill."""
        self._stopping: set[asyncio.Task[None]] = set()
        """Tasks of discarded and adopted runs, referenced until they end (the loop keeps only weak
        references: a pending task nothing holds can be collected mid-await)."""

    def warm(self) -> None:
        """While the user speaks: prefill the LLM for the transcript so far, now and then.

        Only with an LLM engine that has `prefill(request, cancel)`, when no speculative run
        or earlier prefill is under way, and once the speech item is long enough.
        """
        shell = self.shell
        core = shell.core
        if not core.speculator.enabled or self.current is not None or not core.detector.in_speech:
            return
        if self._warming is not None and not self._warming.done():
            return
        llm = shell.engines.llm
        if not isinstance(llm, PrefillingLanguageModel):
            return
        item_id = core.speech_item_id
        heard_ms = core.buffer.end_ms - core.detector.speech_start_ms
        last_item, last_ms = self._warmed
        due = WARM_FIRST_MS if item_id != last_item else last_ms + max(WARM_EVERY_MS, last_ms / 4)
        if item_id is None or heard_ms < due:
            return
        effect = speculate(core)
        if effect is None:
            return
        self._warmed = (item_id, heard_ms)
        self._warm_cancel = threading.Event()
        self._warming = asyncio.ensure_future(self._warm(effect, llm, self._warm_cancel))

    async def _warm(
        self,
        effect: Speculate,
        llm: PrefillingLanguageModel,
        cancel: threading.Event,
    ) -> None:
        runner, stt = self.shell.runner, self.shell.engines.stt
        try:
            text = await runner.in_thread(
                lambda: transcribe_audio(
                    stt, effect.audio, effect.audio_format, effect.language, effect.prompt
                )
            )
            if cancel.is_set() or not text.strip():
                return
            request = effect.start(text.strip()).request
            await runner.in_thread(lambda: llm.prefill(request, cancel))
        except Exception:
            logger.debug("prefilling the LLM during speech failed", exc_info=True)

    def begin(self, effect: Speculate) -> None:
        """Start speculating (discarding any earlier run and stopping a prefill)."""
        self._warm_cancel.set()
        self.discard()
        logger.debug("speculating on %s (%d bytes)", effect.item_id, len(effect.audio))
        self.current = SpeculativeRun(self.shell, effect)

    def discard(self) -> None:
        """Stop and forget the current run."""
        if self.current is not None:
            logger.debug("speculation on %s discarded", self.current.effect.item_id)
            self.current.end()
            self._keep_until_done(self.current.task)
            self.current = None

    def _keep_until_done(self, task: asyncio.Task[None]) -> None:
        """Reference a run's task until it ends (see `_stopping`)."""
        if not task.done():
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)

    def transcription(self, effect: Transcribe) -> Coroutine[Any, Any, None] | None:
        """The coroutine delivering `effect`'s transcript from the run, if it is for it."""
        run = self.current
        if run is None or not run.transcribes(effect):
            self.discard()
            return None
        return self._deliver(run, effect)

    async def _deliver(self, run: SpeculativeRun, effect: Transcribe) -> None:
        await run.transcribed.wait()
        shell, text = self.shell, run.transcript
        if text is None:  # the speculative transcription failed: do it again the usual way
            await shell.transcribe(effect)
            return
        await shell.handle(shell.core.transcription_delta(effect.item_id, text))
        await shell.handle(shell.core.transcription_completed(effect.item_id, text))

    async def transcript_of(self, item_id: str) -> tuple[Hypothesis, ...] | None:
        """The current run's readings if they are of `item_id`, best first (None: no such run,
        or it failed)."""
        run = self.current
        if run is None or run.effect.item_id != item_id:
            return None
        await run.transcribed.wait()
        return run.hypotheses if run.transcript is not None else None

    def adopt(self, effect: StartResponse) -> asyncio.Task[None] | None:
        """A task running `effect` from the run's recording, if the run predicted it."""
        run = self.current
        if run is None or not run.matches(effect):
            if run is not None and run.start is not None:
                self.discard()  # a response other than the predicted one: not needed any more
            return None
        self.current = None
        logger.debug("speculation on %s adopted by %s", run.effect.item_id, effect.response_id)
        self._keep_until_done(run.task)  # a barge-in may drop the replay before the run ends
        task = asyncio.create_task(run.replay(effect))
        task.add_done_callback(lambda _: run.end())  # also when cancelled before it ran
        return task

    async def aclose(self) -> None:
        """Stop the current run and any prefill, and wait for their tasks."""
        self._warm_cancel.set()
        if self._warming is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._warming
        run, self.current = self.current, None
        tasks = list(self._stopping)
        if run is not None:
            run.stop()
            tasks.append(run.task)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
