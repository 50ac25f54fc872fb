"""The model interface: `RealtimeModel`, its listener, its config and the playback tracker."""

from __future__ import annotations

import abc
import inspect
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import NotRequired, TypeAlias, TypedDict, TypeVar

from .audio import AudioFormatName, duration_ms, normalize_audio_format
from .errors import RealtimeAgentsError
from .events import RealtimeModelEvent
from .inputs import RealtimeModelSendEvent
from .settings import RealtimeSessionModelSettings

T = TypeVar("T")
MaybeAwaitable: TypeAlias = Awaitable[T] | T


class RealtimeModelListener(abc.ABC):
    """A listener for realtime transport events."""

    @abc.abstractmethod
    async def on_event(self, event: RealtimeModelEvent) -> None:
        """Called when an event is emitted by the realtime transport."""


class ReconnectPolicy(TypedDict, total=False):
    """When and how to reconnect after a recoverable close. Reconnection is off unless given."""

    max_attempts: int
    """Attempts per outage before giving up (default 5)."""
    initial_backoff_s: float
    """Delay before the first retry (default 0.25 s); doubles each attempt."""
    max_backoff_s: float
    """Upper bound on the delay (default 8 s)."""
    jitter: float
    """Fraction of each delay randomised, 0..1 (default 0.2)."""


DEFAULT_RECONNECT_POLICY: ReconnectPolicy = {
    "max_attempts": 5,
    "initial_backoff_s": 0.25,
    "max_backoff_s": 8.0,
    "jitter": 0.2,
}


class RealtimePlaybackState(TypedDict):
    """What the app has actually played of the model's audio."""

    current_item_id: str | None
    current_item_content_index: int | None
    elapsed_ms: float | None


class RealtimePlaybackTracker:
    """The app reports what it has played; the model reads it to truncate interrupted audio.

    Call `on_play_bytes` (or `on_play_ms`) as audio leaves the speaker. Progress is kept per
    `(item_id, content_index)`; a new item starts from zero.
    """

    def __init__(self, audio_format: AudioFormatName = "pcm16") -> None:
        self._format: AudioFormatName = audio_format
        self._item: tuple[str, int] | None = None
        self._elapsed_ms = 0.0

    def set_audio_format(self, audio_format: object) -> None:
        """Set the output audio format used to turn played bytes into milliseconds."""
        self._format = normalize_audio_format(audio_format)

    def on_play_bytes(self, item_id: str, item_content_index: int, audio: bytes) -> None:
        """Report that these bytes of the item's audio were played."""
        self.on_play_ms(item_id, item_content_index, duration_ms(len(audio), self._format))

    def on_play_ms(self, item_id: str, item_content_index: int, ms: float) -> None:
        """Report that `ms` more milliseconds of the item's audio were played."""
        if ms < 0:
            raise ValueError(f"played milliseconds cannot be negative, got {ms}")
        key = (item_id, item_content_index)
        if self._item != key:
            self._item = key
            self._elapsed_ms = 0.0
        self._elapsed_ms += ms

    def on_interrupted(self) -> None:
        """Called by the model when playback was interrupted; progress is reset."""
        self._item = None
        self._elapsed_ms = 0.0

    def get_state(self) -> RealtimePlaybackState:
        """The item being played and how much of it was heard."""
        if self._item is None:
            return {"current_item_id": None, "current_item_content_index": None, "elapsed_ms": None}
        return {
            "current_item_id": self._item[0],
            "current_item_content_index": self._item[1],
            "elapsed_ms": self._elapsed_ms,
        }


class RealtimeModelConfig(TypedDict, total=False):
    """Options for connecting to a realtime model."""

    # total=False: under `from __future__ import annotations` Python 3.11 cannot see the string
    # `NotRequired[...]`, so without it every key would land in `__required_keys__` at runtime.

    api_key: NotRequired[str | Callable[[], MaybeAwaitable[str]]]
    """The API key (or function that returns a key) to use when connecting. If unset, the model will
    try to use a sane default. For example, the OpenAI Realtime model will try to use the
    `OPENAI_API_KEY`  environment variable.
    """

    url: NotRequired[str]
    """The URL to use when connecting. If unset, the model will use a sane default. For example,
    the OpenAI Realtime model will use the default OpenAI WebSocket URL.
    """

    initial_model_settings: NotRequired[RealtimeSessionModelSettings]
    """The initial model settings to use when connecting."""

    headers: NotRequired[Mapping[str, str]]
    """Extra headers. When set, no Authorization header is added (the Azure `api-key` path)."""

    playback_tracker: NotRequired[RealtimePlaybackTracker]
    """What the app has played, for truncating interrupted audio correctly."""

    call_id: NotRequired[str]
    """Attach to an existing call (SIP/WebRTC) instead of starting a session."""

    reconnect: NotRequired[ReconnectPolicy]
    """Reconnect after recoverable closes, replaying history and unsent audio. Off when absent."""


class MissingApiKeyError(RealtimeAgentsError, RuntimeError):
    """No API key was given in the config or the environment."""


async def resolve_api_key(
    value: str | Callable[[], MaybeAwaitable[str]] | None, env_var: str | None = None
) -> str | None:
    """Resolve an api_key given as a string, a function, or a function returning an awaitable.

    Falls back to the environment variable `env_var` when `value` is None; returns None if neither.
    """
    if value is None:
        return os.environ.get(env_var) if env_var else None
    if isinstance(value, str):
        return value
    if not callable(value):
        raise TypeError(
            f"api_key must be a string or a function returning one, got {type(value).__name__}"
        )
    result = value()
    if inspect.isawaitable(result):
        result = await result
    if not isinstance(result, str):
        raise TypeError(f"the api_key function must return a string, got {type(result).__name__}")
    return result


class RealtimeModel(abc.ABC):
    """Interface for connecting to a realtime model and sending/receiving events."""

    @abc.abstractmethod
    async def connect(self, options: RealtimeModelConfig) -> None:
        """Establish a connection to the model and keep it alive."""

    @abc.abstractmethod
    def add_listener(self, listener: RealtimeModelListener) -> None:
        """Add a listener to the model."""

    @abc.abstractmethod
    def remove_listener(self, listener: RealtimeModelListener) -> None:
        """Remove a listener from the model."""

    @abc.abstractmethod
    async def send_event(self, event: RealtimeModelSendEvent) -> None:
        """Send an event to the model."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the session."""
