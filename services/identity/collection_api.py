"""Segment-spec HTTP collection API: /v1/batch, /v1/track, /v1/identify, ...

The official Segment and RudderStack SDKs post here unmodified: the workspace
write key is the basic-auth user (or `writeKey` in the body). A request is
answered 200 only after Kafka acknowledged every event in it; a bad request
gets 400 naming the failing field and nothing is produced.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import logging
import time

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.identity import tracking
from services.identity.store import IdentityStore
from services.kit.clock import Clock
from services.kit.errors import InvalidInput
from services.kit.kafka import Producer, Topics

log = logging.getLogger(__name__)

KEY_CACHE_SECONDS = 30.0


class CollectionApi:
    def __init__(self, store: IdentityStore, producer: Producer, clock: Clock) -> None:
        self.store = store
        self.producer = producer
        self.clock = clock
        self._keys: dict[str, tuple[str | None, float]] = {}

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
        try:
            body = await _read_json(request)
        except InvalidInput as exc:
            return _error(400, exc)
        workspace = await self._workspace(request, body)
        if workspace is None:
            return JSONResponse({"error": "invalid write key", "code": "UNAUTHENTICATED"}, status_code=401)
        now = self.clock.now()
        try:
            if kind is None:
                events = tracking.parse_batch(body, now, workspace)
            else:
                events = [tracking.parse_event(body, kind, now, workspace)]
        except InvalidInput as exc:
            return _error(400, exc)
        try:
            await self.producer.send_many([(Topics.EVENTS_RAW, tracking.partition_key(e), e) for e in events])
        except Exception:
            log.exception("events not acknowledged by Kafka", extra={"workspace": workspace, "count": len(events)})
            return JSONResponse({"error": "events could not be stored; retry", "code": "UNAVAILABLE"}, status_code=503)
        return JSONResponse({"success": True, "accepted": len(events)})

    async def _workspace(self, request: Request, body: object) -> str | None:
        key = _basic_user(request.headers.get("authorization", ""))
        if not key and isinstance(body, dict) and isinstance(body.get("writeKey"), str):
            key = body["writeKey"]
        if not key:
            return None
        cached = self._keys.get(key)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        workspace = await self.store.workspace_for_key(key)
        self._keys[key] = (workspace, time.monotonic() + KEY_CACHE_SECONDS)
        return workspace


def _basic_user(header: str) -> str:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return ""
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return decoded.partition(":")[0]


async def _read_json(request: Request) -> object:
    raw = await request.body()
    if request.headers.get("content-encoding", "").lower() == "gzip":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError):
            raise InvalidInput("body is not valid gzip", "body") from None
    if len(raw) > tracking.MAX_BATCH_BYTES:
        raise InvalidInput(f"request is larger than {tracking.MAX_BATCH_BYTES} bytes", "body")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"body is not valid JSON: {exc}", "body") from None


def _error(status: int, exc: InvalidInput) -> JSONResponse:
    return JSONResponse({"error": exc.message, "field": exc.field, "code": exc.code}, status_code=status)
