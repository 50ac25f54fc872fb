"""The conversation as the session knows it: a sans-I/O store that merges model updates.

Items are kept in conversation order, found by id in O(1). Every change returns the new item so
the session can emit one `history_added` or `history_updated` event for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal, TypeAlias

import msgspec

from ..items import (
    AssistantContent,
    AssistantMessageItem,
    FunctionCallItem,
    InputAudio,
    InputImage,
    InputText,
    OutputAudio,
    OutputText,
    RealtimeItem,
    SystemMessageItem,
    UserContent,
    UserMessageItem,
)

Change: TypeAlias = tuple[Literal["added", "updated"], RealtimeItem]
_Part: TypeAlias = UserContent | AssistantContent


class ConversationHistory:
    """Ordered conversation items with merge rules for partial updates from the model.

    - An update for a known item merges: empty transcripts or texts in the update keep the
      values already known (transcripts often arrive before or after the item's own update),
      a tool call keeps its output, and content parts the update lacks are kept.
    - A new item goes right after `previous_item_id` when that item is known, else at the end.
    - Transcripts land on the item with their `item_id`, wherever it is in the conversation.
    """

    def __init__(self, *, keep_audio: bool = False) -> None:
        self._order: list[str] = []
        self._items: dict[str, RealtimeItem] = {}
        self._call_items: dict[str, str] = {}
        self._keep_audio = keep_audio

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._items

    @property
    def items(self) -> tuple[RealtimeItem, ...]:
        """The conversation, oldest first."""
        return tuple(self._items[item_id] for item_id in self._order)

    def get(self, item_id: str) -> RealtimeItem | None:
        """The item with this id, if known."""
        return self._items.get(item_id)

    def seed(self, items: Iterable[RealtimeItem]) -> list[RealtimeItem]:
        """Append items (e.g. restored from a database), chaining their `previous_item_id`s."""
        added: list[RealtimeItem] = []
        for item in items:
            previous = self._order[-1] if self._order else None
            item = msgspec.structs.replace(item, previous_item_id=previous)
            _, stored = self.apply(item)
            added.append(stored)
        return added

    def apply(self, item: RealtimeItem, previous_item_id: str | None = None) -> Change:
        """Add or merge an item the model reported."""
        item = self._strip_audio(item)
        previous_item_id = previous_item_id or item.previous_item_id
        existing = self._items.get(item.item_id)
        if existing is not None:
            merged = _merge(existing, item)
            return "updated", self._store(merged)
        if previous_item_id is not None and item.previous_item_id != previous_item_id:
            item = msgspec.structs.replace(item, previous_item_id=previous_item_id)
        if previous_item_id is not None and previous_item_id in self._items:
            self._order.insert(self._order.index(previous_item_id) + 1, item.item_id)
        else:
            self._order.append(item.item_id)
        return "added", self._store(item)

    def delete(self, item_id: str) -> bool:
        """Remove an item; False if it was not known."""
        item = self._items.pop(item_id, None)
        if item is None:
            return False
        self._order.remove(item_id)
        if isinstance(item, FunctionCallItem):
            self._call_items.pop(item.call_id, None)
        return True

    def add_transcript_delta(
        self, role: Literal["user", "assistant"], item_id: str, delta: str, content_index: int = 0
    ) -> Change:
        """Append a streamed transcript piece to the item's audio part."""
        return self._edit_transcript(role, item_id, content_index, lambda old: (old or "") + delta)

    def set_transcript(
        self,
        role: Literal["user", "assistant"],
        item_id: str,
        transcript: str,
        content_index: int = 0,
    ) -> Change:
        """Set an item's final transcript (a late user transcript included)."""
        return self._edit_transcript(role, item_id, content_index, lambda _old: transcript)

    def add_text_delta(self, item_id: str, delta: str, content_index: int = 0) -> Change:
        """Append streamed assistant text to the item's text part."""
        existing = self._items.get(item_id)
        if existing is None:
            new = AssistantMessageItem(
                item_id=item_id, content=(OutputText(text=delta),), status="in_progress"
            )
            return self.apply(new)
        parts = list(_content(existing))
        index = _part_index(parts, content_index, OutputText)
        if index is None:
            parts.append(OutputText(text=delta))
        else:
            old = parts[index]
            assert isinstance(old, OutputText)
            parts[index] = OutputText(text=old.text + delta)
        return "updated", self._store(_with_content(existing, parts))

    def set_tool_output(self, call_id: str, output: str) -> RealtimeItem | None:
        """Record the output sent for a tool call; None if the call's item is not known."""
        item_id = self._call_items.get(call_id)
        item = self._items.get(item_id) if item_id is not None else None
        if not isinstance(item, FunctionCallItem):
            return None
        return self._store(msgspec.structs.replace(item, output=output, status="completed"))

    # -- internals

    def _store(self, item: RealtimeItem) -> RealtimeItem:
        self._items[item.item_id] = item
        if isinstance(item, FunctionCallItem):
            self._call_items[item.call_id] = item.item_id
        return item

    def _strip_audio(self, item: RealtimeItem) -> RealtimeItem:
        if self._keep_audio or not isinstance(item, UserMessageItem):
            return item
        if not any(isinstance(p, InputAudio) and p.audio for p in item.content):
            return item
        content = tuple(
            InputAudio(transcript=p.transcript) if isinstance(p, InputAudio) else p
            for p in item.content
        )
        return msgspec.structs.replace(item, content=content)

    def _edit_transcript(
        self,
        role: Literal["user", "assistant"],
        item_id: str,
        content_index: int,
        edit: Callable[[str | None], str],
    ) -> Change:
        audio_type: type[InputAudio] | type[OutputAudio] = (
            InputAudio if role == "user" else OutputAudio
        )
        existing = self._items.get(item_id)
        if existing is None:
            part = audio_type(transcript=edit(None))
            new: RealtimeItem = (
                UserMessageItem(item_id=item_id, content=(part,))  # type: ignore[arg-type]
                if role == "user"
                else AssistantMessageItem(
                    item_id=item_id,
                    content=(part,),  # type: ignore[arg-type]
                    status="in_progress",
                )
            )
            return self.apply(new)
        parts = list(_content(existing))
        index = _part_index(parts, content_index, audio_type)
        if index is None:
            parts.append(audio_type(transcript=edit(None)))
        else:
            old = parts[index]
            assert isinstance(old, InputAudio | OutputAudio)
            parts[index] = msgspec.structs.replace(old, transcript=edit(old.transcript))
        return "updated", self._store(_with_content(existing, parts))


def _content(item: RealtimeItem) -> tuple[_Part, ...]:
    if isinstance(item, FunctionCallItem):
        return ()
    return item.content


def _part_index(parts: list[_Part], content_index: int, kind: type) -> int | None:
    """The part at `content_index` if it has the right kind, else the first of that kind."""
    if 0 <= content_index < len(parts) and isinstance(parts[content_index], kind):
        return content_index
    for index, part in enumerate(parts):
        if isinstance(part, kind):
            return index
    return None


def _with_content(item: RealtimeItem, parts: list[_Part]) -> RealtimeItem:
    if isinstance(item, FunctionCallItem):
        return item
    return msgspec.structs.replace(item, content=tuple(parts))


def _merge_part(old: _Part, new: _Part) -> _Part:
    if type(old) is not type(new):
        return new
    if isinstance(new, InputAudio | OutputAudio):
        assert isinstance(old, InputAudio | OutputAudio)
        # An empty or stale (shorter prefix) transcript must not erase what streamed in.
        if old.transcript and old.transcript.startswith(new.transcript or ""):
            return msgspec.structs.replace(new, transcript=old.transcript)
    if isinstance(new, InputText | OutputText) and not new.text:
        assert isinstance(old, InputText | OutputText)
        return old
    if isinstance(new, InputImage) and not new.image_url:
        return old
    return new


def _merge(old: RealtimeItem, new: RealtimeItem) -> RealtimeItem:
    if new.previous_item_id is None and old.previous_item_id is not None:
        new = msgspec.structs.replace(new, previous_item_id=old.previous_item_id)
    if isinstance(old, FunctionCallItem) and isinstance(new, FunctionCallItem):
        return msgspec.structs.replace(
            new,
            arguments=new.arguments or old.arguments,
            output=new.output if new.output is not None else old.output,
        )
    if isinstance(new, FunctionCallItem) or isinstance(old, FunctionCallItem):
        return new
    if type(old) is not type(new) or isinstance(new, SystemMessageItem):
        return new
    old_parts, new_parts = _content(old), _content(new)
    merged = [
        _merge_part(old_parts[i], part) if i < len(old_parts) else part
        for i, part in enumerate(new_parts)
    ]
    merged.extend(old_parts[len(new_parts) :])
    return _with_content(new, merged)
