"""Per-turn token usage and latency, measured with an injectable clock (sans-I/O)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Literal

import msgspec

from ..events import RealtimeUsage

Clock = Callable[[], float]
"""Seconds from an arbitrary origin, monotonic (`time.monotonic` by default)."""

MAX_KEPT_TURNS = 1000


class SessionUsage(msgspec.Struct, frozen=True, kw_only=True):
    """Token totals over the session."""

    responses: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_audio_tokens: int = 0
    input_text_tokens: int = 0
    cached_input_tokens: int = 0
    output_audio_tokens: int = 0
    output_text_tokens: int = 0

    def add(self, usage: RealtimeUsage) -> SessionUsage:
        """These totals plus one response's usage."""
        inp, out = usage.input_token_details, usage.output_token_details
        return SessionUsage(
            responses=self.responses + 1,
            input_tokens=self.input_tokens + usage.input_tokens,
            output_tokens=self.output_tokens + usage.output_tokens,
            total_tokens=self.total_tokens + usage.total_tokens,
            input_audio_tokens=self.input_audio_tokens + (inp.audio_tokens if inp else 0),
            input_text_tokens=self.input_text_tokens + (inp.text_tokens if inp else 0),
            cached_input_tokens=self.cached_input_tokens + (inp.cached_tokens if inp else 0),
            output_audio_tokens=self.output_audio_tokens + (out.audio_tokens if out else 0),
            output_text_tokens=self.output_text_tokens + (out.text_tokens if out else 0),
        )


class TurnMetrics(msgspec.Struct, frozen=True, kw_only=True):
    """One response: what started it, how long until the user saw and heard it, and its usage.

    Latencies are measured from the end of user input: the end of speech (server VAD's
    `input_speech_stopped`) or the moment a text message was sent. None when not measured.
    """

    response_id: str | None
    input_kind: Literal["speech", "text"] | None = None
    input_ended_at: float | None = None
    started_at: float
    ended_at: float | None = None
    first_audio_at: float | None = None
    first_transcript_at: float | None = None
    status: str | None = None
    usage: RealtimeUsage | None = None

    @property
    def time_to_first_audio_s(self) -> float | None:
        """End of user input to the first audio chunk."""
        return _between(self.input_ended_at, self.first_audio_at)

    @property
    def time_to_first_transcript_s(self) -> float | None:
        """End of user input to the first transcript or text delta."""
        return _between(self.input_ended_at, self.first_transcript_at)

    @property
    def duration_s(self) -> float | None:
        """Start to end of the response."""
        return _between(self.started_at, self.ended_at)


def _between(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else end - start


class MetricsRecorder:
    """Folds model events into `TurnMetrics` and `SessionUsage`; the session emits the results."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._input: tuple[Literal["speech", "text"], float] | None = None
        self._open: dict[str | None, TurnMetrics] = {}
        self._turns: deque[TurnMetrics] = deque(maxlen=MAX_KEPT_TURNS)
        self.usage = SessionUsage()

    @property
    def turns(self) -> tuple[TurnMetrics, ...]:
        """Finished turns, oldest first (the last `MAX_KEPT_TURNS`)."""
        return tuple(self._turns)

    def input_ended(self, kind: Literal["speech", "text"]) -> None:
        """The user finished speaking or sent a text message."""
        self._input = (kind, self._clock())

    def turn_started(self, response_id: str | None) -> None:
        """A response started; it is measured from the last end of user input."""
        kind, at = self._input if self._input else (None, None)
        self._input = None
        self._open[response_id] = TurnMetrics(
            response_id=response_id, input_kind=kind, input_ended_at=at, started_at=self._clock()
        )

    def first_audio(self, response_id: str | None) -> None:
        """An audio chunk arrived (only the first one counts)."""
        turn = self._find(response_id)
        if turn is not None and turn.first_audio_at is None:
            self._open[turn.response_id] = msgspec.structs.replace(
                turn, first_audio_at=self._clock()
            )

    def first_transcript(self, response_id: str | None) -> None:
        """A transcript or text delta arrived (only the first one counts)."""
        turn = self._find(response_id)
        if turn is not None and turn.first_transcript_at is None:
            self._open[turn.response_id] = msgspec.structs.replace(
                turn, first_transcript_at=self._clock()
            )

    def add_usage(self, response_id: str | None, usage: RealtimeUsage) -> None:
        """A response's token usage (attached to its turn, whether open or finished)."""
        self.usage = self.usage.add(usage)
        turn = self._find(response_id)
        if turn is not None:
            self._open[turn.response_id] = msgspec.structs.replace(turn, usage=usage)
            return
        for index in range(len(self._turns) - 1, -1, -1):
            if self._turns[index].response_id == response_id:
                self._turns[index] = msgspec.structs.replace(self._turns[index], usage=usage)
                return

    def turn_ended(self, response_id: str | None, status: str | None) -> TurnMetrics | None:
        """A response ended; its finished metrics, or None if its start was not seen."""
        turn = self._open.pop(response_id, None)
        if turn is None and response_id is not None:
            turn = self._open.pop(None, None)
        if turn is None:
            return None
        done = msgspec.structs.replace(
            turn, response_id=response_id, ended_at=self._clock(), status=status
        )
        self._turns.append(done)
        return done

    def _find(self, response_id: str | None) -> TurnMetrics | None:
        turn = self._open.get(response_id)
        if turn is None and response_id is None and len(self._open) == 1:
            turn = next(iter(self._open.values()))  # the event did not say which response
        if turn is None and None in self._open:
            turn = self._open[None]  # the turn started without an id
        return turn
