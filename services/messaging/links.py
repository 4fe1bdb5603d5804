"""Signed tokens for open pixels, click redirects and unsubscribe links. Pure, no I/O.

A token is base64url(JSON payload) + "." + base64url(HMAC-SHA256(secret, payload)).
The payload names the message (and, for clicks, the target URL; for
unsubscribes, the channel and category), so a link cannot be edited to
unsubscribe someone else or to redirect to a URL the message never had.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from urllib.parse import quote

from services.kit.errors import InvalidInput

OPEN, CLICK, UNSUBSCRIBE, RECEIPT = "o", "c", "u", "r"
HREF = re.compile(r'href="(https?://[^"]+)"', re.I)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    def __init__(self, secret: str) -> None:
        if len(secret) < 16:
            raise ValueError("the link secret must be at least 16 characters")
        self._key = secret.encode()

    def sign(self, payload: dict) -> str:
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        mac = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return f"{body}.{_b64(mac)}"

    def verify(self, token: str) -> dict:
        try:
            body, mac = token.split(".", 1)
            expected = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(expected, _unb64(mac)):
                raise ValueError("bad signature")
            payload = json.loads(_unb64(body))
        except (ValueError, TypeError, json.JSONDecodeError):
            raise InvalidInput("link token is invalid or was altered", "token") from None
        if not isinstance(payload, dict) or not payload.get("w") or not payload.get("m"):
            raise InvalidInput("link token is invalid or was altered", "token")
        return payload


class Links:
    """The tracking URLs of one message, under the service's public base URL."""

    def __init__(self, signer: Signer, base_url: str) -> None:
        self.signer = signer
        self.base = base_url.rstrip("/")

    def open_pixel(self, workspace: str, message_id: str) -> str:
        return f"{self.base}/t/o/{self.signer.sign({'k': OPEN, 'w': workspace, 'm': message_id})}.gif"

    def click(self, workspace: str, message_id: str, url: str) -> str:
        return f"{self.base}/t/c/{self.signer.sign({'k': CLICK, 'w': workspace, 'm': message_id, 'u': url})}"

    def unsubscribe(self, workspace: str, message_id: str, person_id: str, channel: str, category: str) -> str:
        payload = {"k": UNSUBSCRIBE, "w": workspace, "m": message_id, "p": person_id, "ch": channel, "g": category}
        return f"{self.base}/t/u/{self.signer.sign(payload)}"

    def receipt(self, workspace: str, channel: str) -> str:
        """Where a channel's provider posts delivery receipts (one URL per channel; the body names the message)."""
        return f"{self.base}/v1/receipts/{receipt_token(self.signer, workspace, channel)}"

    def track_html(self, html: str, workspace: str, message_id: str) -> str:
        """Every http(s) link goes through the click redirect; a pixel reports the open."""
        tracked = HREF.sub(lambda m: f'href="{self.click(workspace, message_id, m.group(1))}"', html)
        pixel = f'<img src="{self.open_pixel(workspace, message_id)}" width="1" height="1" alt="" />'
        return tracked + pixel


def receipt_token(signer: Signer, workspace: str, channel: str) -> str:
    """The token of a channel's receipt URL (/v1/receipts/<token>): names workspace and channel."""
    return signer.sign({"k": RECEIPT, "w": workspace, "m": channel})


def quoted(url: str) -> str:
    return quote(url, safe=":/?&=#%")
