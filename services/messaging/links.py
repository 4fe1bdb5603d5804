"""Signed tokens for open pixels, click redirects, unsubscribe links and receipt URLs. Pure, no I/O.

Tokens are kit/signing tokens: base64url(JSON payload) "." base64url(HMAC-SHA256),
the payload carrying the key id that signed it (`kid`) and an expiry (`exp`).
The payload names the message (and, for clicks, the target URL; for
unsubscribes, the person, channel and category), so a link cannot be edited to
unsubscribe someone else or to redirect to a URL the message never had.

Lifetimes: opens, clicks and unsubscribes hold for 180 days (mail is read and
unsubscribed from long after it was sent); receipt URLs for 365 days, and
every provider call carries a freshly signed one, so a provider that posts
back within days always holds a valid URL. Keys rotate through
`CDP_LINK_KEYS` (`kid:secret,...`, the first signs, all verify): a retired key
stays listed until the longest of these lifetimes has passed. Tokens of the
earlier, unversioned format carry no key id and are refused (see README).
"""

from __future__ import annotations

import re
from urllib.parse import quote

from services.kit.clock import Clock
from services.kit.errors import InvalidInput
from services.kit.signing import Keyring, check_secret

OPEN, CLICK, UNSUBSCRIBE, RECEIPT = "o", "c", "u", "r"
HREF = re.compile(r'href="(https?://[^"]+)"', re.I)
DAY = 86_400
LINK_TTL = 180 * DAY  # opens, clicks, unsubscribes
RECEIPT_TTL = 365 * DAY


class Signer:
    """Signs and verifies link tokens with the service's keyring, at the clock's time."""

    def __init__(self, keys: Keyring, clock: Clock) -> None:
        self.keys = keys
        self.clock = clock

    def sign(self, payload: dict, ttl: float = LINK_TTL) -> str:
        return self.keys.sign(payload, self.clock.now().timestamp(), ttl)

    def verify(self, token: str) -> dict:
        payload = self.keys.verify(token, self.clock.now().timestamp(), "token")
        if not payload.get("w") or not payload.get("m"):
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
    return signer.sign({"k": RECEIPT, "w": workspace, "m": channel}, ttl=RECEIPT_TTL)


def link_keys(link_keys: str, link_secret: str, dev_mode: bool) -> Keyring:
    """The keyring from CDP_LINK_KEYS (else CDP_LINK_SECRET); weak or default secrets refused outside dev mode."""
    name = "CDP_LINK_KEYS" if link_keys.strip() else "CDP_LINK_SECRET"
    if not (link_keys.strip() or link_secret.strip()):
        raise ValueError(f"{name} must be set to a secret of at least 32 characters")
    # A single secret is taken whole (it may hold ':' or ','); only CDP_LINK_KEYS is a list.
    keys = Keyring.parse(link_keys.strip()) if link_keys.strip() else Keyring({"k1": link_secret.strip()}, "k1")
    for secret in keys.secrets():
        check_secret(name, secret, dev_mode)
    return keys


def quoted(url: str) -> str:
    return quote(url, safe=":/?&=#%")
