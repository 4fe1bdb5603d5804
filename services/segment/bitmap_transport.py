"""Round trips of pre-encoded commands to the bitmap index's Redis (one connection, or every cluster node).

A count or a one-person check is many commands (one script per shard, or one
GETBIT per bitmap); they go out in one write and their replies are read back
in order, on one connection of the pool, or on a Redis Cluster split by node
and sent to all nodes side by side. An encoded request can be kept under a
cache key, so a count asked again costs no encoding.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import AskError, NoScriptError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError


def _first_key(command: tuple) -> Any:
    """The key a command is routed by (EVALSHA: its first KEYS entry)."""
    return command[3] if command[0] == "EVALSHA" else command[1]


class Transport:
    def __init__(self, redis: aioredis.Redis, scripts: tuple[str, ...] = ()) -> None:
        self.redis = redis
        # Scripts the commands may EVALSHA: loaded again when Redis answers NOSCRIPT.
        self.scripts = scripts
        self._packed: dict[tuple, Any] = {}  # encoded requests (a routing plan on a cluster)
        # A Redis Cluster client (shards spread over nodes) has no single connection pool.
        self.cluster = not hasattr(redis, "connection_pool")

    async def roundtrip(self, build: Callable[[], list[tuple]] | list[tuple], cache_key: tuple | None = None) -> list:
        """Commands in one round trip (one pooled connection, or one per cluster node, all at once);
        raises the first error reply.

        With a cache key the encoded request (on a cluster: its split by node) is
        kept: a count asked again while an operator types or a dashboard refreshes
        costs no encoding.
        """
        for attempt in (1, 2):
            if self.cluster:
                replies = await self._cluster_roundtrip(build, cache_key)
            else:
                replies = await self._pooled_roundtrip(build, cache_key)
            if attempt == 1 and any(isinstance(r, NoScriptError) for r in replies):
                for script in self.scripts:  # Redis restarted or flushed its scripts
                    await self.redis.script_load(script)
                continue
            for r in replies:
                if isinstance(r, Exception):
                    raise r
            return replies
        raise AssertionError("unreachable")

    async def _cluster_roundtrip(self, build, cache_key: tuple | None) -> list:
        """Each node's share of the commands, pre-encoded, sent to all nodes at once.

        The nodes run their shards' scripts side by side. A redirection (the cluster
        moved slots) drops the cached routing and goes through the client's pipeline,
        which follows redirections.
        """
        plan = self._packed.get(cache_key) if cache_key else None
        commands = None
        if plan is None:
            await self.redis.initialize()  # the slot map (a no-op once known)
            commands = build() if callable(build) else build
            by_node: dict[str, tuple[Any, list[int]]] = {}
            for i, command in enumerate(commands):
                node = self.redis.get_node_from_key(_first_key(command))
                by_node.setdefault(node.name, (node, []))[1].append(i)
            plan = []
            for node, positions in by_node.values():
                conn = node.acquire_connection()
                try:
                    packed = b"".join(conn.pack_commands([commands[i] for i in positions]))
                finally:
                    node.release(conn)
                plan.append((node, positions, packed))
            if cache_key:
                if len(self._packed) >= 512:
                    self._packed.pop(next(iter(self._packed)))
                self._packed[cache_key] = plan
        replies: list[Any] = [None] * sum(len(p[1]) for p in plan)

        async def on(node, positions: list[int], packed: bytes) -> None:
            conn = node.acquire_connection()
            try:
                got = await self._send_all(conn, packed, len(positions))
            finally:
                node.release(conn)
            for i, reply in zip(positions, got, strict=True):
                replies[i] = reply

        failures = await asyncio.gather(*(on(*p) for p in plan), return_exceptions=True)
        lost = [f for f in failures if isinstance(f, BaseException)]
        if lost and not all(isinstance(f, (RedisConnectionError, OSError)) for f in lost):
            raise lost[0]
        if lost or any(isinstance(r, AskError) for r in replies):  # AskError: MOVED too
            # Slots moved or a node went away: learn the cluster again, drop the cached routing,
            # and let the client's pipeline (which follows redirections) answer this time.
            self._packed.pop(cache_key, None)
            await self.redis.nodes_manager.initialize()
            commands = commands or (build() if callable(build) else build)
            pipe = self.redis.pipeline(transaction=False)
            for command in commands:
                pipe.execute_command(*command)
            return await pipe.execute(raise_on_error=False)
        return replies

    async def _pooled_roundtrip(self, build, cache_key: tuple | None) -> list:
        pool = self.redis.connection_pool
        conn = await pool.get_connection()
        try:
            packed = self._packed.get(cache_key) if cache_key else None
            if packed is None:
                commands = build() if callable(build) else build
                packed = (b"".join(conn.pack_commands(commands)), len(commands))
                if cache_key:
                    if len(self._packed) >= 512:
                        self._packed.pop(next(iter(self._packed)))
                    self._packed[cache_key] = packed
            return await self._send_all(conn, *packed)
        finally:
            await pool.release(conn)

    @staticmethod
    async def _send_all(conn, packed: bytes, n: int) -> list[Any]:
        """Send pre-encoded commands and read their n replies (error replies as exceptions in the list)."""
        try:
            await conn.send_packed_command(packed)
            replies: list[Any] = []
            for _ in range(n):
                try:
                    replies.append(await conn.read_response())
                except ResponseError as exc:
                    replies.append(exc)
            return replies
        except BaseException:
            # Replies may be left unread on this connection: never hand it back in that state.
            await conn.disconnect()
            raise
