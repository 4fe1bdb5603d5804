"""segment's own metrics (the kit's HTTP, gRPC, Kafka and outbox metrics come on top)."""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio.cluster import RedisCluster

from services.kit.metrics import LATENCY_BUCKETS, gauge, histogram

log = logging.getLogger(__name__)

COUNT_DURATION = histogram(
    "cdp_segment_count_duration_seconds",
    "Time to count an audience over the bitmap index, by kind: preview (a rule) or segment (a saved one).",
    ["kind"],
    buckets=LATENCY_BUCKETS,
)
BITMAP_MEMORY = gauge(
    "cdp_segment_bitmap_memory_bytes",
    "Memory used by the Redis that holds the bitmap index (summed over the nodes of a Redis Cluster).",
)
BITMAP_KEYS = gauge(
    "cdp_segment_bitmap_keys", "Keys in the Redis that holds the bitmap index (summed over cluster nodes)."
)


class BitmapMemory:
    """Samples the bitmap store's memory and key count from Redis INFO, every `interval` seconds."""

    def __init__(self, redis, interval: float = 15.0) -> None:
        self.redis = redis
        self.interval = interval

    async def _infos(self, section: str) -> list[dict]:
        if hasattr(self.redis, "connection_pool"):
            return [await self.redis.info(section)]
        replies = await self.redis.info(section, target_nodes=RedisCluster.PRIMARIES)
        # Answered per node ({"host:port": {...}}), unless the cluster has a single primary.
        if replies and all(":" in str(node) for node in replies):
            return list(replies.values())
        return [replies]

    async def sample(self) -> None:
        memory = await self._infos("memory")
        keyspace = await self._infos("keyspace")
        BITMAP_MEMORY.set(sum(node.get("used_memory", 0) for node in memory))
        BITMAP_KEYS.set(sum(db.get("keys", 0) for node in keyspace for db in node.values() if isinstance(db, dict)))

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await self.sample()
            except Exception as exc:  # Redis away for a moment: the next sample retries
                log.warning("bitmap memory sample failed", extra={"error": repr(exc)})
            try:
                await asyncio.wait_for(stopping.wait(), timeout=self.interval)
            except TimeoutError:
                pass
