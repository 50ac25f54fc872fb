"""The seed interface (exact signatures), the connect config, resolve_api_key, playback tracker."""

from __future__ import annotations

import abc
import inspect
import typing
from collections.abc import Awaitable

import pytest

from realtime_agents import (
    RealtimeModel,
    RealtimeModelConfig,
    RealtimeModelListener,
    RealtimePlaybackTracker,
    resolve_api_key,
)

# (class, method, async?, [(parameter, annotation)], return annotation), as the seed spells them.
SEED_METHODS = [
    (RealtimeModelListener, "on_event", True, [("event", "RealtimeModelEvent")], "None"),
    (RealtimeModel, "connect", True, [("options", "RealtimeModelConfig")], "None"),
    (RealtimeModel, "add_listener", False, [("listener", "RealtimeModelListener")], "None"),
    (RealtimeModel, "remove_listener", False, [("listener", "RealtimeModelListener")], "None"),
    (RealtimeModel, "send_event", True, [("event", "RealtimeModelSendEvent")], "None"),
    (RealtimeModel, "close", True, [], "None"),
]

SEED_CONFIG_ANNOTATIONS = {
    "api_key": "NotRequired[str | Callable[[], MaybeAwaitable[str]]]",
    "url": "NotRequired[str]",
    "initial_model_settings": "NotRequired[RealtimeSessionModelSettings]",
}


@pytest.mark.parametrize(
    ("cls", "name", "is_async", "params", "returns"),
    SEED_METHODS,
    ids=[f"{c.__name__}.{n}" for c, n, *_ in SEED_METHODS],
)
def test_seed_method_signature_is_exact(
    cls: type, name: str, is_async: bool, params: list[tuple[str, str]], returns: str
) -> None:
    method = getattr(cls, name)
    signature = inspect.signature(method)
    parameters = list(signature.parameters.values())
    assert parameters[0].name == "self"
    assert [(p.name, p.annotation) for p in parameters[1:]] == params
    assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in parameters)
    assert all(p.default is inspect.Parameter.empty for p in parameters)
    assert signature.return_annotation == returns
    assert inspect.iscoroutinefunction(method) is is_async


def test_interfaces_are_abcs_with_exactly_the_seed_abstract_methods() -> None:
    assert issubclass(RealtimeModel, abc.ABC)
    assert issubclass(RealtimeModelListener, abc.ABC)
    assert RealtimeModel.__abstractmethods__ == {
        "connect",
        "add_listener",
        "remove_listener",
        "send_event",
        "close",
    }
    assert RealtimeModelListener.__abstractmethods__ == {"on_event"}
    with pytest.raises(TypeError):
        RealtimeModel()  # type: ignore[abstract]
    with pytest.raises(TypeError):
        RealtimeModelListener()  # type: ignore[abstract]


def test_config_has_the_seed_keys_and_extensions_all_optional() -> None:
    annotations = RealtimeModelConfig.__annotations__
    for key, text in SEED_CONFIG_ANNOTATIONS.items():
        annotation = annotations[key]
        assert getattr(annotation, "__forward_arg__", annotation) == text
    expected = {*SEED_CONFIG_ANNOTATIONS, "headers", "playback_tracker", "call_id", "reconnect"}
    assert expected <= set(annotations)
    assert RealtimeModelConfig.__optional_keys__ == frozenset(annotations)
    assert RealtimeModelConfig.__required_keys__ == frozenset()


def test_config_annotations_resolve() -> None:
    hints = typing.get_type_hints(RealtimeModelConfig, include_extras=True)
    assert all(typing.get_origin(hint) is typing.NotRequired for hint in hints.values())
    assert typing.get_args(hints["url"]) == (str,)


# -- resolve_api_key


async def test_resolve_api_key_from_a_string() -> None:
    assert await resolve_api_key("sk-string") == "sk-string"


async def test_resolve_api_key_from_a_function() -> None:
    assert await resolve_api_key(lambda: "sk-sync") == "sk-sync"


async def test_resolve_api_key_from_an_async_function() -> None:
    async def key() -> str:
        return "sk-async"

    assert await resolve_api_key(key) == "sk-async"


async def test_resolve_api_key_falls_back_to_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REALTIME_TEST_KEY", "sk-env")
    assert await resolve_api_key(None, "REALTIME_TEST_KEY") == "sk-env"
    assert await resolve_api_key("sk-given", "REALTIME_TEST_KEY") == "sk-given"


async def test_resolve_api_key_is_none_when_nothing_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REALTIME_TEST_KEY", raising=False)
    assert await resolve_api_key(None, "REALTIME_TEST_KEY") is None
    assert await resolve_api_key(None) is None


async def test_resolve_api_key_rejects_wrong_types() -> None:
    async def returns_none() -> None:
        return None

    with pytest.raises(TypeError, match="int"):
        await resolve_api_key(123)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="bytes"):
        await resolve_api_key(lambda: b"sk-bytes")  # type: ignore[arg-type, return-value]
    with pytest.raises(TypeError, match="NoneType"):
        await resolve_api_key(returns_none)  # type: ignore[arg-type]


async def test_resolve_api_key_awaits_any_awaitable() -> None:
    class KeyAwaitable(Awaitable[str]):
        def __await__(self) -> typing.Generator[None, None, str]:
            yield from ()
            return "sk-awaitable"

    assert await resolve_api_key(KeyAwaitable) == "sk-awaitable"


# -- playback tracker


def test_tracker_turns_pcm16_bytes_into_ms() -> None:
    tracker = RealtimePlaybackTracker()
    tracker.on_play_bytes("item_1", 0, bytes(48 * 20))
    assert tracker.get_state() == {
        "current_item_id": "item_1",
        "current_item_content_index": 0,
        "elapsed_ms": 20.0,
    }


@pytest.mark.parametrize("audio_format", ["g711_ulaw", "g711_alaw", {"type": "audio/pcmu"}])
def test_tracker_turns_g711_bytes_into_ms(audio_format: object) -> None:
    tracker = RealtimePlaybackTracker()
    tracker.set_audio_format(audio_format)
    tracker.on_play_bytes("item_1", 0, bytes(8 * 25))
    assert tracker.get_state()["elapsed_ms"] == 25.0


def test_tracker_accepts_the_format_in_its_constructor() -> None:
    tracker = RealtimePlaybackTracker("g711_ulaw")
    tracker.on_play_bytes("item_1", 0, bytes(80))
    assert tracker.get_state()["elapsed_ms"] == 10.0


def test_tracker_accumulates_per_item_and_a_new_item_resets() -> None:
    tracker = RealtimePlaybackTracker()
    tracker.on_play_bytes("item_1", 0, bytes(480))
    tracker.on_play_ms("item_1", 0, 15.5)
    assert tracker.get_state()["elapsed_ms"] == 25.5
    tracker.on_play_ms("item_1", 1, 4.0)  # another content part counts as a new item
    assert tracker.get_state()["current_item_content_index"] == 1
    assert tracker.get_state()["elapsed_ms"] == 4.0
    tracker.on_play_bytes("item_2", 0, bytes(96))
    assert tracker.get_state() == {
        "current_item_id": "item_2",
        "current_item_content_index": 0,
        "elapsed_ms": 2.0,
    }


def test_tracker_starts_empty_and_on_interrupted_resets() -> None:
    tracker = RealtimePlaybackTracker()
    empty = {"current_item_id": None, "current_item_content_index": None, "elapsed_ms": None}
    assert tracker.get_state() == empty
    tracker.on_play_ms("item_1", 0, 100.0)
    tracker.on_interrupted()
    assert tracker.get_state() == empty
    tracker.on_play_ms("item_1", 0, 5.0)  # the same item starts again from zero
    assert tracker.get_state()["elapsed_ms"] == 5.0


def test_tracker_rejects_negative_ms() -> None:
    tracker = RealtimePlaybackTracker()
    tracker.on_play_ms("item_1", 0, 10.0)
    with pytest.raises(ValueError, match="negative"):
        tracker.on_play_ms("item_1", 0, -1.0)
    assert tracker.get_state()["elapsed_ms"] == 10.0
