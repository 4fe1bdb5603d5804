"""Background jobs that keep messages moving: deferred ones come back, crashed sends are reconciled.

A message is "sending" only while one worker's provider call is in flight;
the call has a hard timeout, so one still "sending" well after that (the
lease) was left by a worker that died between the claim and recording the
outcome. It is never blindly sent again:
- the provider honours idempotency keys (channel `idempotent: true`, and the
  in-app inbox, which is keyed by message id): it is queued again with the same
  key, and the provider drops the repeat if the first call had reached it;
- otherwise it becomes "unknown" with the reason, for a person to decide.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from typing import Any

from services.kit.clock import Clock
from services.kit.mongo import in_transaction
from services.kit.outbox import OutboxRelay
from services.messaging.channels import INAPP, honours_keys
from services.messaging.delivery import Deliverer, redispatch
from services.messaging.messages import SENDING, UNKNOWN
from services.messaging.outbound import outbound, outbound_topic
from services.messaging.outcomes import Transition
from services.messaging.store import MessagingStore, chunks
from services.messaging.views import MessageView

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(
        self,
        client: Any,
        store: MessagingStore,
        relay: OutboxRelay,
        clock: Clock,
        deliverer: Deliverer,
        sending_lease: float = 60.0,
        interval: float = 0.25,
    ) -> None:
        self.client = client
        self.store = store
        self.relay = relay
        self.clock = clock
        self.deliverer = deliverer
        self.sending_lease = sending_lease
        self.interval = interval
        self.requeued = 0
        self.reconciled = 0

    async def requeue_due(self, limit: int = 500) -> int:
        """Deferred messages whose time has come go back on their topic, 50 to a transaction.

        Each message moves to a new dispatch generation together with its
        outbound record (outbox), as `redispatch` does for one; a retry storm
        (a provider outage) puts hundreds of messages here every second.
        """
        now = self.clock.now()
        count = 0
        for ids in chunks([doc["_id"] for doc in await self.store.due(now, limit)]):
            moved: list[dict] = []

            async def work(session, ids=ids, moved=moved) -> None:
                moved[:] = await self.store.requeue_due(ids, now, session)
                items = [(outbound_topic(d["category"]), d["person_id"], outbound(d)) for d in moved]
                await self.relay.add_many(items, session)

            await in_transaction(self.client, work)
            self.relay.notify()
            count += len(moved)
        self.requeued += count
        return count

    async def reconcile_sending(self, limit: int = 500) -> int:
        now = self.clock.now()
        stale = await self.store.stale_sending(now - dt.timedelta(seconds=self.sending_lease), limit)
        count = 0
        for doc in stale:
            channel = await self.store.channel(doc["workspace"], doc["channel"])
            if channel is not None and (honours_keys(channel) or channel["type"] == INAPP):
                if await redispatch(self.client, self.store, self.relay, doc, now, SENDING):
                    count += 1
                    log.warning("crashed send queued again with its idempotency key", extra={"message_id": doc["_id"]})
                continue
            reason = "the worker stopped during the provider call; the outcome is unknown and it is not re-sent"
            status = await self.deliverer.transition(
                Transition(
                    MessageView.of(doc), {"status": UNKNOWN, "status_reason": reason}, SENDING, doc.get("gen", 1)
                )
            )
            if status:
                count += 1
        self.reconciled += count
        return count

    async def run(self, stopping: asyncio.Event) -> None:
        last_reconcile = 0.0
        while not stopping.is_set():
            busy = False
            try:
                busy = await self.requeue_due(limit=200) > 0
                # By the clock, not by passes: a long queue of due messages must not
                # starve the reconciling of crashed sends.
                if time.monotonic() - last_reconcile >= 5.0:
                    last_reconcile = time.monotonic()
                    await self.reconcile_sending()
            except Exception:
                log.exception("scheduler pass failed; retrying")
            if busy:
                continue
            try:
                await asyncio.wait_for(stopping.wait(), timeout=self.interval)
            except TimeoutError:
                pass
