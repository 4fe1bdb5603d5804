"""Signed tokens: tampering, expiry, key rotation and the refusal of weak secrets."""

from __future__ import annotations

import pytest

from services.kit.errors import InvalidInput
from services.kit.signing import Keyring, b64, check_secret, unb64

NOW = 1_800_000_000.0
RING = Keyring.parse("k2:" + "b" * 40 + ",k1:" + "a" * 40)


def test_a_token_verifies_until_it_expires():
    token = RING.sign({"w": "demo", "m": "msg-1"}, NOW, ttl=60)
    payload = RING.verify(token, NOW + 59)
    assert (payload["w"], payload["m"], payload["kid"], payload["exp"]) == ("demo", "msg-1", "k2", NOW + 60)
    with pytest.raises(InvalidInput, match="expired"):
        RING.verify(token, NOW + 60)


def test_any_change_to_a_token_is_refused():
    token = RING.sign({"w": "demo", "u": "https://shop.example/a"}, NOW, ttl=60)
    body, mac = token.split(".")
    forged = b64(unb64(body).replace(b"shop.example", b"evil.example"))
    for bad in (f"{forged}.{mac}", f"{body}.{mac[:-2]}AA", body, "", "..", "x.y"):
        with pytest.raises(InvalidInput, match="invalid or was altered"):
            RING.verify(bad, NOW)
    other = Keyring.parse("k2:" + "c" * 40)  # same key id, another secret
    with pytest.raises(InvalidInput):
        RING.verify(other.sign({"w": "demo"}, NOW, 60), NOW)


def test_rotation_keeps_old_tokens_valid_and_signs_with_the_new_key():
    old = Keyring.parse("k1:" + "a" * 40)
    token = old.sign({"w": "demo"}, NOW, 3600)
    assert RING.verify(token, NOW)["kid"] == "k1"
    assert RING.verify(RING.sign({}, NOW, 10), NOW)["kid"] == "k2"
    retired = Keyring.parse("k2:" + "b" * 40)
    with pytest.raises(InvalidInput):
        retired.verify(token, NOW)


def test_weak_or_default_secrets_are_refused_outside_dev_mode():
    for weak in ("dev-only-link-secret-change-me", "short", "x" * 31):
        with pytest.raises(ValueError, match="at least 32 characters"):
            check_secret("CDP_LINK_SECRET", weak, dev_mode=False)
        assert check_secret("CDP_LINK_SECRET", weak, dev_mode=True) == weak
    assert check_secret("CDP_LINK_SECRET", "y" * 32, dev_mode=False) == "y" * 32
