"""Who is calling and what they may do: scopes, roles, claims, the internal keyring, the service credential.

The design (README, "Authentication"): identity owns the credentials (write keys,
secret API keys, operators). A caller's bearer credential is turned into *claims*
(subject, workspace, scopes) by identity's `/internal/authenticate`; the gateway
sends them on to the subgraphs as `Authorization: Bearer <claims token>`, a
short-lived token signed with the internal keyring (`CDP_INTERNAL_KEYS`), and
subgraphs accept nothing else. Services call one another with a *service
credential*: a claims token for every workspace, signed with the same keyring,
minted by each process. gRPC accepts a claims token or a secret API key
(resolved through identity, briefly cached).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from services.kit.errors import Forbidden, InvalidInput, Unauthenticated
from services.kit.signing import Keyring, check_secret


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


ALL_SCOPES = frozenset(Scope)

# What an operator's role lets them do; API keys carry scopes directly.
ROLE_SCOPES: dict[str, frozenset[Scope]] = {
    "admin": ALL_SCOPES,
    "marketer": frozenset({Scope.READ, Scope.WRITE}),
    "analyst": frozenset({Scope.READ}),
    "viewer": frozenset({Scope.READ}),
}

# The workspace of a service credential: it acts for whichever workspace the call names.
ANY_WORKSPACE = "*"

# The workspace a caller names (an operator in several workspaces picks one with it).
WORKSPACE_HEADER = "x-workspace-id"

# Claims live a minute: long enough to cover one request fanned out over subgraphs and
# a short cache at the gateway, short enough that a revoked key stops within it.
CLAIMS_TTL = 60.0
SERVICE_TOKEN_TTL = 3600.0
_CLAIMS_TYPE = "claims"

DEV_INTERNAL_SECRET = "dev-only-internal-secret-change-me"


@dataclass(frozen=True)
class Claims:
    """An authenticated caller: `key:<id>`, `operator:<id>` or `service:<name>`."""

    subject: str
    workspace: str
    scopes: frozenset[str]
    role: str | None = None

    @property
    def is_service(self) -> bool:
        return self.workspace == ANY_WORKSPACE

    def require(self, scope: Scope) -> None:
        if scope not in self.scopes:
            raise Forbidden(f"this credential lacks the {scope.value!r} scope", "authorization")

    def workspace_for(self, requested: str | None) -> str:
        """The workspace this call acts on: the credential's own; a different one named is refused."""
        requested = (requested or "").strip() or None
        if self.is_service:
            if requested is None:
                raise InvalidInput("a service credential must name the workspace", "workspace_id")
            return requested
        if requested is not None and requested != self.workspace:
            raise Forbidden(f"this credential does not cover workspace {requested!r}", "workspace_id")
        return self.workspace

    def payload(self) -> dict:
        doc = {"typ": _CLAIMS_TYPE, "sub": self.subject, "ws": self.workspace, "scopes": sorted(self.scopes)}
        if self.role:
            doc["role"] = self.role
        return doc

    @classmethod
    def from_payload(cls, payload: dict) -> Claims:
        if payload.get("typ") != _CLAIMS_TYPE or not payload.get("sub") or not payload.get("ws"):
            raise Unauthenticated("credential is not a claims token", "authorization")
        scopes = frozenset(s for s in payload.get("scopes", ()) if s in ALL_SCOPES)
        return cls(payload["sub"], payload["ws"], scopes, payload.get("role"))


def dev_mode() -> bool:
    return os.environ.get("CDP_DEV_MODE", "") == "1"


_keyring: dict[str, Keyring] = {}


def internal_keyring() -> Keyring:
    """CDP_INTERNAL_KEYS (`kid:secret,...`, the first signs); refused when weak outside dev mode."""
    spec = os.environ.get("CDP_INTERNAL_KEYS", "").strip()
    if spec not in _keyring:
        ring = Keyring.parse(spec or DEV_INTERNAL_SECRET)
        for secret in ring.secrets():
            check_secret("CDP_INTERNAL_KEYS", secret if spec else DEV_INTERNAL_SECRET, dev_mode())
        _keyring[spec] = ring
    return _keyring[spec]


def sign_claims(claims: Claims, ttl: float = CLAIMS_TTL, keyring: Keyring | None = None) -> str:
    return (keyring or internal_keyring()).sign(claims.payload(), time.time(), ttl)


def verify_claims(token: str, keyring: Keyring | None = None) -> Claims:
    try:
        payload = (keyring or internal_keyring()).verify(token, time.time(), "authorization")
    except InvalidInput as exc:
        raise Unauthenticated(exc.message, "authorization") from None
    return Claims.from_payload(payload)


def looks_signed(token: str) -> bool:
    """Claims and service tokens are `payload.mac`; API keys and operator tokens have their own prefixes."""
    return "." in token and not token.startswith(API_KEY_PREFIX) and not token.startswith(OPERATOR_TOKEN_PREFIX)


API_KEY_PREFIX = "cdp_sk_"
OPERATOR_TOKEN_PREFIX = "cdp_op_"


class ServiceCredential:
    """This process's own claims token for every workspace, re-minted before it expires."""

    def __init__(self, service_name: str) -> None:
        self.claims = Claims(f"service:{service_name}", ANY_WORKSPACE, ALL_SCOPES)
        self._token = ""
        self._renew_at = 0.0

    def token(self) -> str:
        now = time.time()
        if now >= self._renew_at:
            self._token = sign_claims(self.claims, SERVICE_TOKEN_TTL)
            self._renew_at = now + SERVICE_TOKEN_TTL / 2
        return self._token

    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token()}"),)


def bearer_of(value: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` value; Unauthenticated when absent or malformed."""
    if not value:
        raise Unauthenticated("missing credential: send Authorization: Bearer <API key or token>", "authorization")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <API key or token>'", "authorization")
    return token.strip()


# (bearer token, requested workspace) -> claims; identity answers it for API keys and operator tokens.
Lookup = Callable[[str, str | None], Awaitable[Claims]]


class Authenticator:
    """Turns a bearer token into claims: signed claims locally, anything else through `lookup` (cached).

    The cache is bounded and short: a revoked key or removed membership stops within
    `ttl` seconds; a refused token is remembered for `negative_ttl` so a flood of
    bad keys does not become a flood of lookups.
    """

    def __init__(self, lookup: Lookup, ttl: float = 30.0, negative_ttl: float = 5.0, size: int = 10_000) -> None:
        self.lookup = lookup
        self.ttl, self.negative_ttl, self.size = ttl, negative_ttl, size
        self._cache: OrderedDict[tuple[str, str | None], tuple[float, Claims | Exception]] = OrderedDict()

    async def claims_for(self, token: str, workspace: str | None) -> Claims:
        if looks_signed(token):
            return verify_claims(token)
        key = (hashlib.sha256(token.encode()).hexdigest(), workspace)
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            self._cache.move_to_end(key)
            if isinstance(hit[1], Exception):
                raise hit[1]
            return hit[1]
        try:
            claims = await self.lookup(token, workspace)
        except (Unauthenticated, Forbidden) as exc:
            self._remember(key, now + self.negative_ttl, exc)
            raise
        self._remember(key, now + self.ttl, claims)
        return claims

    def _remember(self, key, until: float, value) -> None:
        self._cache[key] = (until, value)
        self._cache.move_to_end(key)
        while len(self._cache) > self.size:
            self._cache.popitem(last=False)


@dataclass(frozen=True)
class Access:
    """What a gRPC method needs: a scope, and which request field names the workspace."""

    scope: Scope
    workspace_field: str | None = "workspace_id"
    # Only a service credential may call it (creating workspaces: a platform operation).
    service_only: bool = False


def needs(scope: Scope, workspace_field: str | None = "workspace_id", service_only: bool = False):
    """Mark a gRPC servicer method with what it needs; the kit's interceptor refuses unmarked methods."""

    def mark(method):
        method.__cdp_access__ = Access(scope, workspace_field, service_only)
        return method

    return mark


def scopes_of(values: Iterable[str]) -> frozenset[Scope]:
    """Validated scopes from user input (API key creation)."""
    out = set()
    for value in values:
        try:
            out.add(Scope(value))
        except ValueError:
            raise InvalidInput(f"unknown scope {value!r} (known: read, write, admin)", "scopes") from None
    if not out:
        raise InvalidInput("at least one scope is required", "scopes")
    return frozenset(out)
