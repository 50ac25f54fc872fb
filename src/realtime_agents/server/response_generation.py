"""The engine work of one response and one utterance, shared by live and speculative runs.

`generate_response` streams the LLM, cuts its text into clauses, synthesises each clause, and
resamples and encodes the audio to the session's output format in deltas of at most
`MAX_AUDIO_DELTA_MS`; it reports each piece to a `ResponseSink`. The live pipeline's sink sends
the pieces to the client; a speculative run's sink records them until they are adopted.
"""

from __future__ import annotations

import threading
from typing import Protocol

from ..audio import (
    AudioFormatName,
    StreamingResampler,
    alaw_encode,
    bytes_for_ms,
    decode_to_pcm16,
    pcm16_to_float32,
    resample_pcm16,
    sample_rate_of,
    ulaw_encode,
)
from .clauses import ClauseCutter
from .effects import StartResponse
from .engine_runner import EngineRunner
from .engines.base import (
    EngineSet,
    Float32Array,
    HypothesesSpeechToText,
    Hypothesis,
    LlmChunk,
    LlmToolCall,
    SpeechToTextEngine,
    runs_inline,
)

MAX_AUDIO_DELTA_MS = 100
"""Audio deltas are at most this long (TTS chunks are split)."""


class ResponseSink(Protocol):
    """Where a response's pieces go, in order."""

    async def text(self, text: str) -> None:
        """A text delta (or a clause's transcript in audio mode)."""
        ...

    async def audio(self, data: bytes) -> None:
        """An audio delta in the session's output format."""
        ...

    async def tool_call(self, call: LlmToolCall) -> None:
        """A complete tool call."""
        ...


def transcribe_audio(
    stt: SpeechToTextEngine,
    audio: bytes,
    audio_format: AudioFormatName,
    language: str | None,
    prompt: str | None,
) -> str:
    """Decode, resample and transcribe one utterance (blocking: call it in a worker thread)."""
    samples = _engine_samples(stt, audio, audio_format)
    return stt.transcribe(samples, language=language, prompt=prompt)


def _engine_samples(
    stt: SpeechToTextEngine, audio: bytes, audio_format: AudioFormatName
) -> Float32Array:
    """`audio` decoded and resampled to the engine's rate, as float32."""
    pcm, rate = decode_to_pcm16(audio, audio_format)
    return pcm16_to_float32(resample_pcm16(pcm, rate, stt.sample_rate))


TURN_HYPOTHESES = 4
"""Readings of a paused utterance the turn decision looks at (engines that can give them)."""


def transcribe_hypotheses(
    stt: SpeechToTextEngine,
    audio: bytes,
    audio_format: AudioFormatName,
    language: str | None,
    prompt: str | None,
    count: int = TURN_HYPOTHESES,
) -> tuple[Hypothesis, ...]:
    """Like `transcribe_audio`, with up to `count` readings, best first (just the one reading,
    scored 0, for a `count` of 1 or from an engine without `transcribe_hypotheses`)."""
    if count <= 1 or not isinstance(stt, HypothesesSpeechToText):
        return (Hypothesis(transcribe_audio(stt, audio, audio_format, language, prompt), 0.0),)
    samples = _engine_samples(stt, audio, audio_format)
    found = stt.transcribe_hypotheses(samples, language=language, prompt=prompt, count=count)
    return tuple(found) or (Hypothesis("", 0.0),)


async def generate_response(
    runner: EngineRunner,
    engines: EngineSet,
    start: StartResponse,
    cancel: threading.Event,
    sink: ResponseSink,
) -> None:
    """Run the LLM (and TTS in audio mode) of `engines` for `start` through `runner`,
    reporting every piece to `sink`.

    While the first clause is synthesised, the LLM pauses between tokens: the first audio
    waits for that synthesis alone, and the next clause is still ready long before the first
    one has been played.
    """
    llm_gate = threading.Event()
    llm_gate.set()
    speaker = (
        _Speaker(runner, engines, start, cancel, sink, llm_gate)
        if "audio" in start.output_modalities
        else None
    )
    cutter = ClauseCutter()
    llm = engines.llm
    async for chunk in runner.stream(
        lambda: llm.generate(start.request, cancel),
        cancel,
        inline=runs_inline(llm),
        gate=llm_gate,
    ):
        assert isinstance(chunk, LlmChunk)
        if chunk.tool_call is not None:
            if speaker is not None:
                await speaker.speak(cutter.flush())
            await sink.tool_call(chunk.tool_call)
        elif speaker is None:
            await sink.text(chunk.text)
        else:
            for clause in cutter.feed(chunk.text):
                await speaker.speak(clause)
    if speaker is not None:
        await speaker.speak(cutter.flush())
        await speaker.finish()


class _Speaker:
    """Synthesises clauses for one response and reports transcript and audio deltas."""

    def __init__(
        self,
        runner: EngineRunner,
        engines: EngineSet,
        start: StartResponse,
        cancel: threading.Event,
        sink: ResponseSink,
        llm_gate: threading.Event,
    ) -> None:
        self.runner = runner
        self.llm_gate = llm_gate
        """Cleared while the first clause is synthesised (the LLM waits)."""
        self.first = True
        self.start = start
        self.cancel = cancel
        self.sink = sink
        self.tts = engines.tts
        self.format: AudioFormatName = start.output_format
        self.resampler = StreamingResampler(self.tts.sample_rate, sample_rate_of(self.format))
        self.max_delta = bytes_for_ms(MAX_AUDIO_DELTA_MS, self.format)

    async def speak(self, text: str) -> None:
        """Transcript delta for the clause, then its audio as it is synthesised."""
        if not text.strip():
            return
        await self.sink.text(text)
        tts, cancel, start = self.tts, self.cancel, self.start
        spoken = text.strip()
        first, self.first = self.first, False
        if first:
            self.llm_gate.clear()
        try:
            async for pcm in self.runner.stream(
                lambda: tts.synthesize(spoken, voice=start.voice, speed=start.speed, cancel=cancel),
                cancel,
                inline=runs_inline(tts),
            ):
                self.llm_gate.set()
                await self._send(self.resampler.process(pcm))
        finally:
            self.llm_gate.set()

    async def finish(self) -> None:
        """Flush the resampler's tail."""
        await self._send(self.resampler.process(b"", last=True))

    async def _send(self, pcm: bytes) -> None:
        if not pcm:
            return
        if self.format == "g711_ulaw":
            data = ulaw_encode(pcm)
        elif self.format == "g711_alaw":
            data = alaw_encode(pcm)
        else:
            data = pcm
        for begin in range(0, len(data), self.max_delta):
            await self.sink.audio(data[begin : begin + self.max_delta])
