"""Sans-I/O record of what a reconnect must restore: the conversation and uncommitted user audio.

An assistant answer cut short is restored as far as the user got it: cut by a dropped
connection, as the text (or audio transcript) received so far; interrupted, as the part of its
transcript in proportion to the audio heard. An answer with no text received is left out.

Both are bounded. Going over a bound drops the oldest entries and reports it once per episode
as an error event (`replay_history_overflow` / `replay_audio_overflow`): never a silent loss.
"""

from __future__ import annotations

from collections import deque

import msgspec

from ...events import RealtimeErrorInfo, RealtimeModelErrorEvent
from ...items import (
    AssistantMessageItem,
    FunctionCallItem,
    InputAudio,
    OutputText,
    RealtimeItem,
    UserMessageItem,
)
from . import client_events, item_codec

DEFAULT_MAX_HISTORY_ITEMS = 2_000
DEFAULT_MAX_UNSENT_AUDIO_BYTES = 16 * 1024 * 1024
"""About 5.8 minutes of PCM16 at 24 kHz."""
DEFAULT_MAX_HISTORY_AUDIO_BYTES = 16 * 1024 * 1024
"""User audio kept for messages that have no transcript (yet), to re-seed them as audio."""
MAX_PARTIAL_TEXT_CHARS = 256 * 1024
"""Text kept per assistant answer still streaming (far over a long spoken answer)."""


def _overflow(code: str, message: str) -> RealtimeModelErrorEvent:
    return RealtimeModelErrorEvent(
        error=RealtimeErrorInfo(message=message, type="client_error", code=code)
    )


class ReplayHistory:
    """The conversation as the server holds it (messages, function calls with their outputs),
    to restore after a reconnect. Not `agents.ConversationHistory`, the app's view."""

    def __init__(
        self,
        max_items: int = DEFAULT_MAX_HISTORY_ITEMS,
        max_audio_bytes: int = DEFAULT_MAX_HISTORY_AUDIO_BYTES,
    ) -> None:
        if max_items < 1:
            raise ValueError(f"max_items must be at least 1, got {max_items}")
        self._max_items = max_items
        self._items: dict[str, RealtimeItem] = {}
        self._call_items: dict[str, str] = {}
        """call_id -> item id of the function call."""
        self._overflowing = False
        if max_audio_bytes != DEFAULT_MAX_HISTORY_AUDIO_BYTES:
            self._max_audio_bytes = max_audio_bytes

    # Class-level defaults, set on the instance only when used: idle sessions stay lean.
    _max_audio_bytes = DEFAULT_MAX_HISTORY_AUDIO_BYTES
    _audio: dict[str, bytes] | None = None
    """item id -> the user's committed audio, while the item has no transcript."""
    _audio_bytes = 0
    _audio_overflowing = False
    _partial: dict[str, _PartialText] | None = None
    """item id -> the text streamed so far, for an assistant answer not yet done."""
    _heard: dict[str, _Heard] | None = None
    """item id -> how much of an interrupted answer's audio the user heard."""

    def keep_user_audio(self, item_id: str, audio: bytes) -> RealtimeModelErrorEvent | None:
        """The audio committed as this user item: re-seeded as audio if no transcript comes.

        Bounded: past `max_audio_bytes` the oldest kept audio is forgotten (those messages are
        then not restored), reported once per episode as `replay_history_audio_overflow`.
        """
        if not item_id or not audio:
            return None
        self._forget_audio(item_id)
        if self._audio is None:
            self._audio = {}
        self._audio[item_id] = audio
        self._audio_bytes += len(audio)
        if self._audio_bytes <= self._max_audio_bytes:
            self._audio_overflowing = False
            return None
        while self._audio_bytes > self._max_audio_bytes and self._audio:
            self._forget_audio(next(iter(self._audio)))
        if self._audio_overflowing:
            return None
        self._audio_overflowing = True
        return _overflow(
            "replay_history_audio_overflow",
            f"more than {self._max_audio_bytes} bytes of user audio without a transcript; the "
            "oldest such messages will not be restored after a reconnect (turn on input audio "
            "transcription to restore them as text)",
        )

    def _forget_audio(self, item_id: str) -> None:
        if self._audio is not None:
            audio = self._audio.pop(item_id, None)
            if audio is not None:
                self._audio_bytes -= len(audio)
            if not self._audio:
                self._audio = None

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[RealtimeItem]:
        """The items in conversation order."""
        return list(self._items.values())

    def observe(self, item: RealtimeItem) -> tuple[RealtimeItem, RealtimeModelErrorEvent | None]:
        """Record an item the server reported; returns it (outputs joined to their call)."""
        if isinstance(item, FunctionCallItem) and not item.name and item.output is not None:
            call_item_id = self._call_items.get(item.call_id)
            call = self._items.get(call_item_id) if call_item_id else None
            if isinstance(call, FunctionCallItem):
                item = msgspec.structs.replace(call, output=item.output, status="completed")
        elif isinstance(item, FunctionCallItem):
            self._call_items[item.call_id] = item.item_id
            known = self._items.get(item.item_id)
            if isinstance(known, FunctionCallItem) and known.output is not None:
                item = msgspec.structs.replace(item, output=known.output)
        elif isinstance(item, UserMessageItem):
            item = self._keep_transcripts(item)
        elif isinstance(item, AssistantMessageItem):
            self._observe_answer(item)
        self._items[item.item_id] = item
        return item, self._trim()

    def _keep_transcripts(self, item: UserMessageItem) -> UserMessageItem:
        known = self._items.get(item.item_id)
        if not isinstance(known, UserMessageItem) or len(known.content) != len(item.content):
            return item
        content = tuple(
            msgspec.structs.replace(new, transcript=old.transcript)
            if isinstance(new, InputAudio)
            and isinstance(old, InputAudio)
            and new.transcript is None
            else new
            for new, old in zip(item.content, known.content, strict=True)
        )
        return msgspec.structs.replace(item, content=content)

    def set_transcript(self, item_id: str, content_index: int, transcript: str) -> None:
        """The user's audio in this item was transcribed."""
        item = self._items.get(item_id)
        if not isinstance(item, UserMessageItem) or content_index >= len(item.content):
            return
        part = item.content[content_index]
        if isinstance(part, InputAudio):
            if transcript:
                self._forget_audio(item_id)  # the transcript restores it now, as text
            content = list(item.content)
            content[content_index] = msgspec.structs.replace(part, transcript=transcript)
            self._items[item_id] = msgspec.structs.replace(item, content=tuple(content))

    def _observe_answer(self, item: AssistantMessageItem) -> None:
        if self._partial is not None and _text_of(item):
            self._partial.pop(item.item_id, None)  # the server's text replaces the streamed one
        if self._heard is not None:
            heard = self._heard.get(item.item_id)
            if heard is not None and heard.acknowledged:
                del self._heard[item.item_id]  # reported after the server cut it: already cut

    def add_output_text(self, item_id: str, delta: str) -> None:
        """Text (or audio transcript) of an assistant answer arrived, before its item is done:
        kept so that an answer cut by a drop is restored as far as it was received."""
        if not delta or not isinstance(self._items.get(item_id), AssistantMessageItem):
            return
        if self._partial is None:
            self._partial = {}
        partial = self._partial.setdefault(item_id, _PartialText())
        if partial.chars + len(delta) <= MAX_PARTIAL_TEXT_CHARS:
            partial.pieces.append(delta)
            partial.chars += len(delta)

    def heard(self, item_id: str, fraction: float) -> None:
        """The user heard `fraction` of this answer's audio (the client truncated it there):
        only that part of its transcript is restored."""
        if item_id not in self._items:
            return
        if self._heard is None:
            self._heard = {}
        self._heard[item_id] = _Heard(min(1.0, max(0.0, fraction)))

    def truncated(self, item_id: str) -> None:
        """The server cut the item's transcript to what was heard (`conversation.item.truncated`):
        a later report of the item holds the cut text."""
        heard = self._heard.get(item_id) if self._heard is not None else None
        if heard is not None:
            heard.acknowledged = True

    def delete(self, item_id: str) -> None:
        """The server deleted the item."""
        self._items.pop(item_id, None)
        self._forget(item_id)

    def _forget(self, item_id: str) -> None:
        self._forget_audio(item_id)
        if self._partial is not None:
            self._partial.pop(item_id, None)
            if not self._partial:
                self._partial = None
        if self._heard is not None:
            self._heard.pop(item_id, None)
            if not self._heard:
                self._heard = None

    def _trim(self) -> RealtimeModelErrorEvent | None:
        if len(self._items) <= self._max_items:
            self._overflowing = False
            return None
        while len(self._items) > self._max_items:
            oldest = next(iter(self._items))
            del self._items[oldest]
            self._forget(oldest)
        if self._overflowing:
            return None
        self._overflowing = True
        return _overflow(
            "replay_history_overflow",
            f"conversation history exceeds {self._max_items} items; the oldest will not be "
            "restored after a reconnect (raise max_history_items to keep more)",
        )

    def replay_frames(self) -> list[bytes]:
        """`conversation.item.create` frames that rebuild the conversation in a new session."""
        frames: list[bytes] = []
        kept = self._audio or {}
        for item in self._items.values():
            if isinstance(item, UserMessageItem) and item.item_id in kept:
                item = _with_audio(item, kept[item.item_id])
            elif isinstance(item, AssistantMessageItem):
                item = self._as_received(item)
            for wire_item in item_codec.item_to_wire(item):
                frames.append(client_events.encode_item_create(wire_item))
        return frames

    def _as_received(self, item: AssistantMessageItem) -> AssistantMessageItem:
        """The answer as far as the user got it: its text, else the text streamed before a
        drop, cut to the audio heard if it was interrupted (no content if none)."""
        text = _text_of(item)
        partial = self._partial.get(item.item_id) if self._partial is not None else None
        if not text and partial is not None:
            text = "".join(partial.pieces)
        heard = self._heard.get(item.item_id) if self._heard is not None else None
        if heard is not None:
            text = heard_part(text, heard.fraction)
        content = (OutputText(text=text),) if text else ()
        return msgspec.structs.replace(item, content=content)


class _PartialText:
    __slots__ = ("chars", "pieces")

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.chars = 0


class _Heard:
    __slots__ = ("acknowledged", "fraction")

    def __init__(self, fraction: float) -> None:
        self.fraction = fraction
        self.acknowledged = False


def _text_of(item: AssistantMessageItem) -> str:
    """The answer's text: its text parts and audio transcripts, in order."""
    return "".join(
        (part.text if isinstance(part, OutputText) else part.transcript) or ""
        for part in item.content
    )


def heard_part(text: str, fraction: float) -> str:
    """The first `fraction` of `text`, without the word cut in half (all of it at 1)."""
    if fraction >= 1.0:
        return text
    keep = int(len(text) * fraction)
    if keep < len(text) and not text[keep].isspace():
        keep = text.rfind(" ", 0, keep) + 1
    return text[:keep].rstrip()


def _with_audio(item: UserMessageItem, audio: bytes) -> UserMessageItem:
    """The item with its (first) untranscribed audio part carrying `audio`."""
    content = list(item.content)
    for index, part in enumerate(content):
        if isinstance(part, InputAudio) and part.audio is None and not part.transcript:
            content[index] = msgspec.structs.replace(part, audio=audio)
            return msgspec.structs.replace(item, content=tuple(content))
    return item


class UnsentAudio:
    """User audio the server may not have committed yet, to append again after a reconnect.

    Offsets count every byte appended on this session. A commit the client sent drops what
    was appended before it, once the server acknowledges it. A commit made by server VAD drops
    only the audio before the end of speech it reported (`audio_end_ms`): audio sent after
    that may have reached the server after its commit, so it is kept (after a reconnect, at
    worst some silence is sent twice; never is speech lost).
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_UNSENT_AUDIO_BYTES) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, got {max_bytes}")
        self._max_bytes = max_bytes
        self._chunks: deque[tuple[int, bytes]] | None = None  # (offset, audio); lean when idle
        self._size = 0
        self._appended = 0
        """Every byte ever appended (offsets count from the session's first byte)."""
        self._overflowing = False

    # Class-level defaults, set on the instance only when used: idle sessions stay lean.
    _connection_start = 0
    """The offset of the audio that the server of this connection counts from (ms 0)."""
    _commit_marks: deque[int] | None = None
    """Offsets at which the client sent commits the server has not acknowledged yet."""

    @property
    def max_bytes(self) -> int:
        """The bound."""
        return self._max_bytes

    @property
    def size(self) -> int:
        """Bytes held."""
        return self._size

    def append(self, audio: bytes) -> RealtimeModelErrorEvent | None:
        """Hold a chunk; returns an error event the first time the bound drops old audio."""
        chunks = self._chunks
        if chunks is None:
            chunks = self._chunks = deque()
        chunks.append((self._appended, audio))
        self._appended += len(audio)
        self._size += len(audio)
        if self._size <= self._max_bytes:
            return None
        while self._size > self._max_bytes and chunks:
            self._size -= len(chunks.popleft()[1])
        if self._overflowing:
            return None
        self._overflowing = True
        return _overflow(
            "replay_audio_overflow",
            f"more than {self._max_bytes} bytes of uncommitted user audio; the oldest will not "
            "be replayed after a reconnect (commit more often or raise max_unsent_audio_bytes)",
        )

    def commit_sent(self) -> None:
        """The client sent `input_audio_buffer.commit` after the audio appended so far."""
        if self._commit_marks is None:
            self._commit_marks = deque()
        self._commit_marks.append(self._appended)

    def committed(self, speech_end_ms: int | None, bytes_per_ms: int) -> bytes:
        """The server committed its buffer: for a commit of ours, or for server VAD whose
        speech ended at `speech_end_ms` (None when no `speech_stopped` came before it).
        Returns the audio no longer held (what the commit took, as far as this side knows)."""
        if speech_end_ms is not None:
            return self._drop_before(self._connection_start + speech_end_ms * bytes_per_ms)
        if self._commit_marks:
            return self._drop_before(self._commit_marks.popleft())
        return self._drop_before(self._appended)

    def _drop_before(self, offset: int) -> bytes:
        """Forget chunks that end at or before `offset`; returns them, joined."""
        chunks = self._chunks
        dropped: list[bytes] = []
        while chunks and chunks[0][0] + len(chunks[0][1]) <= offset:
            chunk = chunks.popleft()[1]
            self._size -= len(chunk)
            dropped.append(chunk)
        if not chunks:
            self._chunks = None
            self._overflowing = False
        return b"".join(dropped)

    def clear(self) -> None:
        """The app cleared the buffer: its audio is not wanted."""
        self._chunks = None
        self._size = 0
        self._overflowing = False
        self._commit_marks = None

    def reconnected(self) -> None:
        """A new connection's server counts audio from the first chunk replayed to it, and
        will acknowledge the commits `replay_frames` sends again."""
        self._connection_start = self._chunks[0][0] if self._chunks else self._appended
        marks = self._replayed_marks()
        self._commit_marks = deque(marks) if marks else None

    def _replayed_marks(self) -> list[int]:
        """The unacknowledged commits of audio still held (a commit of audio no longer held,
        committed by server VAD or forgotten past the bound, would commit nothing)."""
        if not self._chunks or not self._commit_marks:
            return []
        start = self._chunks[0][0]
        return [mark for mark in self._commit_marks if mark > start]

    def replay_frames(self) -> list[bytes]:
        """`input_audio_buffer.append` frames for the audio held, each commit sent and not
        acknowledged again after the audio it committed (`client_events.INPUT_AUDIO_COMMIT`)."""
        marks = deque(self._replayed_marks())
        frames: list[bytes] = []
        for offset, chunk in self._chunks or ():
            frames.append(client_events.encode_append_audio(chunk))
            while marks and marks[0] <= offset + len(chunk):
                marks.popleft()
                frames.append(client_events.INPUT_AUDIO_COMMIT)
        return frames
