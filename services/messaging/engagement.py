"""Receipts, opens, clicks, unsubscribes and conversions: what happened after the send.

Every first delivery, open and click becomes an event in the event stream
("Message Delivered", "Message Opened", "Message Clicked"), produced to
events.raw like the collection API's events, so that identity resolves them
and profiles and segments see them. They are queued in `engagement_events` in
the same transaction that records them on the message, and a background
emitter puts them on events.raw through the outbox once identity told it an
identifier of the person (events.raw carries identifiers, not person ids).
The event's messageId is derived from the message and the kind, so a replay
is deduplicated downstream.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import logging
import time
from typing import Any

import grpc
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from cdp.identity.v1 import events_pb2 as identity_events
from cdp.identity.v1 import identity_pb2, identity_pb2_grpc
from services.kit import grpc_client
from services.kit.clock import Clock
from services.kit.errors import InvalidInput
from services.kit.kafka import Topics
from services.kit.mongo import in_transaction, is_duplicate_key
from services.kit.outbox import OutboxRelay
from services.kit.protos import from_struct, to_struct, to_timestamp
from services.messaging.delivery import Cached
from services.messaging.links import CLICK, OPEN, RECEIPT, UNSUBSCRIBE, Signer
from services.messaging.messages import DELIVERED, FAILED, SENT
from services.messaging.outcomes import Transition, record_one
from services.messaging.policy import Policy
from services.messaging.store import MessagingStore
from services.messaging.views import MessageView

log = logging.getLogger(__name__)

PIXEL = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b")
# Identifier types to put on an event, best first: the one the person is surely known by.
PREFERRED = ("user_id", "anonymous_id", "device_id", "email", "phone", "wechat_unionid", "wechat_openid")


class EngagementQueue:
    def __init__(self, store: MessagingStore) -> None:
        self.store = store

    async def queue(
        self, doc: dict, event: str, properties: dict, now: dt.datetime, session=None, suffix: str = ""
    ) -> None:
        kind = event.lower().replace(" ", "_")
        props = {
            "message_id": doc["_id"],
            "channel": doc.get("channel", ""),
            "campaign_id": doc.get("campaign_id", ""),
            "template_id": doc.get("template_id", ""),
            "category": doc.get("category", ""),
            **properties,
        }
        try:
            await self.store.engagement_events.insert_one(
                {
                    "_id": f"msg:{doc['_id']}:{kind}{suffix}",
                    "workspace": doc["workspace"],
                    "person_id": doc["person_id"],
                    "event": event,
                    "properties": props,
                    "timestamp": now,
                    "due": now,
                },
                session=session,
            )
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise


class Emitter:
    """Puts queued engagement events on events.raw, with an identifier of the person from identity."""

    def __init__(self, client: Any, store: MessagingStore, relay: OutboxRelay, clock: Clock, identity_target: str):
        self.client = client
        self.store = store
        self.relay = relay
        self.clock = clock
        self._channel = grpc_client.channel(identity_target) if identity_target else None
        self._stub = identity_pb2_grpc.IdentityServiceStub(self._channel) if self._channel else None
        self._known: dict[tuple[str, str], tuple[float, tuple[str, str] | None]] = {}
        self.emitted = 0

    async def identifier(self, workspace: str, person_id: str) -> tuple[str, str] | None:
        """(type, value) of the person; None when identity does not know them (forgotten)."""
        hit = self._known.get((workspace, person_id))
        if hit and hit[0] > time.monotonic():
            return hit[1]
        if self._stub is None:
            raise ConnectionError("no identity service configured")
        try:
            person = await self._stub.GetPerson(
                identity_pb2.GetPersonRequest(workspace_id=workspace, person_id=person_id), timeout=5
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                self._known[(workspace, person_id)] = (time.monotonic() + 60, None)
                return None
            raise ConnectionError(f"identity: {exc.code().name}") from None
        ids = {i.type: i.value for i in person.identifiers}
        found = next(((t, ids[t]) for t in PREFERRED if t in ids), None)
        if found is None and person.identifiers:
            found = (person.identifiers[0].type, person.identifiers[0].value)
        self._known[(workspace, person_id)] = (time.monotonic() + 60, found)
        return found

    async def emit_due(self, limit: int = 200) -> int:
        now = self.clock.now()
        docs = await self.store.engagement_events.find({"due": {"$lte": now}}).limit(limit).to_list(None)
        count = 0
        for doc in docs:
            try:
                ident = await self.identifier(doc["workspace"], doc["person_id"])
            except ConnectionError as exc:
                log.warning("identity unreachable; engagement event waits", extra={"error": str(exc)})
                await self.store.engagement_events.update_one(
                    {"_id": doc["_id"]}, {"$set": {"due": now + dt.timedelta(seconds=5)}}
                )
                continue
            if ident is None:
                await self.store.engagement_events.delete_one({"_id": doc["_id"]})
                continue
            raw = raw_event(doc, ident, now)
            key = raw.anonymous_id or raw.user_id or doc["person_id"]

            async def work(session, raw=raw, key=key, doc=doc) -> None:
                await self.relay.add(Topics.EVENTS_RAW, key, raw, session)
                await self.store.engagement_events.delete_one({"_id": doc["_id"]}, session=session)

            await in_transaction(self.client, work)
            self.relay.notify()
            count += 1
        self.emitted += count
        return count

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                while await self.emit_due():
                    pass
            except Exception:
                log.exception("engagement emitter failed; retrying")
            try:
                await asyncio.wait_for(stopping.wait(), timeout=0.5)
            except TimeoutError:
                pass

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()


def raw_event(doc: dict, ident: tuple[str, str], now: dt.datetime) -> identity_events.RawEvent:
    id_type, value = ident
    event = identity_events.RawEvent(
        workspace_id=doc["workspace"],
        message_id=doc["_id"],
        type="track",
        event=doc["event"],
        properties=to_struct(doc["properties"]),
        context=to_struct({"library": {"name": "cdp-messaging"}}),
        timestamp=to_timestamp(doc["timestamp"]),
        received_at=to_timestamp(now),
    )
    if id_type == "user_id":
        event.user_id = value
    elif id_type == "anonymous_id":
        event.anonymous_id = value
    else:
        event.identifiers.add(type=id_type, value=value)
    return event


class EngagementApi:
    """HTTP edge: delivery receipts, open pixel, click redirect, unsubscribe."""

    def __init__(
        self,
        client,
        store: MessagingStore,
        relay: OutboxRelay,
        clock: Clock,
        signer: Signer,
        queue: EngagementQueue,
        optouts,
    ):
        self.optouts = optouts
        self.client = client
        self.store = store
        self.relay = relay
        self.clock = clock
        self.signer = signer
        self.queue = queue

    def routes(self) -> list[Route]:
        return [
            Route("/t/o/{token}.gif", self.opened, methods=["GET"]),
            Route("/t/c/{token}", self.clicked, methods=["GET"]),
            Route("/t/u/{token}", self.unsubscribe, methods=["GET", "POST"]),
            Route("/v1/receipts/{token}", self.receipt, methods=["POST"]),
        ]

    def _payload(self, request: Request, kind: str) -> dict:
        payload = self.signer.verify(request.path_params["token"])
        if payload.get("k") != kind:
            raise InvalidInput("link token is for another kind of link", "token")
        return payload

    async def _first(self, workspace: str, message_id: str, field: str, event: str, properties: dict) -> bool:
        now = self.clock.now()
        done = {}

        async def work(session) -> None:
            doc = await self.store.first_time(workspace, message_id, field, now, session)
            done["doc"] = doc
            if doc is not None:
                await self.queue.queue(doc, event, properties, now, session)

        await in_transaction(self.client, work)
        return done.get("doc") is not None

    async def opened(self, request: Request) -> Response:
        try:
            p = self._payload(request, OPEN)
        except InvalidInput as exc:
            return JSONResponse(exc.as_dict(), status_code=400)
        await self._first(p["w"], p["m"], "opened_at", "Message Opened", {})
        return Response(PIXEL, media_type="image/gif", headers={"Cache-Control": "no-store"})

    async def clicked(self, request: Request) -> Response:
        try:
            p = self._payload(request, CLICK)
        except InvalidInput as exc:
            return JSONResponse(exc.as_dict(), status_code=400)
        url = p.get("u", "")
        if not url.startswith(("http://", "https://")):
            return JSONResponse(InvalidInput("link has no http(s) target", "token").as_dict(), status_code=400)
        # A click proves the open, even when images were blocked.
        await self._first(p["w"], p["m"], "opened_at", "Message Opened", {})
        await self._first(p["w"], p["m"], "clicked_at", "Message Clicked", {"url": url})
        return RedirectResponse(url, status_code=302)

    async def unsubscribe(self, request: Request) -> Response:
        """GET shows a confirmation form (link scanners fetch URLs); a POST unsubscribes: the form's, or a
        mail client's RFC 8058 one-click POST (body `List-Unsubscribe=One-Click`). Names are escaped."""
        try:
            p = self._payload(request, UNSUBSCRIBE)
        except InvalidInput as exc:
            return JSONResponse(exc.as_dict(), status_code=400)
        channel, category = html.escape(str(p["ch"])), html.escape(str(p["g"]))
        headers = {"Cache-Control": "no-store", "Content-Security-Policy": "default-src 'none'; form-action 'self'"}
        if request.method == "GET":
            return HTMLResponse(
                f'<html><body><form method="post"><p>退订 {channel} 的 {category} 消息？</p>'
                f"<p>Unsubscribe from {category} messages on {channel}?</p>"
                '<input type="hidden" name="List-Unsubscribe" value="One-Click" />'
                '<button type="submit">退订 / Unsubscribe</button></form></body></html>',
                headers=headers,
            )
        await self.optouts.add(p["w"], p["p"], p["ch"], p["g"], self.clock.now())
        return HTMLResponse(
            f"<html><body><p>已退订 {channel} 的 {category} 消息。</p><p>You are unsubscribed from {category} "
            f"messages on {channel}.</p></body></html>",
            headers=headers,
        )

    async def receipt(self, request: Request) -> Response:
        """A provider's delivery receipt: {"id" | "messageId", "status": "delivered" | "failed", "error"}."""
        try:
            payload = self.signer.verify(request.path_params["token"])
            if payload.get("k") != RECEIPT:
                raise InvalidInput("token is not a receipt token", "token")
            body = await request.json()
            if not isinstance(body, dict):
                raise InvalidInput("receipt must be a JSON object", "body")
            status = body.get("status")
            if status not in ("delivered", "failed"):
                raise InvalidInput("status must be delivered or failed", "status")
            workspace = payload["w"]
            doc = None
            if isinstance(body.get("messageId"), str):
                doc = await self.store.message(workspace, body["messageId"])
            elif isinstance(body.get("id"), str):
                doc = await self.store.message_by_provider_id(workspace, body["id"])
            else:
                raise InvalidInput("receipt needs id (the provider's) or messageId (ours)", "id")
        except InvalidInput as exc:
            return JSONResponse(exc.as_dict(), status_code=400)
        except ValueError:
            return JSONResponse(InvalidInput("body is not JSON", "body").as_dict(), status_code=400)
        if doc is None or doc.get("channel") != payload.get("m"):
            return JSONResponse({"code": "NOT_FOUND", "message": "no such message on this channel"}, status_code=404)
        now = self.clock.now()
        reason = str(body.get("error") or "")[:300]

        if status == "delivered":
            change = Transition(MessageView.of(doc), {"status": DELIVERED, "delivered_at": now}, SENT, delivered=True)
        else:
            update = {"status": FAILED, "status_reason": f"provider receipt: {reason}"}
            change = Transition(MessageView.of(doc), update, SENT, dlq=True)

        async def work(session) -> None:
            await record_one(self.store, self.relay, change, now, session, self.queue)

        await in_transaction(self.client, work)
        self.relay.notify()
        return JSONResponse({"ok": True})


class Attribution:
    """Conversions from events.resolved: last touch (latest send or click) within the window."""

    def __init__(self, client, store: MessagingStore, clock: Clock) -> None:
        self.client = client
        self.store = store
        self.clock = clock
        self.policies = Cached(self._policy, ttl=10.0)

    async def _policy(self, workspace: str) -> Policy:
        return Policy.of(await self.store.policy(workspace))

    async def handle(self, key: str, resolved: identity_events.ResolvedEvent) -> None:
        event = resolved.event
        if event.type != "track" or not resolved.person_id:
            return
        policy: Policy = await self.policies.get(event.workspace_id)
        if event.event != policy.conversion_event:
            return
        at = event.timestamp.ToDatetime(tzinfo=dt.UTC) if event.timestamp.seconds else self.clock.now()
        since = at - dt.timedelta(hours=policy.attribution_hours)
        # Last touch before the order: a message sent after it did not cause it.
        touch = await self.store.latest_touch(event.workspace_id, resolved.person_id, since, at)
        if touch is None:
            return
        props = from_struct(event.properties) if event.properties.fields else {}
        revenue = props.get("revenue", props.get("total", 0))
        try:
            revenue = round(float(revenue), 2)
        except (TypeError, ValueError):
            revenue = 0.0

        async def work(session) -> None:
            await self.store.attribute(
                event.workspace_id, event.message_id, touch["_id"], revenue, self.clock.now(), session
            )

        await in_transaction(self.client, work)
