"""Signed, expiring tokens with key ids: links in messages, operator tokens, the gateway's claims.

A token is base64url(JSON payload) "." base64url(HMAC-SHA256(key, payload)),
the payload carrying `kid` (which key signed it) and `exp` (epoch seconds).
Several keys can be live at once, so a key is rotated by adding the new one
as the signing key and keeping the old one for verification until the
tokens it signed have expired. Pure, no I/O; time comes from the caller.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping

from services.kit.errors import InvalidInput

MIN_SECRET = 32  # characters; shorter secrets are refused outside dev mode
DEV_SECRETS = frozenset({"dev-only-link-secret-change-me"})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check_secret(name: str, secret: str, dev_mode: bool) -> str:
    """A secret good enough to sign with: refuse the shipped default or a short one unless in dev mode."""
    if dev_mode:
        return secret
    if secret in DEV_SECRETS or len(secret) < MIN_SECRET:
        raise ValueError(
            f"{name} must be set to a secret of at least {MIN_SECRET} characters (the default is for dev mode only)"
        )
    return secret


class Keyring:
    """Signing keys by id; `current` signs, every key verifies."""

    def __init__(self, keys: Mapping[str, str], current: str) -> None:
        if current not in keys:
            raise ValueError(f"signing key {current!r} is not in the keyring")
        self._keys = {kid: secret.encode() for kid, secret in keys.items()}
        self.current = current

    @classmethod
    def parse(cls, spec: str) -> Keyring:
        """`kid1:secret1,kid2:secret2` (the first signs), or a bare secret (key id `k1`)."""
        pairs = [p for p in (spec or "").split(",") if p]
        if len(pairs) == 1 and ":" not in pairs[0]:
            return cls({"k1": pairs[0]}, "k1")
        keys = dict(p.split(":", 1) for p in pairs)
        if not keys:
            raise ValueError("a keyring needs at least one key")
        return cls(keys, pairs[0].split(":", 1)[0])

    def secrets(self) -> list[str]:
        return [k.decode() for k in self._keys.values()]

    def sign(self, payload: dict, now: float, ttl: float) -> str:
        body = {**payload, "kid": self.current, "exp": int(now + ttl)}
        text = b64(json.dumps(body, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode())
        mac = hmac.new(self._keys[self.current], text.encode(), hashlib.sha256).digest()
        return f"{text}.{b64(mac)}"

    def verify(self, token: str, now: float, field: str = "token") -> dict:
        """The payload of an intact, unexpired token signed by a key of this ring; InvalidInput otherwise."""
        try:
            text, mac = token.split(".", 1)
            payload = json.loads(unb64(text))
            key = self._keys[payload["kid"]]
            expected = hmac.new(key, text.encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(expected, unb64(mac)):
                raise ValueError("bad signature")
        except (ValueError, TypeError, KeyError, json.JSONDecodeError, UnicodeDecodeError):
            raise InvalidInput("token is invalid or was altered", field) from None
        exp = payload.get("exp")
        if not isinstance(exp, int) or exp <= now:
            raise InvalidInput("token has expired", field)
        return payload
