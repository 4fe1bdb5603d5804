"""Recording a message's status change with the events that announce it, in one transaction.

Every status change of a message (an outcome of delivery, a decision taken
before the claim, a reconciled crash, a provider's receipt) is one guarded
update plus its messages.status event (and messages.dlq for failures, and a
"Message Delivered" engagement event for a delivery), committed together.
`announce` is that rule, in one place; `Recorder` group-commits the changes
of concurrent deliveries.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from cdp.messaging.v1 import events_pb2
from services.kit.clock import Clock
from services.kit.kafka import Topics
from services.kit.mongo import in_transaction
from services.kit.outbox import OutboxRelay
from services.kit.protos import to_timestamp
from services.messaging.store import MessagingStore
from services.messaging.views import MessageView


def status_event(doc: dict) -> events_pb2.MessageStatus:
    return events_pb2.MessageStatus(
        workspace_id=doc["workspace"],
        message_id=doc["_id"],
        person_id=doc["person_id"],
        status=doc["status"],
        reason=doc.get("status_reason") or "",
        at=to_timestamp(doc["updated_at"]),
        campaign_id=doc.get("campaign_id") or "",
        channel=doc.get("channel") or "",
    )


@dataclass
class Transition:
    """One status change to record: guarded by the status (and generation) it comes from."""

    message: MessageView
    update: dict
    from_status: str
    gen: int | None = None
    dlq: bool = False
    delivered: bool = False


async def announce(
    relay: OutboxRelay, changes: list[tuple[Transition, dict | None]], now, session, engagement=None
) -> None:
    """The events of recorded changes, in the caller's transaction; a change that did not apply (None) has none."""
    events = []
    for t, doc in changes:
        if doc is None:
            continue
        event = status_event(doc)
        events.append((Topics.MESSAGES_STATUS, doc["person_id"], event))
        if t.dlq:
            events.append((Topics.MESSAGES_DLQ, doc["person_id"], event))
        if t.delivered and engagement is not None:
            await engagement.queue(doc, "Message Delivered", {}, now, session)
    await relay.add_many(events, session)


async def record_one(store: MessagingStore, relay: OutboxRelay, t: Transition, now, session, engagement=None):
    """One guarded change and its events in the caller's transaction; the document after it, or None."""
    m = t.message
    doc = await store.finish(m.workspace, m.id, t.update, now, session, t.from_status, t.gen)
    await announce(relay, [(t, doc)], now, session, engagement)
    return doc


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
        (doc,) = await self.record_many([transition])
        return doc

    async def record_many(self, transitions: list[Transition]) -> list[dict | None]:
        if not transitions:
            return []
        loop = asyncio.get_running_loop()
        futures = []
        for t in transitions:
            future = loop.create_future()
            self._pending.append((t, future))
            futures.append(future)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        return list(await asyncio.gather(*futures))

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
            # Some message was no longer where its transition expected it (erased, a stale
            # record, reconciled meanwhile): redo the batch with only the ones whose guard holds.
            return await self._commit_matching(batch, now)

    async def _commit_bulk(self, batch: list[Transition], now) -> list[dict | None]:
        docs = [_after(t, now) for t in batch]

        async def work(session) -> None:
            matched = await self.store.finish_many([(_guard(t), t.update) for t in batch], now, session)
            if matched != len(batch):
                raise _GuardMissed
            await announce(self.relay, list(zip(batch, docs, strict=True)), now, session, self.engagement)

        await in_transaction(self.client, work)
        self.relay.notify()
        return docs

    async def _commit_matching(self, batch: list[Transition], now) -> list[dict | None]:
        """Read where the batch's messages are, in the transaction, and change only those still there.

        The read and the writes share one transaction, so a change that slips in
        between makes it conflict and retry rather than overwrite.
        """
        results: list[dict | None] = []

        async def work(session) -> None:
            results.clear()
            where = await self.store.statuses([t.message.id for t in batch], session)
            matching, seen = [], set()
            for t in batch:
                # Two changes of one message from the same state: the first one wins, as one by one.
                if t.message.id not in seen and _holds(t, where.get(t.message.id)):
                    matching.append(t)
                    seen.add(t.message.id)
            changes = [(_guard(t), t.update) for t in matching]
            if changes and await self.store.finish_many(changes, now, session) != len(changes):
                raise RuntimeError("messages moved inside the transaction that read them")
            kept = {id(t) for t in matching}
            results.extend(_after(t, now) if id(t) in kept else None for t in batch)
            await announce(self.relay, list(zip(batch, results, strict=True)), now, session, self.engagement)

        await in_transaction(self.client, work)
        self.relay.notify()
        return results


class _GuardMissed(Exception):
    """Aborts a bulk transition whose guards did not all match."""


def _holds(t: Transition, current: dict | None) -> bool:
    return (
        current is not None
        and current.get("workspace") == t.message.workspace
        and current.get("status") == t.from_status
        and (t.gen is None or current.get("gen", 1) == t.gen)
    )


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
