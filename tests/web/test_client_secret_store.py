"""The client secret store: minting, expiry, bounds, constant-time lookups."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime_agents.server.client_secrets import (
    DEFAULT_SECONDS,
    ClientSecret,
    ClientSecretError,
    ClientSecretStore,
)

NOW = 1_800_000_000.0


def mint(store: ClientSecretStore, request: object = None, now: float = NOW) -> ClientSecret:
    secret = store.mint(request, now)
    assert isinstance(secret, ClientSecret), secret
    return secret


def test_a_secret_opens_sessions_until_it_expires() -> None:
    store = ClientSecretStore()
    secret = mint(store, {"expires_after": {"anchor": "created_at", "seconds": 60}})
    assert secret.value.startswith("ek_") and len(secret.value) == 3 + 32
    assert secret.expires_at == int(NOW) + 60
    assert store.check(secret.value, NOW) == secret
    assert store.check(secret.value, NOW + 59) == secret  # reusable while live
    assert store.check(secret.value, NOW + 60) is None
    assert store.check(secret.value, NOW) is None  # forgotten once seen expired
    assert len(store) == 0


def test_defaults_and_the_session_echo() -> None:
    store = ClientSecretStore()
    secret = mint(store)
    assert secret.expires_at == int(NOW) + DEFAULT_SECONDS
    assert secret.session == {"type": "realtime"}
    session = {"type": "realtime", "model": "local", "instructions": "Be brief."}
    assert mint(store, {"session": session}).session == session
    assert mint(store, {"session": {"instructions": "x"}}).session["type"] == "realtime"


def test_unknown_and_tampered_tokens_are_refused() -> None:
    store = ClientSecretStore()
    secret = mint(store)
    assert store.check(secret.value[:-1] + ("0" if secret.value[-1] != "0" else "1"), NOW) is None
    assert store.check("ek_" + "0" * 32, NOW) is None
    assert store.check("", NOW) is None
    assert store.check(secret.value + "x", NOW) is None
    assert store.check(secret.value, NOW) == secret


@pytest.mark.parametrize(
    ("request_body", "code", "param"),
    [
        ([], "invalid_type", None),
        ({"expires_after": {"seconds": 9}}, "invalid_value", "expires_after.seconds"),
        ({"expires_after": {"seconds": 7201}}, "invalid_value", "expires_after.seconds"),
        ({"expires_after": {"seconds": "60"}}, "invalid_type", "expires_after.seconds"),
        ({"expires_after": {"seconds": True}}, "invalid_type", "expires_after.seconds"),
        (
            {"expires_after": {"anchor": "now", "seconds": 60}},
            "invalid_value",
            "expires_after.anchor",
        ),
        ({"expires_after": 60}, "invalid_type", "expires_after"),
        ({"session": "realtime"}, "invalid_type", "session"),
        ({"session": {"type": "translation"}}, "invalid_value", "session.type"),
        ({"ttl": 60}, "unknown_parameter", "ttl"),
    ],
)
def test_bad_requests_are_refused_with_400(request_body: object, code: str, param: str) -> None:
    store = ClientSecretStore()
    refused = store.mint(request_body, NOW)
    assert isinstance(refused, ClientSecretError)
    assert (refused.status, refused.code, refused.param) == (400, code, param)
    assert refused.body()["error"]["code"] == code
    assert len(store) == 0


def test_the_store_is_bounded_and_sweeps_expired_secrets() -> None:
    store = ClientSecretStore(max_secrets=3, sweep_every=1000)
    short = {"expires_after": {"seconds": 10}}
    secrets = [mint(store, short) for _ in range(3)]
    full = store.mint(short, NOW + 1)
    assert isinstance(full, ClientSecretError) and full.status == 429
    assert all(store.check(secret.value, NOW + 1) for secret in secrets)  # nobody evicted
    fresh = mint(store, short, now=NOW + 10)  # all three expired: the full store sweeps
    assert len(store) == 1 and store.check(fresh.value, NOW + 10) == fresh


def test_periodic_sweeps_forget_expired_secrets() -> None:
    store = ClientSecretStore(max_secrets=100, sweep_every=4)
    for _ in range(3):
        mint(store, {"expires_after": {"seconds": 10}})
    assert len(store) == 3
    mint(store, {"expires_after": {"seconds": 10}}, now=NOW + 20)  # the 4th mint sweeps
    assert len(store) == 1


def test_the_value_stays_out_of_reprs() -> None:
    secret = mint(ClientSecretStore())
    assert secret.value not in repr(secret)
    assert secret.value[3:] not in str(secret)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 100), st.integers(10, 60)), max_size=60))
def test_never_more_live_secrets_than_the_cap(steps: list[tuple[int, int]]) -> None:
    store = ClientSecretStore(max_secrets=5, sweep_every=3)
    now = NOW
    live: list[ClientSecret] = []
    for advance, seconds in steps:
        now += advance
        minted = store.mint({"expires_after": {"seconds": seconds}}, now)
        assert len(store) <= 5
        if isinstance(minted, ClientSecret):
            live.append(minted)
        else:
            assert sum(now < secret.expires_at for secret in live) == 5  # refused only when full
        for secret in live:
            assert (store.check(secret.value, now) is not None) == (now < secret.expires_at)
