"""Delivering queued messages: policy checks, rate limit, claim, provider call, outcome.

For each outbound record the worker, in this order:
1. acts only if the message is still queued under the record's dispatch
   generation (an old or duplicated record does nothing);
2. marketing only: honours unsubscribes (skipped), defers to the end of the
   person's quiet hours (deferred, not dropped);
3. counts it against the frequency caps that apply (marketing caps do not bind
   transactional messages); over a cap: skipped with the cap in the reason;
4. waits for the provider rate limit (every category: a provider's limit is a
   limit), deferring when the wait would be long;
5. claims it (queued -> sending) durably, and only then calls the provider with
   the message's idempotency key;
6. records the outcome with its messages.status event in one transaction:
   sent; a retryable failure is deferred with exponential backoff and jitter
   (Retry-After honoured) until the attempts run out; failures go to
   messages.dlq with the reason.
A crash after step 5 leaves the message "sending"; see reconcile.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

from cdp.messaging.v1 import events_pb2
from services.kit.clock import Clock
from services.kit.kafka import Topics
from services.kit.mongo import in_transaction
from services.kit.outbox import OutboxRelay
from services.kit.protos import to_timestamp
from services.messaging.limits import FrequencyCaps, RateLimiter, rate_key
from services.messaging.messages import DEFERRED, DELIVERED, FAILED, MARKETING, QUEUED, SENT, SKIPPED, UNKNOWN
from services.messaging.policy import Policy, quiet_until, safe_zone
from services.messaging.providers import RETRY, Outcome, Provider
from services.messaging.sending import outbound, outbound_topic
from services.messaging.store import MessagingStore
from services.messaging.views import MessageView

log = logging.getLogger(__name__)


@dataclass
class RetryPolicy:
    max_attempts: int = 8
    base: float = 1.0
    cap: float = 60.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before attempt `attempt + 1`: exponential with jitter, never before Retry-After."""
        backoff = min(self.cap, self.base * 2 ** max(0, attempt - 1))
        # Equal jitter: half fixed, half random, so a burst of failures does not come back in step.
        jittered = backoff / 2 + random.uniform(0, backoff / 2)
        if retry_after is not None:
            return max(retry_after, 0.0) + random.uniform(0, min(1.0, self.base))
        return jittered


def status_event(doc: dict) -> events_pb2.MessageStatus:
    return events_pb2.MessageStatus(
        workspace_id=doc["workspace"],
        message_id=doc["_id"],
        person_id=doc["person_id"],
        status=doc["status"],
        reason=doc.get("status_reason") or "",
        at=to_timestamp(doc["updated_at"]),
        campaign_id=doc.get("campaign_id") or "",
    )


class Cached:
    """A few seconds of memory for per-message lookups that rarely change (channels, policies)."""

    def __init__(self, load, ttl: float = 5.0) -> None:
        self.load = load
        self.ttl = ttl
        self._items: dict[Any, tuple[float, Any]] = {}

    async def get(self, *key):
        hit = self._items.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        value = await self.load(*key)
        self._items[key] = (time.monotonic() + self.ttl, value)
        return value


class Deliverer:
    def __init__(
        self,
        client: Any,
        store: MessagingStore,
        relay: OutboxRelay,
        clock: Clock,
        providers: dict[str, Provider],
        limiter: RateLimiter,
        caps: FrequencyCaps,
        retry: RetryPolicy | None = None,
        max_inline_wait: float = 2.0,
        engagement=None,
    ) -> None:
        self.client = client
        self.store = store
        self.relay = relay
        self.clock = clock
        self.providers = providers
        self.limiter = limiter
        self.caps = caps
        self.retry = retry or RetryPolicy()
        self.max_inline_wait = max_inline_wait
        self.engagement = engagement
        self.channels = Cached(store.channel)
        self.policies = Cached(self._policy)

    async def _policy(self, workspace: str) -> Policy:
        return Policy.of(await self.store.policy(workspace))

    async def deliver(self, workspace: str, message_id: str, gen: int = 1) -> str | None:
        """Act on one outbound record; the status it left the message in, or None when not ours."""
        doc = await self.store.message(workspace, message_id)
        if doc is None or doc["status"] != QUEUED or doc.get("gen", 1) != (gen or 1):
            log.debug("outbound record is stale; skipped", extra={"message_id": message_id})
            return None
        message = MessageView.of(doc)
        channel = await self.channels.get(workspace, message.channel)
        if channel is None:
            return await self._settle(message, QUEUED, FAILED, f"channel {message.channel!r} no longer exists")
        policy: Policy = await self.policies.get(workspace)
        tz = safe_zone(message.timezone, policy.default_timezone)
        now = self.clock.now()

        if await self.store.unsubscribed(workspace, message.person_id, message.channel, message.category):
            return await self._settle(
                message, QUEUED, SKIPPED, f"person unsubscribed from {message.category} on {message.channel}"
            )
        if message.category == MARKETING:
            until = quiet_until(now, tz, policy.quiet_start, policy.quiet_end)
            if until is not None:
                reason = f"quiet hours {policy.quiet_start}-{policy.quiet_end} in {tz.key}; due {until.isoformat()}"
                return await self._settle(message, QUEUED, DEFERRED, reason, due_at=until)
        # Caps without a category bind marketing only: transactional messages skip marketing caps.
        caps = [
            c for c in policy.caps_for(message.channel, message.category) if c.category or message.category == MARKETING
        ]
        if caps:
            verdict = await self.caps.check(
                workspace, message.person_id, message.channel, message.category, message.id, caps, now, tz
            )
            if not verdict.allowed:
                return await self._settle(message, QUEUED, SKIPPED, f"frequency cap: {verdict.cap.describe()}")

        config = channel.get("config", {})
        if config.get("rate"):
            key = rate_key(workspace, message.channel, channel["type"])
            while True:
                wait = await self.limiter.acquire(key, config["rate"], config.get("burst", 1))
                if wait <= 0:
                    break
                if wait > self.max_inline_wait:
                    due = self.clock.now() + dt.timedelta(seconds=wait)
                    await self._release(message, caps, now, tz)
                    return await self._settle(message, QUEUED, DEFERRED, "provider rate limit", due_at=due)
                await asyncio.sleep(wait)

        claimed = await self.store.claim(workspace, message.id, message.gen, self.clock.now())
        if claimed is None:
            return None
        message = MessageView.of(claimed)
        provider = self.providers.get(channel["type"])
        if provider is None:
            outcome = Outcome(FAILED, f"channel type {channel['type']!r} has no provider")
        else:
            outcome = await provider.deliver(channel, message)
        if outcome.status != SENT:
            await self._release(message, caps, now, tz)
        return await self._record(message, outcome, config.get("max_attempts") or self.retry.max_attempts)

    async def _release(self, message: MessageView, caps, now, tz) -> None:
        if caps:
            await self.caps.release(
                message.workspace, message.person_id, message.channel, message.category, message.id, caps, now, tz
            )

    async def _record(self, message: MessageView, outcome: Outcome, max_attempts: int) -> str | None:
        now = self.clock.now()
        if outcome.status == SENT:
            update: dict = {"status": DELIVERED if outcome.delivered else SENT, "status_reason": "", "sent_at": now}
            if outcome.provider_id:
                update["provider_id"] = outcome.provider_id
            if outcome.delivered:
                update["delivered_at"] = now
            return await self._transition(message, update, dlq=False, delivered=outcome.delivered)
        if outcome.status == RETRY:
            if message.attempts >= max_attempts:
                reason = f"gave up after {message.attempts} attempts: {outcome.reason}"
                return await self._transition(message, {"status": FAILED, "status_reason": reason}, dlq=True)
            delay = self.retry.delay(message.attempts, outcome.retry_after)
            due = now + dt.timedelta(seconds=delay)
            update = {"status": DEFERRED, "status_reason": f"retry in {delay:.1f}s: {outcome.reason}", "due_at": due}
            return await self._transition(message, update, dlq=False)
        if outcome.status == UNKNOWN:
            return await self._transition(message, {"status": UNKNOWN, "status_reason": outcome.reason}, dlq=False)
        return await self._transition(message, {"status": FAILED, "status_reason": outcome.reason}, dlq=True)

    async def _settle(self, message: MessageView, from_status: str, status: str, reason: str, due_at=None):
        """A decision taken before the claim (skip, defer, fail) for the dispatch in hand."""
        update: dict = {"status": status, "status_reason": reason}
        if due_at is not None:
            update["due_at"] = due_at
        return await self._transition(message, update, dlq=status == FAILED, from_status=from_status, gen=message.gen)

    async def _transition(
        self, message: MessageView, update: dict, dlq: bool, from_status: str = "sending", gen=None, delivered=False
    ) -> str | None:
        now = self.clock.now()
        done: dict = {}

        async def work(session) -> None:
            doc = await self.store.finish(message.workspace, message.id, update, now, session, from_status, gen)
            done["doc"] = doc
            if doc is None:
                return
            event = status_event(doc)
            await self.relay.add(Topics.MESSAGES_STATUS, doc["person_id"], event, session)
            if dlq:
                await self.relay.add(Topics.MESSAGES_DLQ, doc["person_id"], event, session)
            if delivered and self.engagement is not None:
                await self.engagement.queue(doc, "Message Delivered", {}, now, session)

        await in_transaction(self.client, work)
        self.relay.notify()
        doc = done.get("doc")
        if doc is None:
            # Forgotten meanwhile (erasure deletes the document) or already moved on.
            return None
        log.info(
            "message " + doc["status"],
            extra={"message_id": message.id, "status": doc["status"], "reason": doc.get("status_reason", "")},
        )
        return doc["status"]


async def redispatch(client, store: MessagingStore, relay: OutboxRelay, doc: dict, now, from_status: str) -> bool:
    """Queue a message again under a new generation, with its outbound record, atomically."""
    done = {}

    async def work(session) -> None:
        queued = await store.requeue(doc, now, session, from_status)
        done["doc"] = queued
        if queued is not None:
            await relay.add(outbound_topic(queued["category"]), queued["person_id"], outbound(queued), session)

    await in_transaction(client, work)
    relay.notify()
    return done.get("doc") is not None
