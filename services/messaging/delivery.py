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

from pymongo import UpdateOne

from cdp.messaging.v1 import events_pb2
from services.kit.clock import Clock
from services.kit.kafka import Topics
from services.kit.mongo import in_transaction
from services.kit.outbox import OutboxRelay
from services.kit.protos import to_timestamp
from services.messaging.limits import FrequencyCaps, RateLimiter, rate_key
from services.messaging.messages import (
    DEFERRED,
    DELIVERED,
    FAILED,
    MARKETING,
    QUEUED,
    SENDING,
    SENT,
    SKIPPED,
    UNKNOWN,
)
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


@dataclass
class Transition:
    """One status change to record: guarded by the status (and generation) it comes from."""

    message: MessageView
    update: dict
    from_status: str
    gen: int | None = None
    dlq: bool = False
    delivered: bool = False


class Recorder:
    """Group commit: outcomes of concurrent deliveries share one transaction.

    Each transition's guarded update and its messages.status (and dlq) event
    commit together, as before; what changes is that while one transaction is
    in flight the next ones queue up and go in the following one, so the
    store sees one commit per batch instead of one per message.
    """

    def __init__(
        self,
        client: Any,
        store: MessagingStore,
        relay: OutboxRelay,
        clock: Clock,
        engagement=None,
        max_batch: int = 500,
    ) -> None:
        self.client = client
        self.store = store
        self.relay = relay
        self.clock = clock
        self.engagement = engagement
        self.max_batch = max_batch
        self._pending: list[tuple[Transition, asyncio.Future]] = []
        self._task: asyncio.Task | None = None

    async def record(self, transition: Transition) -> dict | None:
        """The message document after the change; None when it was no longer in `from_status`."""
        future = asyncio.get_running_loop().create_future()
        self._pending.append((transition, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            try:
                results = await self._commit([t for t, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def _commit(self, batch: list[Transition]) -> list[dict | None]:
        """One transaction for the batch; one bulk write when every guard matches (the usual case)."""
        now = self.clock.now()
        try:
            return await self._commit_bulk(batch, now)
        except _GuardMissed:
            # Some message was no longer where its transition expected it (erased, or
            # a stale record): redo the batch one guarded update at a time.
            return await self._commit_each(batch, now)

    async def _commit_bulk(self, batch: list[Transition], now) -> list[dict | None]:
        docs = [_after(t, now) for t in batch]

        async def work(session) -> None:
            ops = [UpdateOne(_guard(t), {"$set": {**t.update, "updated_at": now}}) for t in batch]
            result = await self.store.messages.bulk_write(ops, ordered=False, session=session)
            if result.matched_count != len(batch):
                raise _GuardMissed
            await self._announce(batch, docs, now, session)

        await in_transaction(self.client, work)
        self.relay.notify()
        return docs

    async def _commit_each(self, batch: list[Transition], now) -> list[dict | None]:
        results: list[dict | None] = []

        async def work(session) -> None:
            results.clear()
            for t in batch:
                results.append(
                    await self.store.finish(
                        t.message.workspace, t.message.id, t.update, now, session, t.from_status, t.gen
                    )
                )
            await self._announce(batch, results, now, session)

        await in_transaction(self.client, work)
        self.relay.notify()
        return results

    async def _announce(self, batch: list[Transition], docs: list[dict | None], now, session) -> None:
        events = []
        for t, doc in zip(batch, docs, strict=True):
            if doc is None:
                continue
            event = status_event(doc)
            events.append((Topics.MESSAGES_STATUS, doc["person_id"], event))
            if t.dlq:
                events.append((Topics.MESSAGES_DLQ, doc["person_id"], event))
            if t.delivered and self.engagement is not None:
                await self.engagement.queue(doc, "Message Delivered", {}, now, session)
        await self.relay.add_many(events, session)


class _GuardMissed(Exception):
    """Aborts a bulk transition whose guards did not all match."""


def _guard(t: Transition) -> dict:
    query = {"_id": t.message.id, "workspace": t.message.workspace, "status": t.from_status}
    if t.gen is not None:
        query["gen"] = t.gen
    return query


def _after(t: Transition, now) -> dict:
    """The fields of the message after the transition that its events need."""
    m = t.message
    return {
        "_id": m.id,
        "workspace": m.workspace,
        "person_id": m.person_id,
        "channel": m.channel,
        "campaign_id": m.campaign_id,
        "template_id": m.template_id,
        "category": m.category,
        "status_reason": "",
        **t.update,
        "updated_at": now,
    }


def view_of_event(event: events_pb2.OutboundMessage) -> MessageView:
    """What the checks before the claim need, straight from the outbound record."""
    return MessageView(
        workspace=event.workspace_id,
        id=event.message_id,
        person_id=event.person_id,
        channel=event.channel,
        idempotency_key=event.idempotency_key,
        status=QUEUED,
        status_reason="",
        category=event.category,
        campaign_id=event.campaign_id,
        content=None,
        created_at=None,
        sent_at=None,
        attempts=0,
        template_id=event.template_id,
        timezone=event.timezone,
        gen=event.generation or 1,
    )


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
        optouts,
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
        self.optouts = optouts
        self.retry = retry or RetryPolicy()
        self.max_inline_wait = max_inline_wait
        self.recorder = Recorder(client, store, relay, clock, engagement)
        self.channels = Cached(store.channel)
        self.policies = Cached(self._policy)

    async def _policy(self, workspace: str) -> Policy:
        return Policy.of(await self.store.policy(workspace))

    async def deliver_event(self, event: events_pb2.OutboundMessage) -> str | None:
        return await self.deliver(view_of_event(event))

    async def deliver(self, message: MessageView) -> str | None:
        """Act on one outbound record; the status it left the message in, or None when not ours.

        A stale or duplicate record (older generation, message no longer
        queued) is stopped by the guarded claim or transition, so the checks
        below run on the record's own copy of the fields, without a read first.
        """
        await self.optouts.ready.wait()
        workspace = message.workspace
        channel = await self.channels.get(workspace, message.channel)
        if channel is None:
            return await self._settle(message, FAILED, f"channel {message.channel!r} no longer exists")
        policy: Policy = await self.policies.get(workspace)
        tz = safe_zone(message.timezone, policy.default_timezone)
        now = self.clock.now()

        if await self.optouts.is_out(workspace, message.person_id, message.channel, message.category):
            reason = f"person unsubscribed from {message.category} on {message.channel}"
            return await self._settle(message, SKIPPED, reason)
        if message.category == MARKETING:
            until = quiet_until(now, tz, policy.quiet_start, policy.quiet_end)
            if until is not None:
                reason = f"quiet hours {policy.quiet_start}-{policy.quiet_end} in {tz.key}; due {until.isoformat()}"
                return await self._settle(message, DEFERRED, reason, due_at=until)
        # Caps without a category bind marketing only: transactional messages skip marketing caps.
        caps = [
            c for c in policy.caps_for(message.channel, message.category) if c.category or message.category == MARKETING
        ]
        if caps:
            verdict = await self.caps.check(
                workspace, message.person_id, message.channel, message.category, message.id, caps, now, tz
            )
            if not verdict.allowed:
                return await self._settle(message, SKIPPED, f"frequency cap: {verdict.cap.describe()}")

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
                    return await self._settle(message, DEFERRED, "provider rate limit", due_at=due)
                await asyncio.sleep(wait)

        claimed = await self.store.claim(workspace, message.id, message.gen, self.clock.now())
        if claimed is None:
            await self._release(message, caps, now, tz)
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
            return await self._transition(Transition(message, update, SENDING, delivered=outcome.delivered))
        if outcome.status == RETRY:
            if message.attempts >= max_attempts:
                reason = f"gave up after {message.attempts} attempts: {outcome.reason}"
                return await self._transition(
                    Transition(message, {"status": FAILED, "status_reason": reason}, SENDING, dlq=True)
                )
            delay = self.retry.delay(message.attempts, outcome.retry_after)
            due = now + dt.timedelta(seconds=delay)
            update = {"status": DEFERRED, "status_reason": f"retry in {delay:.1f}s: {outcome.reason}", "due_at": due}
            return await self._transition(Transition(message, update, SENDING))
        if outcome.status == UNKNOWN:
            return await self._transition(
                Transition(message, {"status": UNKNOWN, "status_reason": outcome.reason}, SENDING)
            )
        return await self._transition(
            Transition(message, {"status": FAILED, "status_reason": outcome.reason}, SENDING, dlq=True)
        )

    async def _settle(self, message: MessageView, status: str, reason: str, due_at=None):
        """A decision taken before the claim (skip, defer, fail) for the dispatch in hand."""
        update: dict = {"status": status, "status_reason": reason}
        if due_at is not None:
            update["due_at"] = due_at
        return await self._transition(Transition(message, update, QUEUED, gen=message.gen, dlq=status == FAILED))

    async def _transition(self, transition: Transition) -> str | None:
        doc = await self.recorder.record(transition)
        if doc is None:
            # Forgotten meanwhile (erasure deletes the document), or a stale record.
            return None
        log.debug("message %s", doc["status"], extra={"message_id": doc["_id"], "reason": doc.get("status_reason")})
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
