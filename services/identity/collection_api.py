"""Segment-spec HTTP collection API: /v1/batch, /v1/track, /v1/identify, ...

The official Segment and RudderStack SDKs post here unmodified: the workspace
write key is the basic-auth user (or `writeKey` in the body). A request is
answered 200 only after Kafka acknowledged every event in it; a bad request
gets 400 naming the failing field and nothing is produced.

The endpoint is public, so the order of work is the order of cost: the client
address's rate limit, then the basic-auth key (401 and 429 before a byte of
the body is read), then the body within its size budget (413; a gzip body is
inflated piece by piece, never past the budget), then parsing. Only a request
without basic auth has its body read (within the same budget) to find
`writeKey` there, as the spec allows.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import json
import logging
import math
from dataclasses import dataclass, fields

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.identity import tracking
from services.identity.store import IdentityStore
from services.kit.bounded_body import BodyTooLarge, read_bounded
from services.kit.clock import Clock
from services.kit.errors import InvalidInput
from services.kit.gcra import RateLimiter
from services.kit.kafka import Producer, Topics
from services.kit.ttl_cache import TtlLru

log = logging.getLogger(__name__)

# A known key is trusted this long (a revoked key works at most this much longer on a replica);
# an unknown one is refused from memory only briefly, so a key created a moment later works.
KEY_CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class CollectLimits:
    """The collection API's budgets: IdentitySettings' `collect_*` settings, where their defaults live.

    A rate of 0 is no limit.
    """

    max_request_bytes: int
    max_event_bytes: int
    key_rate: float
    key_burst: int
    address_rate: float
    address_burst: int
    key_cache_entries: int
    unknown_key_seconds: float

    @classmethod
    def of(cls, settings) -> CollectLimits:
        return cls(**{f.name: getattr(settings, f"collect_{f.name}") for f in fields(cls)})


class CollectionApi:
    def __init__(self, store: IdentityStore, producer: Producer, clock: Clock, redis, limits: CollectLimits) -> None:
        self.store = store
        self.producer = producer
        self.clock = clock
        self.limits = limits
        self.limiter = RateLimiter(redis)
        # write key -> workspace id, "" for a key no workspace has
        self._keys: TtlLru[str] = TtlLru(self.limits.key_cache_entries)

    def routes(self) -> list[Route]:
        single = [
            Route(f"/v1/{kind}", self._single(kind), methods=["POST"])
            for kind in ("track", "identify", "page", "screen", "alias", "group")
        ]
        return [
            Route("/v1/batch", self.batch, methods=["POST"]),
            Route("/v1/import", self.batch, methods=["POST"]),
            *single,
        ]

    async def batch(self, request: Request) -> JSONResponse:
        return await self._accept(request, None)

    def _single(self, kind: str):
        async def endpoint(request: Request) -> JSONResponse:
            return await self._accept(request, kind)

        endpoint.__name__ = f"collect_{kind}"
        return endpoint

    async def _accept(self, request: Request, kind: str | None) -> JSONResponse:
        limits = self.limits
        address = _address_bucket(request.client.host if request.client else "")
        wait = await self._limit("addr", address, limits.address_rate, limits.address_burst)
        if wait:
            return _too_many("client address", wait)
        key = _basic_user(request.headers.get("authorization", ""))
        workspace = ""
        if key:
            workspace = await self._workspace(key)
            if not workspace:
                return _unauthenticated()
            wait = await self._key_limit(key)
            if wait:
                return _too_many("write key", wait)
        try:
            body = await _read_json(request, limits.max_request_bytes)
        except BodyTooLarge as exc:
            return JSONResponse({"error": exc.message, "code": "PAYLOAD_TOO_LARGE"}, status_code=413)
        except InvalidInput as exc:
            return _error(400, exc)
        if not key:
            key = body.get("writeKey") if isinstance(body, dict) else None
            workspace = await self._workspace(key) if isinstance(key, str) and key else ""
            if not workspace:
                return _unauthenticated()
            wait = await self._key_limit(key)
            if wait:
                return _too_many("write key", wait)
        now = self.clock.now()
        try:
            if kind is None:
                events = tracking.parse_batch(body, now, workspace, limits.max_event_bytes)
            else:
                events = [tracking.parse_event(body, kind, now, workspace, max_event_bytes=limits.max_event_bytes)]
        except InvalidInput as exc:
            return _error(400, exc)
        try:
            await self.producer.send_many([(Topics.EVENTS_RAW, tracking.partition_key(e), e) for e in events])
        except Exception:
            log.exception("events not acknowledged by Kafka", extra={"workspace": workspace, "count": len(events)})
            return JSONResponse({"error": "events could not be stored; retry", "code": "UNAVAILABLE"}, status_code=503)
        return JSONResponse({"success": True, "accepted": len(events)})

    async def _workspace(self, key: str) -> str:
        """The workspace a write key belongs to; "" when none does."""
        cached = self._keys.get(key)
        if cached is not None:
            return cached
        workspace = await self.store.workspace_for_key(key) or ""
        self._keys.put(key, workspace, KEY_CACHE_SECONDS if workspace else self.limits.unknown_key_seconds)
        return workspace

    async def _key_limit(self, key: str) -> float:
        # Hashed: write keys are credentials and do not belong in Redis key names.
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        return await self._limit("key", digest, self.limits.key_rate, self.limits.key_burst)

    async def _limit(self, kind: str, who: str, rate: float, burst: int) -> float:
        """Seconds to wait (0: go). In Redis, so every replica counts against the same budget."""
        if rate <= 0:
            return 0.0
        try:
            return await self.limiter.acquire(f"collect:{kind}:{who}", rate, burst)
        except RedisError:
            # Refusing events because Redis is down would lose data the SDK may not resend;
            # the limits come back with Redis.
            log.warning("collection rate limit not checked: Redis unavailable", exc_info=True)
            return 0.0


def _address_bucket(host: str) -> str:
    """The client's address; an IPv6 client by its /64, which one host usually holds whole."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False).network_address) + "/64"
    return str(ip)


def _basic_user(header: str) -> str:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return ""
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return decoded.partition(":")[0]


async def _read_json(request: Request, max_bytes: int) -> object:
    raw = await read_bounded(
        request.stream(),
        request.headers.get("content-length"),
        request.headers.get("content-encoding", "").strip().lower() == "gzip",
        max_bytes,
    )
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"body is not valid JSON: {exc}", "body") from None


def _unauthenticated() -> JSONResponse:
    return JSONResponse({"error": "invalid write key", "code": "UNAUTHENTICATED"}, status_code=401)


def _too_many(limit: str, wait: float) -> JSONResponse:
    # Retry-After takes whole seconds; rounding up never invites a retry that is refused again.
    seconds = max(1, math.ceil(wait))
    return JSONResponse(
        {"error": f"rate limit of this {limit} reached; retry later", "code": "RATE_LIMITED", "limit": limit},
        status_code=429,
        headers={"Retry-After": str(seconds)},
    )


def _error(status: int, exc: InvalidInput) -> JSONResponse:
    return JSONResponse({"error": exc.message, "field": exc.field, "code": exc.code}, status_code=status)
