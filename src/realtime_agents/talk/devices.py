"""The sound card through PortAudio (`sounddevice`): one duplex stream, 20 ms blocks at 24 kHz.

The PortAudio callback runs on its own thread: it fills the speaker from `Playback` and hands
the microphone block, with what was played, to the event loop. Microphone audio cannot wait, so
if the loop falls more than `MAX_PENDING_BLOCKS` behind, the oldest blocks are dropped and
counted (`dropped_blocks`).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, Final

from ..errors import RealtimeAgentsError
from .echo import MissingTalkExtraError
from .playback import Playback
from .ports import BLOCK_MS, SAMPLE_RATE, AudioBlock, block_bytes

MAX_PENDING_BLOCKS: Final = 250
"""Five seconds of 20 ms blocks."""


class NoAudioDeviceError(RealtimeAgentsError, RuntimeError):
    """There is no usable microphone or speaker (or no PortAudio at all)."""


def import_sounddevice() -> Any:
    """The `sounddevice` module; typed errors for a missing extra or a missing PortAudio."""
    try:
        return importlib.import_module("sounddevice")
    except ImportError as error:
        raise MissingTalkExtraError("sounddevice", "talking through the sound card") from error
    except OSError as error:  # the module loads, but the PortAudio library is absent
        raise NoAudioDeviceError(f"PortAudio is not available ({error})") from error


def check_devices(sounddevice: Any, input_device: str | int | None = None,
                  output_device: str | int | None = None) -> str:  # fmt: skip
    """The names of the microphone and speaker to use; `NoAudioDeviceError` when there are none."""
    names = []
    for kind, device in (("input", input_device), ("output", output_device)):
        try:
            info = sounddevice.query_devices(device, kind=kind)
        except (sounddevice.PortAudioError, ValueError) as error:
            what = "microphone" if kind == "input" else "speaker"
            raise NoAudioDeviceError(f"no {what} found ({error})") from error
        names.append(str(info["name"]))
    return f"microphone {names[0]!r}, speaker {names[1]!r}"


class DeviceAudioPort:
    """The default (or chosen) microphone and speaker as one PortAudio duplex stream."""

    def __init__(
        self,
        playback: Playback,
        *,
        input_device: str | int | None = None,
        output_device: str | int | None = None,
        block_ms: int = BLOCK_MS,
    ) -> None:
        self._sounddevice = import_sounddevice()
        self.description = check_devices(self._sounddevice, input_device, output_device)
        self._playback = playback
        self._devices = (input_device, output_device)
        self._block_ms = block_ms
        self._block_bytes = block_bytes(block_ms)
        self._stream: Any = None
        self._pending: deque[AudioBlock] = deque(maxlen=MAX_PENDING_BLOCKS)
        self._arrived: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.dropped_blocks = 0
        self.delay_hint_ms = 0

    @property
    def input_finished(self) -> bool:
        return False

    def open(self) -> None:
        """Start the stream (raises `NoAudioDeviceError` when the device refuses 24 kHz mono)."""
        self._loop = asyncio.get_running_loop()
        self._arrived = asyncio.Event()
        sounddevice = self._sounddevice
        try:
            stream = sounddevice.RawStream(
                samplerate=SAMPLE_RATE,
                blocksize=SAMPLE_RATE * self._block_ms // 1000,
                channels=1,
                dtype="int16",
                device=self._devices,
                callback=self._callback,
            )
        except (sounddevice.PortAudioError, ValueError) as error:
            raise NoAudioDeviceError(f"cannot open the sound card at 24 kHz ({error})") from error
        input_latency, output_latency = stream.latency
        self.delay_hint_ms = round((input_latency + output_latency) * 1000)
        stream.start()
        self._stream = stream

    def _callback(self, indata: Any, outdata: Any, frames: int, _time: Any, _status: Any) -> None:
        played = self._playback.read(len(outdata))
        outdata[:] = played.pcm
        block = AudioBlock(bytes(indata), played, time.perf_counter())
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed under us: shutting down
                loop.call_soon_threadsafe(self._deliver, block)

    def _deliver(self, block: AudioBlock) -> None:
        if len(self._pending) == self._pending.maxlen:
            self.dropped_blocks += 1
        self._pending.append(block)
        if self._arrived is not None:
            self._arrived.set()

    async def blocks(self) -> AsyncIterator[AudioBlock]:
        if self._stream is None:
            self.open()
        arrived = self._arrived
        assert arrived is not None
        # The stream opens before the models load (to fail early); what it captured meanwhile
        # is stale and must not reach the session as if just spoken.
        self._pending.clear()
        self.dropped_blocks = 0
        while self._stream is not None:
            while self._pending:
                yield self._pending.popleft()
            arrived.clear()
            await arrived.wait()

    async def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.stop()
            stream.close()
        if self._arrived is not None:
            self._arrived.set()
