"""redis.asyncio client; one per process."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster


def connect(url: str) -> aioredis.Redis:
    return aioredis.from_url(url, decode_responses=False, health_check_interval=30)


def connect_cluster(nodes: str) -> RedisCluster:
    """A Redis Cluster client from "host:port,host:port" seed nodes (it learns the rest)."""
    seeds = []
    for node in nodes.split(","):
        host, _, port = node.strip().rpartition(":")
        seeds.append(ClusterNode(host or "127.0.0.1", int(port)))
    return RedisCluster(startup_nodes=seeds, decode_responses=False)
