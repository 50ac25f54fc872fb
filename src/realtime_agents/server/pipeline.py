"""The per-session async driver: runs the core's effects on the engines and sends its events.

All core calls happen on the event loop; engine work runs in worker threads (an executor the
server shares between sessions) and is stopped through `threading.Event`s on barge-in and
cancel. Outgoing events go through one ordered queue drained by the socket writer; producers
wait when it is full (back-pressure instead of dropping).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any

import numpy as np

from ..audio import (
    AudioFormatName,
    StreamingResampler,
    decode_to_pcm16,
    sample_rate_of,
)
from .effects import (
    AnalyzeAudio,
    CancelResponse,
    CancelSpeculation,
    Close,
    Output,
    PrepareLlm,
    Speculate,
    StartResponse,
    Transcribe,
    TranscribeTurn,
)
from .engine_runner import EngineRunner
from .engines.base import (
    EngineSet,
    Hypothesis,
    LlmToolCall,
    Pcm16RateDetector,
    VoiceActivityDetector,
    runs_inline,
)
from .errors import error_event
from .llm_prepare import prepare_job
from .protocol import SessionProtocol
from .response_generation import generate_response, transcribe_audio, transcribe_hypotheses
from .speculation_shell import SessionShell, Speculations
from .turns.session_turns import TurnTaking

logger = logging.getLogger(__name__)


class SessionPipeline:
    """Drives one `SessionProtocol` with an `EngineSet`."""

    def __init__(
        self,
        core: SessionProtocol,
        engines: EngineSet,
        *,
        executor: Executor | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_queued_events: int = 256,
        speculate: bool = True,
    ) -> None:
        """`speculate`: start STT, LLM and TTS at the first silent frame after speech (their
        results are used only if the turn ends there; see `speculation_shell`). A transcription
        session never speculates: it starts no LLM or TTS work at all."""
        self.core = core
        self.engines = engines
        self.runner = EngineRunner(executor)
        """Runs the engines' blocking calls in `executor`'s worker threads."""
        self.clock = clock
        self.close_request: Close | None = None
        self.closing = asyncio.Event()
        self._outgoing: deque[dict[str, Any]] = deque()
        self._max_queued = max_queued_events
        self._has_events = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._responses: dict[str, tuple[asyncio.Task[None], threading.Event]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._vad = _VadRunner(engines, inline=runs_inline(engines.vad), turns=core.turns)
        self._vad_lock = asyncio.Lock()
        self._speculations = Speculations(
            SessionShell(core, engines, self.runner, self.handle, clock, self.transcribe)
        )
        core.speculator.enabled = speculate and not core.transcription_only

    # ------------------------------------------------------------------ public API

    async def start(self) -> None:
        """Queue `session.created`."""
        await self.handle(self.core.start())

    async def receive(self, message: object) -> None:
        """One parsed client event."""
        self.receive_nowait(message)
        await self.wait_for_room()

    def receive_nowait(self, message: object) -> list[Output]:
        """`receive` without waiting for room in the outgoing queue (see `has_room`); the
        outputs it handled."""
        outputs = self.core.receive(message, self.clock())
        self.handle_nowait(outputs)
        return outputs

    async def tick(self) -> None:
        """Let time pass in the core (idle timeout, session expiry)."""
        await self.handle(self.core.tick(self.clock()))

    def tick_nowait(self) -> None:
        """`tick()` for a server-wide ticker: checks now, handles any outputs in a task."""
        outputs = self.core.tick(self.clock())
        if outputs:
            self._spawn(self.handle(outputs))

    async def send_event(self, event: dict[str, Any]) -> None:
        """Queue an event built outside the core (e.g. an `error` for invalid JSON)."""
        await self.handle([event])

    async def next_events(self) -> list[dict[str, Any]]:
        """Wait for and take every queued event (for the socket writer)."""
        while not self._outgoing:
            self._has_events.clear()
            await self._has_events.wait()
        events = list(self._outgoing)
        self._outgoing.clear()
        self._drained.set()
        return events

    def pending_events(self) -> list[dict[str, Any]]:
        """Take whatever is queued without waiting."""
        events = list(self._outgoing)
        self._outgoing.clear()
        self._drained.set()
        return events

    async def aclose(self) -> None:
        """Stop every engine call and task of this session."""
        for _, cancel in self._responses.values():
            cancel.set()
        tasks = [task for task, _ in self._responses.values()] + list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._responses.clear()
        await self._speculations.aclose()
        self._tasks.clear()

    # ------------------------------------------------------------------ outputs

    async def handle(self, outputs: list[Output]) -> None:
        """Queue events in order and start effects; wait while the outgoing queue is full."""
        self.handle_nowait(outputs)
        await self.wait_for_room()

    def handle_nowait(self, outputs: list[Output]) -> None:
        """`handle` without waiting for room in the outgoing queue (see `has_room`)."""
        for output in outputs:
            if isinstance(output, dict):
                self._outgoing.append(output)
                self._has_events.set()
            else:
                self._effect(output)

    @property
    def has_room(self) -> bool:
        """Whether the outgoing queue is within its limit (producers wait while it is not)."""
        return len(self._outgoing) <= self._max_queued

    @property
    def queued_events(self) -> int:
        """Events waiting for the socket writer."""
        return len(self._outgoing)

    async def wait_for_room(self) -> None:
        """Wait until the socket writer took the queued events, if the queue is over its limit."""
        if len(self._outgoing) > self._max_queued:
            self._drained.clear()
            await self._drained.wait()

    def _effect(self, effect: Any) -> None:
        if isinstance(effect, AnalyzeAudio):
            if self._vad.inline:
                frames = self._vad.analyze(effect)
                self.handle_nowait(self.core.vad_frames(frames, self.clock()))
                self._speculations.warm()
            else:
                self._spawn(self._analyze_in_thread(effect))
        elif isinstance(effect, Transcribe):
            self._spawn(self._speculations.transcription(effect) or self.transcribe(effect))
        elif isinstance(effect, StartResponse):
            task = self._speculations.adopt(effect) or asyncio.create_task(
                self._run_response(effect)
            )
            self._responses[effect.response_id] = (task, effect.cancel)
            task.add_done_callback(lambda _: self._responses.pop(effect.response_id, None))
        elif isinstance(effect, CancelResponse):
            entry = self._responses.pop(effect.response_id, None)
            if entry is not None:
                entry[1].set()
                entry[0].cancel()
        elif isinstance(effect, Speculate):
            self._speculations.begin(effect)
        elif isinstance(effect, CancelSpeculation):
            self._speculations.discard()
        elif isinstance(effect, TranscribeTurn):
            self._spawn(self._transcribe_turn(effect))
        elif isinstance(effect, PrepareLlm):
            job = prepare_job(self.engines.llm, effect)
            if job is not None:
                self._spawn(self.runner.in_thread(job))
        elif isinstance(effect, Close):
            self.close_request = effect
            self.closing.set()

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ VAD and STT

    async def _analyze_in_thread(self, effect: AnalyzeAudio) -> None:
        async with self._vad_lock:  # frames must reach the core in order
            frames = await self.runner.in_vad_lane(lambda: self._vad.analyze(effect))
            await self.handle(self.core.vad_frames(frames, self.clock()))
            self._speculations.warm()

    async def transcribe(self, effect: Transcribe) -> None:
        """Transcribe a committed item in a worker thread and report the result to the core."""
        stt = self.engines.stt

        def transcribe() -> str:  # decoding and resampling a whole utterance: off the loop too
            return transcribe_audio(
                stt, effect.audio, effect.audio_format, effect.language, effect.prompt
            )

        try:
            text = await self.runner.in_thread(transcribe)
        except Exception as error:  # an engine failure is reported, never raised into the loop
            logger.exception("transcription failed")
            await self.handle(self.core.transcription_failed(effect.item_id, str(error)))
            return
        text = text.strip()
        await self.handle(self.core.transcription_delta(effect.item_id, text))
        await self.handle(self.core.transcription_completed(effect.item_id, text))

    async def _transcribe_turn(self, effect: TranscribeTurn) -> None:
        """The transcript a turn decision waits for (a speculative one of the same speech item
        when there is one: it transcribed the same audio at the same pause)."""
        found = None if effect.fresh else await self._speculations.transcript_of(effect.item_id)
        if found is None:
            stt = self.engines.stt

            def transcribe() -> tuple[Hypothesis, ...]:
                return transcribe_hypotheses(
                    stt, effect.audio, effect.audio_format, effect.language, effect.prompt
                )

            try:
                found = await self.runner.in_turn_lane(transcribe)
            except Exception:  # no words to judge: the detector waits for the unsure silence
                logger.exception("transcription for the turn decision failed")
                found = (Hypothesis("", 0.0),)
        text, readings = found[0].text.strip(), found
        await self.handle(self.core.turn_transcript(effect.request, text, self.clock(), readings))

    # ------------------------------------------------------------------ responses

    async def _run_response(self, effect: StartResponse) -> None:
        response_id, cancel = effect.response_id, effect.cancel
        try:
            sink = _LiveSink(self, response_id)
            await generate_response(self.runner, self.engines, effect, cancel, sink)
        except asyncio.CancelledError:
            cancel.set()
            raise
        except Exception as error:
            logger.exception("response %s failed", response_id)
            message = f"response {response_id} failed: {error}"
            await self.handle([error_event("engine_error", message, error_type="server_error")])
            await self.handle(self.core.response_finished(response_id, self.clock(), str(error)))
            return
        finally:
            cancel.set()  # stops the producer threads whatever happened
        await self.handle(self.core.response_finished(response_id, self.clock()))


class _LiveSink:
    """Sends a live response's pieces to the client through the core."""

    def __init__(self, pipeline: SessionPipeline, response_id: str) -> None:
        self.pipeline = pipeline
        self.response_id = response_id

    async def text(self, text: str) -> None:
        await self.pipeline.handle(self.pipeline.core.response_text(self.response_id, text))

    async def audio(self, data: bytes) -> None:
        await self.pipeline.handle(self.pipeline.core.response_audio(self.response_id, data))

    async def tool_call(self, call: LlmToolCall) -> None:
        await self.pipeline.handle(self.pipeline.core.response_tool_call(self.response_id, call))


class _VadRunner:
    """Decodes, resamples and frames appended audio for the session's voice activity detector.

    A detector with the `Pcm16RateDetector` fast path runs on the input rate directly (no
    resampling, int16 frames); others get float32 frames resampled to their own rate.
    """

    def __init__(
        self, engines: EngineSet, *, inline: bool, turns: TurnTaking | None = None
    ) -> None:
        self.inline = inline
        self.turns = turns
        """Its `echo_gate` (when set) zeroes the frames that hold only the assistant's echo."""
        self.base_detector = engines.vad.create_detector()
        self.detector: VoiceActivityDetector = self.base_detector
        self.fast: Pcm16RateDetector | None = None
        self.rate = self.detector.sample_rate
        self.frame = self.detector.frame_samples
        self._format: AudioFormatName | None = None
        self._resampler: StreamingResampler | None = None
        self._pending = b""
        self._origin_ms = 0.0
        self._consumed = 0
        self._expected_ms = -1.0
        self._ms_per_byte = 0.0

    def _restart(self, audio_format: AudioFormatName, start_ms: float) -> None:
        """A new format or a gap in the timeline: start framing afresh at `start_ms`."""
        self._format = audio_format
        rate = sample_rate_of(audio_format)
        self._ms_per_byte = 1000 / (2 * rate)
        base = self.base_detector
        fast = base.at_rate(rate) if isinstance(base, Pcm16RateDetector) else None
        if fast is not None and isinstance(fast, VoiceActivityDetector):
            self.detector, self.fast = fast, fast
        else:
            self.detector, self.fast = base, None
        self.rate = self.detector.sample_rate
        self.frame = self.detector.frame_samples
        self._resampler = None if rate == self.rate else StreamingResampler(rate, self.rate)
        self._pending = b""
        self._origin_ms = start_ms
        self._consumed = 0

    def analyze(self, effect: AnalyzeAudio) -> list[tuple[float, float, float]]:
        """(start_ms, end_ms, probability) of every complete frame in this chunk."""
        if effect.audio_format != self._format or abs(effect.start_ms - self._expected_ms) > 1:
            self._restart(effect.audio_format, effect.start_ms)
        pcm = (
            effect.audio
            if effect.audio_format == "pcm16"
            else decode_to_pcm16(effect.audio, effect.audio_format)[0]
        )
        self._expected_ms = effect.start_ms + len(pcm) * self._ms_per_byte
        if self._resampler is not None:
            pcm = self._resampler.process(pcm)
        pending = self._pending + pcm if self._pending else pcm
        frame, rate = self.frame, self.rate
        count = len(pending) // (2 * frame)
        if not count:
            self._pending = pending
            return []
        used = 2 * frame * count
        self._pending = pending[used:]
        samples = np.frombuffer(pending, dtype="<i2", count=used // 2)  # a view, no copy
        fast, detector = self.fast, self.detector
        floats = None if fast is not None else samples.astype(np.float32) / np.float32(32768.0)
        frames = []
        origin, consumed = self._origin_ms, self._consumed
        gate = None if self.turns is None else self.turns.echo_gate
        if gate is not None:
            gate.add_input(samples, rate, origin + consumed * 1000 / rate)
        for index in range(0, count * frame, frame):
            if fast is not None:
                probability = fast.pcm16_probability(samples[index : index + frame])
            else:
                assert floats is not None
                probability = float(detector.speech_probability(floats[index : index + frame]))
            start = origin + (consumed + index) * 1000 / rate
            end = origin + (consumed + index + frame) * 1000 / rate
            if gate is not None and probability >= 0.2 and gate.is_echo(end):
                probability = 0.0  # the assistant's own voice coming back
            frames.append((start, end, probability))
        self._consumed = consumed + count * frame
        return frames
