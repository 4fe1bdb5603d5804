"""The outbox seen from outside the relay: backlog and lag as Prometheus metrics."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from services.kit.metrics import OUTBOX_OLDEST_AGE, OUTBOX_PENDING, REGISTRY
from services.kit.outbox import LEASES, OutboxRelay

log = logging.getLogger(__name__)


class _ObjectCounter(Collector):
    """A counter whose value an object already keeps (e.g. the outbox relay's `published`)."""

    def __init__(self, name: str, documentation: str, source: object, attribute: str) -> None:
        self.name, self.documentation, self.source, self.attribute = name, documentation, source, attribute

    def collect(self):
        family = CounterMetricFamily(self.name, self.documentation)
        family.add_metric([], float(getattr(self.source, self.attribute)))
        yield family


class OutboxWatch:
    """Samples the outbox from outside the relay: how many documents wait and how old the oldest is.

    Documents are keyed by ObjectId, whose first four bytes are the insert time,
    so the oldest pending one tells the relay's lag without any extra field. Only
    the replica whose relay holds the lease samples (the others would count the
    same collection again; on SecantusDB a count of a large backlog is a scan),
    so dashboards take `max` over a service's replicas.
    """

    def __init__(self, relay: OutboxRelay, interval: float = 15.0) -> None:
        self.relay = relay
        self.interval = interval
        REGISTRY.register(
            _ObjectCounter(
                "cdp_outbox_published_documents",
                "Outbox documents this process's relay published.",
                relay,
                "published",
            )
        )

    async def _relaying(self) -> bool:
        lease = await self.relay.db[LEASES].find_one({"_id": self.relay.lease_id}, projection={"owner": 1})
        return lease is not None and lease.get("owner") == self.relay.owner

    async def sample(self) -> None:
        if not await self._relaying():
            OUTBOX_PENDING.set(0)
            OUTBOX_OLDEST_AGE.set(0)
            return
        collection = self.relay.collection
        oldest = await collection.find_one({}, projection={"_id": 1}, sort=[("_id", 1)])
        if oldest is None:
            OUTBOX_PENDING.set(0)
            OUTBOX_OLDEST_AGE.set(0)
            return
        OUTBOX_PENDING.set(await collection.estimated_document_count())
        OUTBOX_OLDEST_AGE.set(max(0.0, (dt.datetime.now(dt.UTC) - oldest["_id"].generation_time).total_seconds()))

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await self.sample()
            except Exception as exc:  # a store hiccup must not stop the process; the next sample retries
                log.warning("outbox sample failed", extra={"error": repr(exc)})
            try:
                await asyncio.wait_for(stopping.wait(), timeout=self.interval)
            except TimeoutError:
                pass
