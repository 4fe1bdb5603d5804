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
from dataclasses import dataclass, field
from typing import Any

from cdp.messaging.v1 import events_pb2
from services.kit.clock import Clock
from services.kit.mongo import in_transaction
from services.kit.outbox import OutboxRelay
from services.messaging import metrics as messaging_metrics
from services.messaging.limits import CapCheck, FrequencyCaps, RateLimiter, rate_key
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
from services.messaging.outbound import outbound, outbound_topic
from services.messaging.outcomes import Recorder, Transition
from services.messaging.policy import Policy, quiet_until, safe_zone
from services.messaging.providers import RETRY, Outcome, Provider
from services.messaging.store import MessagingStore
from services.messaging.views import MessageView

log = logging.getLogger(__name__)

# Messages claimed (and then sent) together: one update_many of SecantusDB's cheap $in size.
CLAIM_CHUNK = 50


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
        self.timings = StageTimes()

    async def _policy(self, workspace: str) -> Policy:
        return Policy.of(await self.store.policy(workspace))

    async def deliver_event(self, event: events_pb2.OutboundMessage) -> str | None:
        return await self.deliver(view_of_event(event))

    async def deliver_events(self, events: list[events_pb2.OutboundMessage]) -> list[str | None]:
        return await self.deliver_many([view_of_event(e) for e in events])

    async def deliver(self, message: MessageView) -> str | None:
        """Act on one outbound record; the status it left the message in, or None when not ours."""
        (status,) = await self.deliver_many([message])
        return status

    async def deliver_many(self, messages: list[MessageView]) -> list[str | None]:
        """Act on a poll's outbound records together; for each, the status it left its message in.

        None: not ours (an old or duplicate record, a message no longer queued;
        the guarded claim or transition stops it, so the checks run on the
        record's own copy of the fields, without a read first). Each step is
        taken for the whole batch at once: one Redis round trip for opt-outs,
        one for caps, one per rate-limit key and wait; then 50 at a time one
        claim, the provider calls side by side, and the outcomes in the group
        commit.
        """
        await self.optouts.ready.wait()
        started = time.perf_counter()
        now = self.clock.now()
        statuses: list[str | None] = [None] * len(messages)
        decided: list[tuple[int, Transition]] = []
        items: list[_Item] = []
        # One record per message: the newest dispatch (an older one can never be claimed while a
        # newer exists, and acting on it too would count, then give back, the message's cap place).
        newest: dict[str, int] = {}
        for i, m in enumerate(messages):
            if m.id not in newest or m.gen > messages[newest[m.id]].gen:
                newest[m.id] = i
        for i, m in enumerate(messages):
            if newest[m.id] != i:
                continue
            channel = await self.channels.get(m.workspace, m.channel)
            if channel is None:
                decided.append((i, _settle(m, FAILED, f"channel {m.channel!r} no longer exists")))
                continue
            policy: Policy = await self.policies.get(m.workspace)
            items.append(_Item(i, m, channel, policy, safe_zone(m.timezone, policy.default_timezone)))

        outs = await self.optouts.are_out([(i.m.workspace, i.m.person_id, i.m.channel, i.m.category) for i in items])
        checked: list[_Item] = []
        for it, out in zip(items, outs, strict=True):
            m, policy = it.m, it.policy
            if out:
                reason = f"person unsubscribed from {m.category} on {m.channel}"
                decided.append((it.index, _settle(m, SKIPPED, reason)))
                continue
            if m.category == MARKETING:
                until = quiet_until(now, it.tz, policy.quiet_start, policy.quiet_end)
                if until is not None:
                    hours = f"{policy.quiet_start}-{policy.quiet_end}"
                    reason = f"quiet hours {hours} in {it.tz.key}; due {until.isoformat()}"
                    decided.append((it.index, _settle(m, DEFERRED, reason, due_at=until)))
                    continue
            # Caps without a category bind marketing only: transactional messages skip marketing caps.
            it.caps = [c for c in policy.caps_for(m.channel, m.category) if c.category or m.category == MARKETING]
            checked.append(it)

        capped = [it for it in checked if it.caps]
        verdicts = await self.caps.check_many([it.cap_check() for it in capped], now)
        refused = set()
        for it, verdict in zip(capped, verdicts, strict=True):
            it.counted = verdict.counted
            if not verdict.allowed:
                refused.add(it.index)
                decided.append((it.index, _settle(it.m, SKIPPED, f"frequency cap: {verdict.cap.describe()}")))
                messaging_metrics.CAP_SKIPS.labels(it.channel["type"]).inc()
        checked = [it for it in checked if it.index not in refused]
        self.timings.add("checks", started)

        started = time.perf_counter()
        ready, late = await self._rate_limit(checked)
        for it, wait in late:
            due = self.clock.now() + dt.timedelta(seconds=wait)
            decided.append((it.index, _settle(it.m, DEFERRED, "provider rate limit", due_at=due)))
        self.timings.add("rate limit", started)

        # Claimed a chunk at a time, each chunk's provider calls going out as soon as its claim is
        # durable and its outcomes recorded as soon as they are in: a message spends as little time
        # "sending" as it can, well inside the lease after which reconcile takes it for crashed.
        await self.caps.release_many([it.counted_check() for it, _ in late if it.counted], now)
        parts = [self.recorder.record_many([t for _, t in decided])]
        parts += [self._send(ready[i : i + CLAIM_CHUNK], now) for i in range(0, len(ready), CLAIM_CHUNK)]
        done = await asyncio.gather(*parts)
        for (i, _), doc in zip(decided, done[0], strict=True):
            # None: forgotten meanwhile (erasure deletes the document), or a stale record.
            statuses[i] = doc["status"] if doc is not None else None
        for part in done[1:]:
            for i, status in part:
                statuses[i] = status
        self.timings.count(len(messages))
        messaging_metrics.count_deliveries(statuses, items)
        return statuses

    async def _send(self, chunk: list[_Item], now) -> list[tuple[int, str | None]]:
        """Claim, call, record one chunk of a batch; (index, status) of each message it acted on."""
        started = time.perf_counter()
        claimed = await self.store.claim_many([(it.m.workspace, it.m.id, it.m.gen) for it in chunk], self.clock.now())
        sending = [(it, MessageView.of(claimed[it.m.id])) for it in chunk if it.m.id in claimed]
        self.timings.add("claim", started)

        started = time.perf_counter()
        outcomes = await asyncio.gather(*(self._call(it, message) for it, message in sending), return_exceptions=True)
        self.timings.add("providers", started)

        started = time.perf_counter()
        recorded: list[tuple[int, Transition]] = []
        # One time for the chunk's outcomes, so that equal outcomes are one write (see finish_many).
        done_at = self.clock.now()
        unsent = [it for it in chunk if it.m.id not in claimed]
        for (it, message), outcome in zip(sending, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                # Left "sending": the provider may have it; reconcile decides after the lease, as after a crash.
                log.error("provider call failed", exc_info=outcome, extra={"message_id": message.id})
                continue
            if outcome.status != SENT:
                unsent.append(it)
            max_attempts = it.channel.get("config", {}).get("max_attempts") or self.retry.max_attempts
            recorded.append((it.index, self._outcome(message, outcome, max_attempts, done_at)))
        # Only the places this delivery took: a redelivered record of a message already sent took
        # none, and giving its place back would let the person receive one more than the cap.
        await self.caps.release_many([it.counted_check() for it in unsent if it.counted], now)
        docs = await self.recorder.record_many([t for _, t in recorded])
        self.timings.add("record", started)
        return [(i, doc["status"] if doc is not None else None) for (i, _), doc in zip(recorded, docs, strict=True)]

    async def _rate_limit(self, items: list[_Item]) -> tuple[list[_Item], list[tuple[_Item, float]]]:
        """The items the provider limits let go now (after short waits), and those to defer with their wait."""
        groups: dict[str, list[_Item]] = {}
        ready: list[_Item] = []
        for it in items:
            if it.channel.get("config", {}).get("rate"):
                groups.setdefault(rate_key(it.m.workspace, it.m.channel, it.channel["type"]), []).append(it)
            else:
                ready.append(it)
        late: list[tuple[_Item, float]] = []
        for allowed, deferred in await asyncio.gather(*(self._limit(key, group) for key, group in groups.items())):
            ready += allowed
            late += deferred
        return ready, late

    async def _limit(self, key: str, group: list[_Item]):
        config = group[0].channel["config"]
        allowed: list[_Item] = []
        pending = group
        while pending:
            granted, wait = await self.limiter.acquire_many(key, config["rate"], config.get("burst", 1), len(pending))
            allowed, pending = allowed + pending[:granted], pending[granted:]
            if not pending:
                break
            if wait > self.max_inline_wait:
                return allowed, [(it, wait) for it in pending]
            messaging_metrics.RATE_LIMIT_WAIT.labels(group[0].channel["type"]).observe(wait)
            await asyncio.sleep(wait)
        return allowed, []

    async def _call(self, it: _Item, message: MessageView) -> Outcome:
        provider = self.providers.get(it.channel["type"])
        if provider is None:
            return Outcome(FAILED, f"channel type {it.channel['type']!r} has no provider")
        return await provider.deliver(it.channel, message)

    def _outcome(self, message: MessageView, outcome: Outcome, max_attempts: int, now) -> Transition:
        """The transition out of "sending" that a provider's answer calls for."""
        if outcome.status == SENT:
            update: dict = {"status": DELIVERED if outcome.delivered else SENT, "status_reason": "", "sent_at": now}
            if outcome.provider_id:
                update["provider_id"] = outcome.provider_id
            if outcome.delivered:
                update["delivered_at"] = now
            return Transition(message, update, SENDING, delivered=outcome.delivered)
        if outcome.status == RETRY:
            if message.attempts >= max_attempts:
                reason = f"gave up after {message.attempts} attempts: {outcome.reason}"
                return Transition(message, {"status": FAILED, "status_reason": reason}, SENDING, dlq=True)
            delay = self.retry.delay(message.attempts, outcome.retry_after)
            due = now + dt.timedelta(seconds=delay)
            update = {"status": DEFERRED, "status_reason": f"retry in {delay:.1f}s: {outcome.reason}", "due_at": due}
            return Transition(message, update, SENDING)
        if outcome.status == UNKNOWN:
            return Transition(message, {"status": UNKNOWN, "status_reason": outcome.reason}, SENDING)
        return Transition(message, {"status": FAILED, "status_reason": outcome.reason}, SENDING, dlq=True)

    async def transition(self, transition: Transition) -> str | None:
        """Record one status change (group-committed); the status it left, None when its guard missed."""
        doc = await self.recorder.record(transition)
        return doc["status"] if doc is not None else None


@dataclass
class _Item:
    """One outbound record on its way through a batch, with what its checks looked up."""

    index: int
    m: MessageView
    channel: dict
    policy: Policy
    tz: Any
    caps: list = field(default_factory=list)
    counted: list = field(default_factory=list)  # the caps this delivery counted the message in

    def cap_check(self) -> CapCheck:
        m = self.m
        return CapCheck(m.workspace, m.person_id, m.channel, m.category, m.id, self.caps, self.tz)

    def counted_check(self) -> CapCheck:
        """What to give back if the message is not sent after all."""
        m = self.m
        return CapCheck(m.workspace, m.person_id, m.channel, m.category, m.id, self.counted, self.tz)


def _settle(message: MessageView, status: str, reason: str, due_at=None) -> Transition:
    """A decision taken before the claim (skip, defer, fail) for the dispatch in hand."""
    update: dict = {"status": status, "status_reason": reason}
    if due_at is not None:
        update["due_at"] = due_at
    return Transition(message, update, QUEUED, gen=message.gen, dlq=status == FAILED)


class StageTimes:
    """Seconds spent per stage of batched delivery, logged now and then: where the time goes."""

    def __init__(self, every: float = 30.0, messages: int = 200) -> None:
        # At most a line a second while busy, one every `every` seconds otherwise.
        self.every = every
        self.every_messages = messages
        self.seconds: dict[str, float] = {}
        self.messages = 0
        self.batches = 0
        self._since = time.monotonic()

    def add(self, stage: str, started: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - started

    def count(self, messages: int) -> None:
        self.messages += messages
        self.batches += 1
        elapsed = time.monotonic() - self._since
        if elapsed >= self.every or (self.messages >= self.every_messages and elapsed >= 1.0):
            self.flush()

    def flush(self) -> None:
        if self.messages:
            per = {k: round(v * 1000 / self.messages, 3) for k, v in self.seconds.items()}
            log.info(
                "delivery stages, ms per message",
                extra={"messages": self.messages, "batches": self.batches, "stages": per},
            )
        self.seconds, self.messages, self.batches, self._since = {}, 0, 0, time.monotonic()


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
