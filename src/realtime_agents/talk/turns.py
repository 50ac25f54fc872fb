"""Sans-I/O turn state of a `talk` conversation, on the audio clock (milliseconds of blocks).

It answers the questions the audio loop asks each block: is anyone still speaking or waiting for
a reply (so a file conversation knows when it is over, and when to speak its next question), how
long has the assistant been audible, and did the person speak over the assistant (barge-in).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class TurnState:
    """Who holds the floor, updated from model events and from each audio block."""

    now_ms: float = 0.0
    speech_active: bool = False
    awaiting_reply: bool = False
    """The person finished speaking and no reply has ended since."""
    responses_active: int = 0
    pending_tool: bool = False
    audible: bool = False
    """Assistant audio is queued or was played in the last block."""
    reply_audible_since_ms: float | None = None
    last_busy_ms: float = 0.0
    replies_finished: int = 0
    barge_ins: int = 0
    """Times the person started speaking while the assistant was replying."""
    speech_starts: list[float] = field(default_factory=list)
    """Audio-clock times of every `speech_started` (at most the last 1,000)."""

    @property
    def busy(self) -> bool:
        """Someone is speaking, a reply is coming, or the assistant is still audible."""
        return (
            self.speech_active
            or self.awaiting_reply
            or self.responses_active > 0
            or self.pending_tool
            or self.audible
        )

    @property
    def replying(self) -> bool:
        """The assistant is producing or playing a reply."""
        return self.responses_active > 0 or self.audible

    def quiet_ms(self) -> float:
        """How long nothing has happened (0 while busy)."""
        return 0.0 if self.busy else self.now_ms - self.last_busy_ms

    def audible_ms(self) -> float:
        """How long the current reply has been audible (0 when it is not)."""
        since = self.reply_audible_since_ms
        return 0.0 if since is None else self.now_ms - since

    def tick(self, now_ms: float, *, played_audio: bool, queued_audio: bool) -> None:
        """One audio block went by; `played_audio`: it held assistant audio."""
        self.now_ms = now_ms
        self.audible = played_audio or queued_audio
        if played_audio and self.reply_audible_since_ms is None:
            self.reply_audible_since_ms = now_ms
        if not self.audible and self.responses_active == 0:
            self.reply_audible_since_ms = None
        if self.busy:
            self.last_busy_ms = now_ms

    def speech_started(self) -> bool:
        """The server heard speech; True when it spoke over the assistant (a barge-in)."""
        barge_in = self.replying
        self.barge_ins += barge_in
        self.speech_active = True
        self.speech_starts.append(self.now_ms)
        del self.speech_starts[:-1000]
        self.last_busy_ms = self.now_ms
        return barge_in

    def speech_stopped(self) -> None:
        self.speech_active = False
        self.awaiting_reply = True
        self.last_busy_ms = self.now_ms

    def response_started(self) -> None:
        self.responses_active += 1
        self.pending_tool = False

    def tool_called(self) -> None:
        self.pending_tool = True

    def response_ended(self) -> None:
        self.responses_active = max(0, self.responses_active - 1)
        if self.responses_active == 0 and not self.pending_tool:
            self.awaiting_reply = False
            self.replies_finished += 1
        self.last_busy_ms = self.now_ms
