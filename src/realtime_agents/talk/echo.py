"""Echo cancellation behind a small interface: `reference` (what we played), `capture` (the mic).

The default canceller is the WebRTC audio processing module (AEC3) as shipped by `livekit`'s
`rtc.AudioProcessingModule` (Apache-2.0, from the `[talk]` extra). It works on 10 ms frames of
PCM16; this wrapper buffers partial frames so callers may pass blocks of any length, and every
`capture` call returns exactly as many bytes as it was given (the first call may hold back up to
one frame of audio and return silence in its place, a 10 ms delay).
"""

from __future__ import annotations

import importlib
from typing import Any, Final, Protocol

from ..errors import RealtimeAgentsError

SAMPLE_RATE: Final = 24_000
FRAME_MS: Final = 10
TALK_EXTRA_HINT: Final = "pip install 'realtime-agents[talk]'"


class MissingTalkExtraError(RealtimeAgentsError, RuntimeError):
    """A library of the `[talk]` extra is not installed."""

    def __init__(self, library: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs {library}, which is not installed; install the extra with "
            f"`{TALK_EXTRA_HINT}`"
        )


class EchoCanceller(Protocol):
    """Removes what the speaker played (the reference) from what the microphone captured."""

    name: str

    def reference(self, played: bytes) -> None:
        """PCM16 that was just sent to the speaker, in playing order."""

    def capture(self, captured: bytes) -> bytes:
        """PCM16 from the microphone; returns the same number of bytes with the echo removed."""


class NoEchoCanceller:
    """`--no-aec` (headsets): the microphone audio passes through unchanged."""

    name = "off"

    def reference(self, played: bytes) -> None:
        """Nothing to remember."""

    def capture(self, captured: bytes) -> bytes:
        """The input, unchanged."""
        return captured


class _FrameBuffer:
    """Cuts a byte stream into fixed-size frames, keeping the remainder for the next call."""

    def __init__(self, frame_bytes: int) -> None:
        self.frame_bytes = frame_bytes
        self._pending = bytearray()

    def frames(self, data: bytes) -> list[bytearray]:
        self._pending.extend(data)
        size = self.frame_bytes
        whole = len(self._pending) // size * size
        out = [self._pending[start : start + size] for start in range(0, whole, size)]
        del self._pending[:whole]
        return out


class WebRtcEchoCanceller:
    """WebRTC AEC3 through `livekit.rtc.AudioProcessingModule`, on 10 ms frames at 24 kHz.

    `delay_ms` is a hint of how long audio takes from `reference` to the microphone (the sound
    card's output plus input latency); AEC3 estimates the rest of the delay itself.
    """

    name = "webrtc-aec3"

    def __init__(
        self,
        *,
        sample_rate: int = SAMPLE_RATE,
        delay_ms: int = 0,
        noise_suppression: bool = False,
        high_pass_filter: bool = True,
    ) -> None:
        rtc = _import_livekit_rtc()
        self._rtc = rtc
        self.sample_rate = sample_rate
        self.delay_ms = max(0, int(delay_ms))
        self._frame_samples = sample_rate * FRAME_MS // 1000
        self._module = rtc.AudioProcessingModule(
            echo_cancellation=True,
            noise_suppression=noise_suppression,
            high_pass_filter=high_pass_filter,
            auto_gain_control=False,
        )
        self._reference = _FrameBuffer(self._frame_samples * 2)
        self._capture = _FrameBuffer(self._frame_samples * 2)
        self._output = bytearray()

    def reference(self, played: bytes) -> None:
        """Feed what was played to the far-end side of the module, one 10 ms frame at a time."""
        for frame in self._reference.frames(played):
            self._module.process_reverse_stream(self._frame(frame))

    def capture(self, captured: bytes) -> bytes:
        """Cancel the echo in whole frames; returns as many bytes as it was given."""
        for frame in self._capture.frames(captured):
            audio = self._frame(frame)
            self._module.set_stream_delay_ms(self.delay_ms)
            self._module.process_stream(audio)
            self._output.extend(audio.data.cast("B"))
        wanted = len(captured)
        if len(self._output) < wanted:  # the first partial frame: pad the front with silence
            self._output[:0] = bytes(wanted - len(self._output))
        out = bytes(self._output[:wanted])
        del self._output[:wanted]
        return out

    def _frame(self, pcm: bytearray) -> Any:
        return self._rtc.AudioFrame(pcm, self.sample_rate, 1, self._frame_samples)


def _import_livekit_rtc() -> Any:
    try:
        return importlib.import_module("livekit.rtc")
    except ImportError as error:
        raise MissingTalkExtraError("livekit", "echo cancellation") from error


def make_echo_canceller(enabled: bool, *, delay_ms: int = 0) -> EchoCanceller:
    """The WebRTC canceller, or the pass-through when `enabled` is False (`--no-aec`)."""
    if not enabled:
        return NoEchoCanceller()
    return WebRtcEchoCanceller(delay_ms=delay_ms)
