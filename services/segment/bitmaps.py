"""The bitmap index in Redis: one bit per person (dense uid) per indexed value.

Keys are sharded by uid range with the workspace and shard as the Redis
Cluster hash tag (bitmap_keys.py lists every key); which bitmaps a value sets
is in encoding.py; how a rule becomes bitmap operations is in plan.py; the Lua
that does each step atomically on one shard is in bitmap_scripts.py; round
trips (pooled, or to every cluster node at once) are in bitmap_transport.py;
person locks in person_locks.py. This module is the index itself: writes,
erasure and reads.

A write sets a person's attribute to its current value (profile.changed
`after`): the old value's bits are found from `vs:<path>` and cleared in the
same script, so replays and out-of-date `before`s cannot leave stale bits.

Erasing a person (merged away or forgotten) clears its bit in every bitmap of
its shard, listed by the `keys` registry that every write maintains. The
`gone` mark keeps an erased uid erased although the bitmap writer
(profile.changed) and the eraser (identity events) are separate consumer
groups and may run in either order: a change for a forgotten uid never sets a
bit again, and a change for a merged-away uid is applied only when it is newer
than the merge (i.e. it follows an unmerge).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import redis.asyncio as aioredis

from services.kit.rules import Node
from services.segment import bitmap_scripts as lua
from services.segment import encoding as enc
from services.segment.bitmap_keys import (
    OUTBOXES,
    alive_key,
    erasing_key,
    free_key,
    glob_escape,
    gone_key,
    meta_keys,
    outbox_key,
    pid_key,
    registry_key,
    scanned_key,
    shard_key,
    shards_key,
    steps_key,
    tag,
    values_key,
)
from services.segment.bitmap_transport import Transport
from services.segment.encoding import SHARD_BITS, shard_of
from services.segment.person_locks import PERSON_LOCK_MS, PersonLocks
from services.segment.plan import Meta, Program, compile_rule, run_on_bits

# bulk.py imports the key names it needs from here, this one under its old private name (bulk.py
# is being changed elsewhere right now); once its import names bitmap_keys, this alias goes.
_scanned_key = scanned_key

MERGED = "m"
FORGOTTEN = "f"
_CLEAR_CHUNK = 500
MAX_VALUES = 1000  # distinct text values indexed per attribute and workspace
_META_REPLIES = 6  # replies of BitmapIndex._meta_commands


def _now_ms() -> int:
    return int(time.time() * 1000)


Resolve = Callable[[str], Node]
log = logging.getLogger(__name__)


class BitmapIndex:
    def __init__(self, redis: aioredis.Redis, max_values: int = MAX_VALUES) -> None:
        self.redis = redis
        self.max_values = max_values
        self.transport = Transport(redis, scripts=(lua.RUN,))
        self.locks = PersonLocks(redis)
        self._admit = redis.register_script(lua.ADMIT)
        self._admitted: set[tuple[str, str, str]] = set()
        self._run = redis.register_script(lua.RUN)
        self._apply = redis.register_script(lua.APPLY)
        self._activity = redis.register_script(lua.ACTIVITY)
        self._flip = redis.register_script(lua.FLIP)
        self._max = redis.register_script(lua.MAX)
        self._mark_gone = redis.register_script(lua.MARK_GONE)
        self._clear = redis.register_script(lua.CLEAR)
        self._restore = redis.register_script(lua.RESTORE)
        self._prune = redis.register_script(lua.PRUNE)
        self._outboxes: set[str] = set()
        self._wide_cache: dict[str, tuple[float, set[str]]] = {}
        # (workspace, path) -> (when, slices this process recorded): skips the round trip of a
        # _max that cannot change anything (kept a second, like the wide cache, so a reset
        # index is noticed).
        self._slices_seen: dict[tuple[str, str], tuple[float, int]] = {}

    def person_lock(
        self, workspace: str, *uids: int, ttl_ms: int = PERSON_LOCK_MS
    ) -> AbstractAsyncContextManager[None]:
        """Hold the persons for one record's work (see person_locks.py)."""
        return self.locks.hold(workspace, *uids, ttl_ms=ttl_ms)

    # -- writes (idempotent: they set a person's current values) -------------
    async def apply(
        self, workspace: str, uid: int, values: dict[str, Any], at_ms: int | None = None, person_id: str = ""
    ) -> bool:
        """Set the person's attributes (path -> current value, None when absent) in every bitmap.

        False when dropped because the uid is forgotten, or merged away since `at_ms`.
        """
        shard, offset = shard_of(uid)
        args: list[Any] = []
        slices: dict[str, int] = {}
        small: set[str] = set()
        wide, negative = [], []
        known_wide = await self._wide(workspace)
        for path, value in values.items():
            number = enc.as_number(path, value)
            if number is not None and enc.small_int(path, number) is None:
                known_wide.add(path)
        for path, value in values.items():
            e = enc.encode(path, value, path in known_wide)
            if e.values and e.number is None and not path.startswith("tags.") and await self._free(workspace, path, e):
                e.values = []  # free text (emails, names): only "exists" is indexed
            magnitude = -1 if e.number is None else abs(e.number)
            if e.number is not None:
                slices[path] = max(slices.get(path, 0), abs(e.number).bit_length())
                if e.number < 0:
                    negative.append(path)
                if enc.small_int(path, e.number) is None:
                    wide.append(path)
                else:
                    small.add(path)
            args += [path, magnitude, int(e.number is not None and e.number < 0), int(e.exists), len(e.values)]
            args += e.values
        await self._note_meta(workspace, shard, slices, wide, negative, small)
        applied = await self._apply(
            keys=[
                gone_key(workspace, shard),
                alive_key(workspace, shard),
                registry_key(workspace, shard),
                scanned_key(workspace, shard),
                pid_key(workspace, shard),
                shard_key(workspace, shard, "ns"),
            ],
            args=[uid, _now_ms() if at_ms is None else at_ms, offset, person_id, tag(workspace, shard) + ":", *args],
        )
        return bool(applied)

    async def _free(self, workspace: str, path: str, e: enc.Encoded) -> bool:
        """Whether the attribute has too many distinct values to index each (see MAX_VALUES)."""
        new = [v for v in e.values if (workspace, path, v) not in self._admitted]
        if not new:
            return False
        free = await self._admit(
            keys=[values_key(workspace, path), free_key(workspace)], args=[path, self.max_values, *new]
        )
        if free:
            return True
        if len(self._admitted) > 200_000:
            self._admitted.clear()
        self._admitted.update((workspace, path, v) for v in new)
        return False

    async def _wide(self, workspace: str) -> set[str]:
        """Paths known to be wide; only ever grows, so a cached copy errs towards writing more."""
        cached = self._wide_cache.get(workspace)
        if cached is None or time.monotonic() - cached[0] > 1.0:
            _, wide_key, _ = meta_keys(workspace)
            cached = (time.monotonic(), {w.decode() for w in await self.redis.smembers(wide_key)})
            self._wide_cache[workspace] = cached
        return set(cached[1])

    async def apply_trait_changes(
        self, workspace: str, uid: int, changes: list[tuple[str, Any, Any]], at_ms: int | None = None
    ) -> bool:
        """Traits by name -> their new values (the foundation's interface)."""
        return await self.apply(workspace, uid, {f"traits.{t}": after for t, _, after in changes}, at_ms)

    async def _note_meta(
        self, workspace: str, shard: int, slices: dict, wide: list, negative: list, small: set[str]
    ) -> None:
        # Before the bits: a compile that sees the bits must also see that it needs more slices.
        slices_key, wide_key, neg_key = meta_keys(workspace)
        pipe = self.redis.pipeline(transaction=False)
        pipe.sadd(shards_key(workspace), shard)
        if wide:
            pipe.sadd(wide_key, *wide)
        if negative:
            pipe.sadd(neg_key, *negative)
        await pipe.execute()
        for path, bits in slices.items():
            seen = self._slices_seen.get((workspace, path))
            if seen is not None and seen[1] >= bits and time.monotonic() - seen[0] < 1.0:
                continue  # recorded at least this many slices a moment ago; the hash only grows
            first = await self._max(keys=[slices_key], args=[path, bits]) == 2
            if len(self._slices_seen) > 100_000:
                self._slices_seen.clear()
            self._slices_seen[(workspace, path)] = (time.monotonic(), bits)
            if first and path in small:
                # Every value of the path written from now on sets its step bitmaps (values written
                # before this path was known did not), so the compiler may use them. Its own
                # command: the steps set lives in another slot than the slices hash on a cluster.
                await self.redis.sadd(steps_key(workspace), path)

    async def record_activity(
        self,
        workspace: str,
        uid: int,
        counts: list[tuple[str, int, int]],
        at_ms: int,
        person_id: str = "",
    ) -> bool:
        """counts: (period key suffix without ':<k>', count in the period so far, expire at)."""
        shard, offset = shard_of(uid)
        await self.redis.sadd(shards_key(workspace), shard)
        args: list[Any] = []
        for suffix, count, expire in counts:
            args += [suffix, count, expire]
        done = await self._activity(
            keys=[
                gone_key(workspace, shard),
                alive_key(workspace, shard),
                registry_key(workspace, shard),
                scanned_key(workspace, shard),
                pid_key(workspace, shard),
            ],
            args=[uid, at_ms, offset, person_id, tag(workspace, shard) + ":", enc.COUNT_CAP, *args],
        )
        return bool(done)

    async def flip(self, workspace: str, uid: int, wanted: dict[str, bool], cause: str, at_ms: int) -> list[str]:
        """Make the person's membership bits say `wanted`; returns the segments that flipped.

        Each flip and its enter/exit entry in the shard's outbox are one script, so
        neither exists without the other; the relay moves entries to Kafka.
        """
        if not wanted:
            return []
        shard, offset = shard_of(uid)
        await self._register_outbox(workspace, shard)
        segments = sorted(wanted)
        args: list[Any] = [uid, offset, workspace, cause, at_ms]
        for s in segments:
            args += [s, int(wanted[s])]
        flipped = await self._flip(
            keys=[
                outbox_key(workspace, shard),
                pid_key(workspace, shard),
                registry_key(workspace, shard),
                *(shard_key(workspace, shard, enc.membership_key(s)) for s in segments),
            ],
            args=args,
        )
        return [f.decode() if isinstance(f, bytes) else f for f in flipped]

    async def register(self, workspace: str, shard: int, *suffixes: str) -> None:
        """Put bitmaps written outside the write scripts into the shard's registry (so erasing finds them)."""
        if suffixes:
            await self.redis.sadd(registry_key(workspace, shard), *(shard_key(workspace, shard, s) for s in suffixes))

    async def _register_outbox(self, workspace: str, shard: int) -> None:
        key = outbox_key(workspace, shard)
        if key not in self._outboxes:
            await self.redis.sadd(OUTBOXES, key)
            self._outboxes.add(key)

    async def retire(
        self, workspace: str, uid: int, kind: str, at_ms: int, cause: str = "", segments: list[str] | None = None
    ) -> int | None:
        """Erase a uid from every bitmap of its shard, `alive` and memberships included.

        kind is MERGED (the uid was merged into another person) or FORGOTTEN.
        Each segment the uid was a member of announces its exit (reason "merged" or
        "forgotten"), written with the bit clear. Returns how many bits were cleared,
        or None when the erase was stale (a merge that an unmerge already undid) or
        interrupted by an unmerge. Idempotent: a replay clears and announces nothing more.
        """
        shard, offset = shard_of(uid)
        gone = gone_key(workspace, shard)
        mark = await self._mark_gone(keys=[gone], args=[uid, kind, at_ms])
        if mark is None:
            return None
        await self._register_outbox(workspace, shard)
        reason = "merged" if kind == MERGED else "forgotten"
        prefix = shard_key(workspace, shard, enc.membership_key(""))
        cleared = 0
        # The segments' membership bitmaps first: ones written before they were registered
        # are not in the registry (a key met twice clears and announces nothing the second time).
        memberships = [shard_key(workspace, shard, enc.membership_key(s)) for s in segments or []]
        chunks = [memberships[i : i + _CLEAR_CHUNK] for i in range(0, len(memberships), _CLEAR_CHUNK)]

        async def every_chunk():
            for c in chunks:
                yield c
            async for c in self._bitmap_keys(workspace, shard):
                yield c

        held: list[bytes] = []
        if kind == FORGOTTEN:
            # Kept in Redis until pruned: a pass that fails after clearing the bits (a timeout, a
            # rebalance) is retried, and the retry no longer finds the bits that name the values.
            erasing = erasing_key(workspace, shard, uid)
            found = await self._values_held(workspace, shard, offset)
            if found:
                await self.redis.sadd(erasing, *found)
            held = sorted(await self.redis.smembers(erasing))
        async for chunk in every_chunk():
            n = await self._clear(
                keys=[gone, outbox_key(workspace, shard), pid_key(workspace, shard), *chunk],
                args=[uid, mark, offset, workspace, cause or f"{reason}:{uid}", at_ms, reason, prefix],
            )
            if n < 0:
                return None
            cleared += n
        if kind == FORGOTTEN:
            await self.redis.hdel(pid_key(workspace, shard), uid)
            await self._prune_values(workspace, shard, held)
            await self.redis.delete(erasing)
        return cleared

    async def _values_held(self, workspace: str, shard: int, offset: int) -> list[bytes]:
        """The value bitmaps of the shard that have this person's bit set."""
        value_prefix = (tag(workspace, shard) + ":v:").encode()
        held: list[bytes] = []
        async for chunk in self._bitmap_keys(workspace, shard):
            keys = [k for k in chunk if k.startswith(value_prefix)]
            if not keys:
                continue
            pipe = self.redis.pipeline(transaction=False)
            for key in keys:
                pipe.getbit(key, offset)
            held += [k for k, bit in zip(keys, await pipe.execute(), strict=True) if bit]
        return held

    async def _prune_values(self, workspace: str, shard: int, keys: list[bytes]) -> None:
        """Drop the value bitmaps an erased person was the last to hold, and their values' names.

        A value bitmap's key, its `vs` entry and the workspace's `vals` entry
        name the value (an email, a nickname); after a forget nothing may. The
        `vals` entry goes only when no shard has the value's bitmap any more.
        """
        prefix = tag(workspace, shard) + ":"
        shards = None
        for key in keys:
            suffix = key.decode()[len(prefix) :]
            path = await self._path_of(workspace, shard, suffix)
            if path is None:
                continue
            gone = await self._prune(
                keys=[key, registry_key(workspace, shard), shard_key(workspace, shard, f"vs:{path}")], args=[suffix]
            )
            if not gone:
                continue
            if shards is None:
                shards = [int(s) for s in await self.redis.smembers(shards_key(workspace))]
            if not any([await self.redis.exists(shard_key(workspace, s, suffix)) for s in shards]):
                await self.redis.srem(values_key(workspace, path), suffix)
                self._admitted.discard((workspace, path, suffix))

    async def _path_of(self, workspace: str, shard: int, suffix: str) -> str | None:
        """The attribute of a value bitmap `v:<path>:<value>` (a path may hold ':'): the one whose `vs` lists it."""
        body = suffix[2:]
        cut = body.find(":")
        while cut > 0:
            path = body[:cut]
            if await self.redis.sismember(shard_key(workspace, shard, f"vs:{path}"), suffix):
                return path
            cut = body.find(":", cut + 1)
        return None

    async def restore(self, workspace: str, uid: int, at_ms: int) -> bool:
        """An unmerge gave the uid back: make it alive (its traits come through profile.changed)."""
        shard, offset = shard_of(uid)
        await self.redis.sadd(shards_key(workspace), shard)
        restored = await self._restore(
            keys=[
                gone_key(workspace, shard),
                alive_key(workspace, shard),
                registry_key(workspace, shard),
                scanned_key(workspace, shard),
            ],
            args=[uid, at_ms, offset],
        )
        return bool(restored)

    async def gone(self, workspace: str, uid: int, at_ms: int) -> bool:
        """Whether a change made at `at_ms` for this uid must be dropped (see retire)."""
        shard, _ = shard_of(uid)
        mark = await self.redis.hget(gone_key(workspace, shard), uid)
        if not mark:
            return False
        mark = mark.decode()
        return mark[0] == "f" or (mark[0] == "m" and at_ms <= int(mark[2:]))

    async def _bitmap_keys(self, workspace: str, shard: int) -> AsyncIterator[list[bytes]]:
        """The shard's bitmap keys from its registry, in chunks for one script call each."""
        await self._backfill_registry(workspace, shard)
        chunk: list[bytes] = []
        async for key in self.redis.sscan_iter(registry_key(workspace, shard), count=_CLEAR_CHUNK):
            chunk.append(key)
            if len(chunk) >= _CLEAR_CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    async def _backfill_registry(self, workspace: str, shard: int) -> None:
        """Register bitmaps written before the registry existed: one SCAN per shard, ever."""
        scanned = scanned_key(workspace, shard)
        if await self.redis.exists(scanned):
            return
        if not await self.redis.exists(alive_key(workspace, shard)):
            # Every write ever made sets alive: without it the shard holds no bitmap to find.
            await self.redis.set(scanned, b"1")
            return
        shard_tag = tag(workspace, shard)
        skip = (f"{shard_tag}:tmp:".encode(), scanned.encode())
        registry = registry_key(workspace, shard)
        found: list[bytes] = []
        async for key in self.redis.scan_iter(match=f"{glob_escape(shard_tag)}:*", count=1000, _type="string"):
            if not key.startswith(skip[0]) and key != skip[1]:
                found.append(key)
                if len(found) >= _CLEAR_CHUNK:
                    await self.redis.sadd(registry, *found)
                    found = []
        if found:
            await self.redis.sadd(registry, *found)
        await self.redis.set(scanned, b"1")

    # -- reads ---------------------------------------------------------------
    async def shards(self, workspace: str) -> list[int]:
        return sorted(int(s) for s in await self.redis.smembers(shards_key(workspace)))

    @staticmethod
    def _meta_commands(workspace: str) -> list[tuple]:
        slices_key, wide_key, neg_key = meta_keys(workspace)
        return [
            ("HGETALL", slices_key),
            ("SMEMBERS", wide_key),
            ("SMEMBERS", neg_key),
            ("SMEMBERS", shards_key(workspace)),
            ("SMEMBERS", free_key(workspace)),
            ("SMEMBERS", steps_key(workspace)),
        ]

    @staticmethod
    def _meta_of(replies: list[Any]) -> Meta:
        slices, wide, negative, shards, free, steps = replies
        if isinstance(slices, list):  # HGETALL as a flat list (no response callback on this path)
            slices = dict(zip(slices[::2], slices[1::2], strict=True))
        return Meta(
            slices={k.decode(): int(v) for k, v in slices.items()},
            wide={w.decode() for w in wide},
            negative={n.decode() for n in negative},
            shards=sorted(int(s) for s in shards),
            free={f.decode() for f in free},
            steps={p.decode() for p in steps},
        )

    async def meta(self, workspace: str) -> Meta:
        """What the compiler needs, and the shards in use, in one round trip."""
        return self._meta_of(await self.transport.roundtrip(self._meta_commands(workspace)))

    async def compile(
        self, workspace: str, node: Node, today: dt.date | None = None, resolve: Resolve | None = None
    ) -> Program:
        today = today or dt.datetime.now(dt.UTC).date()
        return compile_rule(node, await self.meta(workspace), today, resolve)

    async def count(
        self, workspace: str, node: Node, today: dt.date | None = None, resolve: Resolve | None = None
    ) -> int:
        """Members of the rule over every shard; shards run concurrently."""
        meta = await self.meta(workspace)
        program = compile_rule(node, meta, today or dt.datetime.now(dt.UTC).date(), resolve)
        return await self.count_program(workspace, program, meta.shards)

    def _run_call(
        self,
        workspace: str,
        shard: int,
        program: Program,
        mode: str = "count",
        dest: str = "",
        ttl_ms: int = 0,
        limit: int = 0,
        segment: str = "",
        cause: str = "",
        at_ms: int = 0,
    ) -> tuple[list[str], list[Any]]:
        """KEYS and ARGV of the program runner over one shard."""
        temporaries = program.temporaries + 1
        keys = [
            *(shard_key(workspace, shard, k) for k in program.keys),
            alive_key(workspace, shard),
            dest or shard_key(workspace, shard, "tmp:dest"),
            outbox_key(workspace, shard),
            pid_key(workspace, shard),
            registry_key(workspace, shard),
            *(shard_key(workspace, shard, f"tmp:{n}") for n in range(temporaries)),
        ]
        head = [len(program.keys), mode, ttl_ms, limit, shard << SHARD_BITS, workspace, segment, cause, at_ms]
        return keys, [*head, *program.code]

    async def run_shard(self, workspace: str, shard: int, program: Program, **options) -> int:
        """One shard's script on its own (stores, reconciles)."""
        keys, args = self._run_call(workspace, shard, program, **options)
        return int(await self._run(keys=keys, args=args))

    def _count_commands(self, workspace: str, shards: list[int], program: Program) -> list[tuple]:
        if program.code[:1] == ["K"] and len(program.code) == 2:
            return [("BITCOUNT", shard_key(workspace, s, program.keys[0])) for s in shards]
        commands = []
        for s in shards:
            keys, args = self._run_call(workspace, s, program)
            commands.append(("EVALSHA", self._run.sha, len(keys), *keys, *args))
        return commands

    async def count_program(self, workspace: str, program: Program, shards: list[int] | None = None) -> int:
        """The program's count over every shard: one script per shard, all sent in one round trip.

        Redis runs them one after another; on a cluster the client splits the
        pipeline by node, and the nodes' shards run side by side.
        """
        shards = await self.shards(workspace) if shards is None else shards
        if not shards:
            return 0
        key = ("count", workspace, tuple(shards), tuple(program.keys), tuple(program.code))
        replies = await self.transport.roundtrip(lambda: self._count_commands(workspace, shards, program), key)
        return int(sum(int(c) for c in replies))

    async def count_checked(self, workspace: str, program: Program, meta: Meta) -> int | None:
        """Count with a program compiled against `meta`, read again in the same round trip.

        None when the workspace's meta is no longer `meta` (the program may be
        out of date): the caller compiles again. Saves the separate meta round trip.
        """
        key = ("count+meta", workspace, tuple(meta.shards), tuple(program.keys), tuple(program.code))

        def commands() -> list[tuple]:
            return self._meta_commands(workspace) + self._count_commands(workspace, meta.shards, program)

        replies = await self.transport.roundtrip(commands, key)
        if self._meta_of(replies[:_META_REPLIES]) != meta:
            return None
        return int(sum(int(c) for c in replies[_META_REPLIES:]))

    def _bit_commands(self, workspace: str, uid: int, suffixes: list[str]) -> list[tuple]:
        shard, offset = shard_of(uid)
        return [("GETBIT", alive_key(workspace, shard), offset)] + [
            ("GETBIT", shard_key(workspace, shard, s), offset) for s in suffixes
        ]

    @staticmethod
    def _decide(programs: list[Program], suffixes: list[str], bits: list[Any]) -> list[bool]:
        alive = bool(bits[0])
        if not alive:
            return [False] * len(programs)
        values = {s: bool(b) for s, b in zip(suffixes, bits[1:], strict=True)}
        return [run_on_bits(p, values, alive) for p in programs]

    async def evaluate_bits(self, workspace: str, uid: int, programs: list[Program]) -> list[bool]:
        """Whether one person matches each program: one round trip for every bit needed."""
        suffixes = sorted({k for p in programs for k in p.keys})
        return self._decide(
            programs, suffixes, await self.transport.roundtrip(self._bit_commands(workspace, uid, suffixes))
        )

    async def evaluate_checked(
        self, workspace: str, uid: int, programs: list[Program], meta: Meta
    ) -> list[bool] | None:
        """evaluate_bits for programs compiled against `meta`, re-read in the same round trip (see count_checked)."""
        suffixes = sorted({k for p in programs for k in p.keys})
        replies = await self.transport.roundtrip(
            self._meta_commands(workspace) + self._bit_commands(workspace, uid, suffixes)
        )
        if self._meta_of(replies[:_META_REPLIES]) != meta:
            return None
        return self._decide(programs, suffixes, replies[_META_REPLIES:])

    async def matches(self, workspace: str, uid: int, nodes: list[Node], today: dt.date | None = None) -> list[bool]:
        meta = await self.meta(workspace)
        today = today or dt.datetime.now(dt.UTC).date()
        return await self.evaluate_bits(workspace, uid, [compile_rule(n, meta, today) for n in nodes])
