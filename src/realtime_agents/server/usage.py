"""What one open session holds now: the figures its limits bound (tests, monitoring)."""

from __future__ import annotations

from dataclasses import dataclass

from .flow_guard import GuardedServerConnection
from .pipeline import SessionPipeline


@dataclass(frozen=True, slots=True)
class SessionUsage:
    """One session's held items, audio, responses, queued events and unsent bytes."""

    conversation_items: int
    conversation_bytes: int
    """What the items count for (`conversation.item_size`), bounded by
    `max_conversation_bytes`."""
    retained_audio_bytes: int
    responses_in_progress: int
    out_of_band_responses: int
    queued_events: int
    """Server events waiting for the socket writer."""
    held_messages: int
    """Client messages received but not handled yet (the socket is not read meanwhile)."""
    write_buffer_bytes: int
    """Bytes waiting in the transport to be sent to the client."""


def session_usage(pipeline: SessionPipeline, connection: object) -> SessionUsage:
    """The usage of the session `pipeline` runs over `connection`."""
    core = pipeline.core
    guarded = connection if isinstance(connection, GuardedServerConnection) else None
    return SessionUsage(
        conversation_items=len(core.conversation),
        conversation_bytes=core.conversation.item_bytes,
        retained_audio_bytes=core.conversation.audio_bytes,
        responses_in_progress=len(core.responses),
        out_of_band_responses=sum(1 for r in core.responses.values() if r.params.out_of_band),
        queued_events=pipeline.queued_events,
        held_messages=0 if guarded is None else guarded.held,
        write_buffer_bytes=0 if guarded is None else guarded.write_buffer_bytes,
    )
