"""One `talk` conversation: audio blocks in and out, model events to the screen and the speaker.

Each block the port delivers goes: played audio -> playback tracker (what was heard, for
truncation on barge-in) and echo canceller reference; captured audio -> echo canceller ->
`input_audio_buffer.append`. Model events are printed, tool calls answered, assistant audio
queued for the speaker, and on barge-in the queue is flushed. Microphone and files run this
same code; only the port differs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from ..events import (
    RealtimeModelAudioEvent,
    RealtimeModelAudioInterruptedEvent,
    RealtimeModelEndOfStreamEvent,
    RealtimeModelErrorEvent,
    RealtimeModelEvent,
    RealtimeModelInputAudioTranscriptionCompletedEvent,
    RealtimeModelInputAudioTranscriptionDeltaEvent,
    RealtimeModelInputSpeechStartedEvent,
    RealtimeModelInputSpeechStoppedEvent,
    RealtimeModelToolCallEvent,
    RealtimeModelTranscriptDeltaEvent,
    RealtimeModelTranscriptDoneEvent,
    RealtimeModelTurnEndedEvent,
    RealtimeModelTurnStartedEvent,
)
from ..inputs import RealtimeModelSendAudio, RealtimeModelSendToolOutput
from ..model import (
    RealtimeModel,
    RealtimeModelConfig,
    RealtimeModelListener,
    RealtimePlaybackTracker,
)
from ..settings import RealtimeSessionModelSettings
from .display import Display
from .echo import EchoCanceller
from .playback import Playback
from .ports import BLOCK_MS, SAMPLE_RATE, AudioBlock, AudioPort
from .turns import TurnState

VOICED_LEVEL: Final = 0.02
"""A block whose peak is above this (of full scale) counts as voiced: where speech ends."""
QUIET_TAIL_MS: Final = 1_000
"""A file conversation ends once its input ran out and nothing happened for this long."""
MAX_RECORDED_BYTES: Final = 20 * 60 * SAMPLE_RATE * 2
_BYTES_PER_MS: Final = SAMPLE_RATE * 2 / 1000

ToolHandler = Callable[[str, Mapping[str, Any]], Any]


@dataclass(slots=True)
class Recording:
    """The microphone before and after echo cancellation (for measurements), bounded."""

    captured: bytearray = field(default_factory=bytearray)
    cleaned: bytearray = field(default_factory=bytearray)

    def add(self, captured: bytes, cleaned: bytes) -> None:
        if len(self.captured) < MAX_RECORDED_BYTES:
            self.captured.extend(captured)
            self.cleaned.extend(cleaned)


@dataclass(slots=True)
class TalkResult:
    """What a finished conversation did."""

    user_transcripts: list[str] = field(default_factory=list)
    assistant_transcripts: list[str] = field(default_factory=list)
    tool_calls: list[tuple[str, str, str]] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    timed_out: bool = False
    ended_by_server: str | None = None


class TalkSession(RealtimeModelListener):
    """Drives one conversation; register it as a listener of `model` before connecting."""

    def __init__(
        self,
        model: RealtimeModel,
        port: AudioPort,
        playback: Playback,
        echo: EchoCanceller,
        tracker: RealtimePlaybackTracker,
        display: Display,
        tool_handler: ToolHandler,
        *,
        turns: TurnState | None = None,
        recording: Recording | None = None,
    ) -> None:
        self.model = model
        self.port = port
        self.playback = playback
        self.echo = echo
        self.tracker = tracker
        self.display = display
        self.tool_handler = tool_handler
        self.turns = turns if turns is not None else TurnState()
        self.recording = recording
        self.result = TalkResult()
        self._last_voiced_time: float | None = None
        self._speech_end_time: float | None = None
        self._turn_used_tool = False
        self._ended = False
        self._running = False

    # ------------------------------------------------------------------ model events

    async def on_event(self, event: RealtimeModelEvent) -> None:
        """Print, answer tools, queue audio; called by the model's dispatcher in order."""
        turns = self.turns
        if isinstance(event, RealtimeModelAudioEvent):
            await self.playback.wait_for_room()
            self.playback.append(event.item_id, event.content_index, event.data)
        elif isinstance(event, RealtimeModelTranscriptDeltaEvent):
            self.display.assistant_delta(event.item_id, event.delta)
        elif isinstance(event, RealtimeModelTranscriptDoneEvent):
            self.display.assistant_done(event.item_id, event.transcript)
            self.result.assistant_transcripts.append(event.transcript)
        elif isinstance(event, RealtimeModelInputSpeechStartedEvent):
            if turns.speech_started():
                self.display.interrupted()
            self._speech_end_time = None
        elif isinstance(event, RealtimeModelInputSpeechStoppedEvent):
            turns.speech_stopped()
            self._speech_end_time = self._last_voiced_time
            self._turn_used_tool = False
        elif isinstance(event, RealtimeModelInputAudioTranscriptionCompletedEvent):
            self.display.user_transcript(event.item_id, event.transcript)
            self.result.user_transcripts.append(event.transcript)
        elif isinstance(event, RealtimeModelInputAudioTranscriptionDeltaEvent):
            self.display.user_delta(event.item_id, event.delta)
        elif isinstance(event, RealtimeModelToolCallEvent):
            await self._answer_tool(event)
        elif isinstance(event, RealtimeModelAudioInterruptedEvent):
            self.playback.flush()
        elif isinstance(event, RealtimeModelTurnStartedEvent):
            turns.response_started()
        elif isinstance(event, RealtimeModelTurnEndedEvent):
            turns.response_ended()
        elif isinstance(event, RealtimeModelErrorEvent):
            if event.error.code == "connect_failed":
                return  # `connect` raises it too, and the command prints it once
            self.display.error(event.error.message)
            self.result.errors.append(event.error.message)
        elif isinstance(event, RealtimeModelEndOfStreamEvent) and self._running:
            self._ended = True
            self.result.ended_by_server = event.reason or "the connection closed"

    async def _answer_tool(self, event: RealtimeModelToolCallEvent) -> None:
        self.turns.tool_called()
        self._turn_used_tool = True
        try:
            arguments = json.loads(event.arguments or "{}")
            output = json.dumps(self.tool_handler(event.name, arguments))
        except Exception as error:  # a tool's failure is the model's to hear about, not a crash
            output = json.dumps({"error": f"{type(error).__name__}: {error}"})
        self.display.tool_call(event.name, event.arguments, output)
        self.result.tool_calls.append((event.name, event.arguments, output))
        await self.model.send_event(RealtimeModelSendToolOutput(event, output))

    # ------------------------------------------------------------------ audio loop

    async def run(self, *, max_seconds: float = math.inf) -> TalkResult:
        """Pump audio until the input is finished and quiet, the server ends, or `max_seconds`."""
        self._running = True
        try:
            await self._pump(max_seconds)
        finally:
            self._running = False
        return self.result

    async def _pump(self, max_seconds: float) -> None:
        block_index = 0
        async for block in self.port.blocks():
            block_index += 1
            now_ms = block_index * BLOCK_MS
            await self._process(block, now_ms)
            if self._ended:
                break
            if self.port.input_finished and self.turns.quiet_ms() >= QUIET_TAIL_MS:
                break
            if now_ms >= max_seconds * 1000:
                self.result.timed_out = True
                break

    async def _process(self, block: AudioBlock, now_ms: float) -> None:
        played = block.played
        for segment in played.segments:
            self.tracker.on_play_ms(
                segment.item_id, segment.content_index, segment.size / _BYTES_PER_MS
            )
        if played.segments and self._speech_end_time is not None:
            latency = (block.wall_time - self._speech_end_time) * 1000
            self._speech_end_time = None
            self.result.latencies_ms.append(latency)
            self.display.latency(latency, self._turn_used_tool)
        self.turns.tick(
            now_ms,
            played_audio=bool(played.segments),
            queued_audio=self.playback.queued_bytes > 0,
        )
        self.echo.reference(played.pcm)
        cleaned = self.echo.capture(block.captured)
        if self.recording is not None:
            self.recording.add(block.captured, cleaned)
        if _is_voiced(cleaned):
            self._last_voiced_time = block.wall_time
        await self.model.send_event(RealtimeModelSendAudio(audio=cleaned))


def _is_voiced(pcm: bytes) -> bool:
    if not pcm:
        return False
    samples = np.frombuffer(pcm, dtype=np.int16)
    return int(np.max(np.abs(samples.astype(np.int32)))) > VOICED_LEVEL * 32768


async def converse(
    session_settings: RealtimeSessionModelSettings,
    port: AudioPort,
    playback: Playback,
    echo: EchoCanceller,
    display: Display,
    tool_handler: ToolHandler,
    *,
    url: str | None = None,
    api_key: str | None = None,
    turns: TurnState | None = None,
    recording: Recording | None = None,
    max_seconds: float = math.inf,
    ready_message: str | None = None,
) -> TalkResult:
    """Connect this project's OpenAI Realtime client to `url` and hold the conversation.

    `api_key` None means `OPENAI_API_KEY`. The port is closed (and a file output written) at
    the end, also when cancelled (Ctrl-C).
    """
    from ..providers.openai.websocket import OpenAIRealtimeWebSocketModel

    model = OpenAIRealtimeWebSocketModel()
    tracker = RealtimePlaybackTracker()
    session = TalkSession(
        model, port, playback, echo, tracker, display, tool_handler, turns=turns,
        recording=recording,
    )  # fmt: skip
    model.add_listener(session)
    config: RealtimeModelConfig = {
        "initial_model_settings": session_settings,
        "playback_tracker": tracker,
    }
    if url is not None:
        config["url"] = url
    if api_key is not None:
        config["api_key"] = api_key
    try:
        await model.connect(config)
        if ready_message:
            display.notice(ready_message)
        return await session.run(max_seconds=max_seconds)
    finally:
        await port.close()
        await model.close()
