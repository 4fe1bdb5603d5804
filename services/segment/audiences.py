"""Segment operations shared by gRPC, GraphQL and the workers.

Definitions are read from MongoDB and cached per workspace for a second (the
real-time path asks "which segments use traits.x?" for every change); a write
through this process drops its workspace's cache at once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np

from services.kit import rules
from services.kit.clock import Clock
from services.kit.errors import Conflict, InvalidInput
from services.segment import encoding as enc
from services.segment import metrics as segment_metrics
from services.segment.bitmap_keys import pid_key, shard_key
from services.segment.bitmaps import BitmapIndex
from services.segment.people import People
from services.segment.plan import Compiler, Meta, Program, compile_rule
from services.segment.store import SegmentStore, check_name

CACHE_SECONDS = 1.0
MAX_PROGRAMS = 1024
EXPORT_TTL_MS = 60_000
RECONCILE_BATCH = 1000
MAX_SAMPLE = 10_000
MAX_PAGE = 1000


@dataclass
class Definition:
    doc: dict
    node: rules.Node
    uses: set[str]  # what it reads, references followed
    windowed: bool


class Audiences:
    def __init__(self, store: SegmentStore, people: People, index: BitmapIndex, clock: Clock) -> None:
        self.store = store
        self.people = people
        self.index = index
        self.clock = clock
        self._cache: dict[str, tuple[float, dict[str, Definition]]] = {}
        self._known_cache: dict[str, tuple[float, tuple[dict, set]]] = {}
        # (workspace, segment) -> (definitions it was compiled from, day, meta, program)
        self._programs: dict[tuple[str, str], tuple[dict, dt.date, Meta, Program]] = {}

    def today(self) -> dt.date:
        return self.clock.now().date()

    # -- definitions --------------------------------------------------------
    async def definitions(self, workspace: str) -> dict[str, Definition]:
        cached = self._cache.get(workspace)
        if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        docs = await self.store.list(workspace)
        nodes = {d["_id"]: rules.parse(d["rule"]) for d in docs}
        defs: dict[str, Definition] = {}

        def uses(segment_id: str, seen: tuple[str, ...]) -> tuple[set[str], bool]:
            node = nodes.get(segment_id)
            if node is None or segment_id in seen:
                return set(), False
            out, windowed = set(), rules.windowed(node)
            for leaf in rules.leaves(node):
                if isinstance(leaf, rules.InSegment):
                    inner, inner_windowed = uses(leaf.segment_id, (*seen, segment_id))
                    out |= inner
                    windowed = windowed or inner_windowed
                else:
                    out.add(rules.uses(leaf))
            return out, windowed

        for doc in docs:
            used, windowed = uses(doc["_id"], ())
            defs[doc["_id"]] = Definition(doc, nodes[doc["_id"]], used, windowed)
        self._cache[workspace] = (time.monotonic(), defs)
        return defs

    def _forget_cache(self, workspace: str) -> None:
        self._cache.pop(workspace, None)
        self._known_cache.pop(workspace, None)

    async def schema(self, workspace: str, defs: dict[str, Definition] | None = None) -> rules.Schema:
        cached = self._known_cache.get(workspace)
        if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
            traits, tags = cached[1]
        else:
            traits, tags = await self.people.known_fields(workspace)
            self._known_cache[workspace] = (time.monotonic(), (traits, tags))
        defs = defs if defs is not None else await self.definitions(workspace)
        by_name = {d.doc["name"]: d for d in defs.values()}

        def segment(ref: str) -> tuple[str, str] | None:
            found = defs.get(ref) or by_name.get(ref)
            return (found.doc["_id"], found.doc["rule"]) if found else None

        return rules.Schema(traits, tags, segment)

    def _resolver(self, defs: dict[str, Definition], override: dict[str, rules.Node] | None = None):
        def resolve(segment_id: str) -> rules.Node:
            if override and segment_id in override:
                return override[segment_id]
            found = defs.get(segment_id)
            if found is None:
                raise InvalidInput(f"segment {segment_id!r} no longer exists", "rule")
            return found.node

        return resolve

    async def parse(self, workspace: str, rule: str, segment_id: str | None = None) -> rules.Node:
        """Parse against the workspace's fields and segments; refuses unknown names and reference cycles."""
        self._forget_cache(workspace)
        defs = await self.definitions(workspace)
        node = rules.parse(rule, await self.schema(workspace, defs))
        override = {segment_id: node} if segment_id else None
        compiler = Compiler(await self.index.meta(workspace), self.today(), self._resolver(defs, override))
        if segment_id:
            compiler.stack.append(segment_id)
        compiler.node(node)  # a cycle raises here
        return node

    async def program(self, workspace: str, node: rules.Node) -> Program:
        defs = await self.definitions(workspace)
        return compile_rule(node, await self.index.meta(workspace), self.today(), self._resolver(defs))

    async def segment_program(self, workspace: str, segment_id: str, meta: Meta | None = None) -> Program:
        return (await self._segment_program(workspace, segment_id, meta))[1]

    async def _segment_program(
        self, workspace: str, segment_id: str, meta: Meta | None = None
    ) -> tuple[dict[str, Definition], Program]:
        """The program, with the definitions it was compiled from (what _compiled keys its cache by)."""
        defs = await self.definitions(workspace)
        found = defs.get(segment_id)
        if found is None:
            found_doc = await self.store.get(workspace, segment_id)  # NotFound, or a definition just made elsewhere
            self._forget_cache(workspace)
            defs = await self.definitions(workspace)
            found = defs.get(found_doc["_id"])
        meta = meta or await self.index.meta(workspace)
        return defs, compile_rule(found.node, meta, self.today(), self._resolver(defs))

    # -- writes -------------------------------------------------------------
    def _fields(self, rule: str, node: rules.Node) -> dict:
        return {
            "rule": rules.to_text(node),
            "source": rule.strip(),
            "uses": sorted({rules.uses(leaf) for leaf in rules.leaves(node)}),
            "refs": sorted(rules.segments_referenced(node)),
            "windowed": rules.windowed(node),
        }

    async def create(self, workspace: str, name: str, rule: str, announce_existing: bool = False) -> dict:
        name = check_name(name)
        node = await self.parse(workspace, rule)
        doc = await self.store.create(workspace, {"name": name, **self._fields(rule, node)}, self.clock.now())
        self._forget_cache(workspace)
        if announce_existing:
            # From an empty membership bitmap, reconciling enters every member with its "enter",
            # RECONCILE_BATCH per script; people who entered in real time meanwhile are not repeated.
            await self.reconcile(workspace, doc["_id"], f"create:{doc['_id']}")
        else:
            # Who is in it from the start is the baseline, not a stream of "enter" events.
            await self.baseline(workspace, doc["_id"])
        return doc

    async def update(self, workspace: str, segment_id: str, name: str | None, rule: str | None) -> dict:
        await self.store.get(workspace, segment_id)
        fields: dict = {}
        if name:
            fields["name"] = check_name(name)
        if rule:
            fields.update(self._fields(rule, await self.parse(workspace, rule, segment_id)))
        doc = await self.store.update(workspace, segment_id, fields, self.clock.now())
        self._forget_cache(workspace)
        if rule:
            # A new definition moves people in and out: those are announced like any other transition.
            await self.reconcile(workspace, segment_id, f"update:{segment_id}:{doc['updated_at'].isoformat()}")
        return doc

    async def declare_field(self, workspace: str, path: str, kind: str) -> dict:
        doc = await self.people.declare_field(workspace, path.strip(), kind.strip().lower())
        self._forget_cache(workspace)  # other replicas see it within their CACHE_SECONDS
        return doc

    async def delete(self, workspace: str, segment_id: str) -> bool:
        defs = await self.definitions(workspace)
        users = sorted(d.doc["name"] for d in defs.values() if segment_id in d.doc.get("refs", []))
        if users:
            raise Conflict(f"segment {segment_id!r} is used by {', '.join(users)}", "id")
        deleted = await self.store.delete(workspace, segment_id)
        self._forget_cache(workspace)
        if deleted:
            keys = [shard_key(workspace, s, enc.membership_key(segment_id)) for s in await self.index.shards(workspace)]
            if keys:
                await self.index.redis.delete(*keys)
        return deleted

    async def baseline(self, workspace: str, segment_id: str) -> None:
        program = await self.segment_program(workspace, segment_id)
        shards = await self.index.shards(workspace)
        await asyncio.gather(
            *(
                self.index.run_shard(
                    workspace, s, program, mode="store", dest=shard_key(workspace, s, enc.membership_key(segment_id))
                )
                for s in shards
            )
        )
        for s in shards:
            await self.index.register(workspace, s, enc.membership_key(segment_id))

    async def reconcile(self, workspace: str, segment_id: str, cause: str) -> int:
        """Flip every membership bit that differs from the rule now, each with its enter/exit."""
        program = await self.segment_program(workspace, segment_id)
        at_ms = int(self.clock.now().timestamp() * 1000)
        total = 0
        for shard in await self.index.shards(workspace):
            await self.index._register_outbox(workspace, shard)
            while True:
                flipped = await self.index.run_shard(
                    workspace,
                    shard,
                    program,
                    mode="reconcile",
                    dest=shard_key(workspace, shard, enc.membership_key(segment_id)),
                    limit=RECONCILE_BATCH,
                    segment=segment_id,
                    cause=cause,
                    at_ms=at_ms,
                )
                total += flipped
                if flipped < RECONCILE_BATCH:
                    break
        return total

    # -- reads --------------------------------------------------------------
    async def preview(self, workspace: str, rule: str) -> tuple[int, float]:
        started = time.perf_counter()
        node = rules.parse(rule, await self.schema(workspace))
        defs = await self.definitions(workspace)
        meta = await self.index.meta(workspace)
        program = compile_rule(node, meta, self.today(), self._resolver(defs))
        count = await self.index.count_program(workspace, program, meta.shards)
        segment_metrics.COUNT_DURATION.labels("preview").observe(time.perf_counter() - started)
        return count, (time.perf_counter() - started) * 1000

    async def _compiled(self, workspace: str, segment_id: str) -> tuple[Meta, Program] | None:
        """The segment's program from the last request, while definitions and day are the same.

        The caller runs it with the meta re-read in the same round trip
        (count_checked, evaluate_checked), so a stale program is noticed.
        """
        defs = await self.definitions(workspace)
        hit = self._programs.get((workspace, segment_id))
        if hit is None or hit[0] is not defs or hit[1] != self.today():
            return None
        return hit[2], hit[3]

    async def _compile_segment(self, workspace: str, segment_id: str) -> tuple[Meta, Program]:
        meta = await self.index.meta(workspace)
        defs, program = await self._segment_program(workspace, segment_id, meta)
        if len(self._programs) >= MAX_PROGRAMS:
            self._programs.pop(next(iter(self._programs)))
        self._programs[(workspace, segment_id)] = (defs, self.today(), meta, program)
        return meta, program

    async def count(self, workspace: str, segment_id: str) -> tuple[int, float]:
        started = time.perf_counter()
        count = None
        hit = await self._compiled(workspace, segment_id)
        if hit is not None:
            count = await self.index.count_checked(workspace, hit[1], hit[0])
        if count is None:
            meta, program = await self._compile_segment(workspace, segment_id)
            count = await self.index.count_program(workspace, program, meta.shards)
        segment_metrics.COUNT_DURATION.labels("segment").observe(time.perf_counter() - started)
        return count, (time.perf_counter() - started) * 1000

    async def is_member(self, workspace: str, segment_id: str, uid: int) -> bool:
        hit = await self._compiled(workspace, segment_id)
        if hit is not None:
            checked = await self.index.evaluate_checked(workspace, uid, [hit[1]], hit[0])
            if checked is not None:
                return checked[0]
        _, program = await self._compile_segment(workspace, segment_id)
        (member,) = await self.index.evaluate_bits(workspace, uid, [program])
        return member

    async def segments_of(self, workspace: str, uid: int) -> list[dict]:
        defs = await self.definitions(workspace)
        meta = await self.index.meta(workspace)
        resolve = self._resolver(defs)
        programs = [compile_rule(d.node, meta, self.today(), resolve) for d in defs.values()]
        flags = await self.index.evaluate_bits(workspace, uid, programs)
        return [d.doc for d, member in zip(defs.values(), flags, strict=True) if member]

    async def overlap(self, workspace: str, segment_ids: list[str]) -> tuple[int, int, list[int]]:
        if len(segment_ids) < 2:
            raise InvalidInput("overlap needs two or more segments", "segment_ids")
        defs = await self.definitions(workspace)
        for s in segment_ids:
            if s not in defs:
                await self.store.get(workspace, s)
        refs = tuple(rules.InSegment(s) for s in segment_ids)
        sizes = [await self.index.count_program(workspace, await self.program(workspace, r)) for r in refs]
        both = await self.index.count_program(workspace, await self.program(workspace, rules.And(refs)))
        either = await self.index.count_program(workspace, await self.program(workspace, rules.Or(refs)))
        return both, either, sizes

    async def _member_offsets(self, workspace: str, program: Program, shard: int, from_offset: int = 0) -> np.ndarray:
        """Offsets in the shard of the rule's members, from `from_offset` on."""
        dest = shard_key(workspace, shard, f"tmp:x:{uuid.uuid4().hex[:12]}")
        await self.index.run_shard(workspace, shard, program, mode="store", dest=dest, ttl_ms=EXPORT_TTL_MS)
        start = from_offset // 8
        raw = await self.index.redis.getrange(dest, start, -1)
        await self.index.redis.delete(dest)
        offsets = np.flatnonzero(np.unpackbits(np.frombuffer(raw, dtype=np.uint8))) + start * 8
        return offsets[offsets >= from_offset]

    async def person_ids(self, workspace: str, uids: list[int]) -> list[str]:
        pipe = self.index.redis.pipeline(transaction=False)
        for uid in uids:
            pipe.hget(pid_key(workspace, uid >> enc.SHARD_BITS), uid)
        return [(p or b"").decode() for p in await pipe.execute()]

    async def members_page(
        self, workspace: str, segment_id: str, first: int, after: int | None
    ) -> tuple[list[tuple[int, str]], bool]:
        """Members in uid order after uid `after`: up to `first`, and whether more follow."""
        if not 0 < first <= MAX_PAGE:
            raise InvalidInput(f"first must be 1-{MAX_PAGE}", "first")
        program = await self.segment_program(workspace, segment_id)
        start = 0 if after is None else after + 1
        found: list[int] = []
        for shard in await self.index.shards(workspace):
            if (shard + 1) << enc.SHARD_BITS <= start:
                continue
            base = shard << enc.SHARD_BITS
            offsets = await self._member_offsets(workspace, program, shard, max(0, start - base))
            found += (offsets[: first + 1 - len(found)] + base).tolist()
            if len(found) > first:
                break
        page = found[:first]
        return list(zip(page, await self.person_ids(workspace, page), strict=True)), len(found) > first

    async def stream_members(self, workspace: str, segment_id: str, batch: int = 1000) -> AsyncIterator[list[int]]:
        program = await self.segment_program(workspace, segment_id)
        for shard in await self.index.shards(workspace):
            offsets = await self._member_offsets(workspace, program, shard) + (shard << enc.SHARD_BITS)
            for i in range(0, len(offsets), batch):
                yield offsets[i : i + batch].tolist()

    async def sample(self, workspace: str, segment_id: str, size: int, seed: int | None = None) -> list[int]:
        if not 0 < size <= MAX_SAMPLE:
            raise InvalidInput(f"size must be 1-{MAX_SAMPLE}", "size")
        program = await self.segment_program(workspace, segment_id)
        parts = [
            await self._member_offsets(workspace, program, s) + (s << enc.SHARD_BITS)
            for s in await self.index.shards(workspace)
        ]
        members = np.concatenate(parts) if parts else np.array([], dtype=np.int64)
        rng = np.random.default_rng(seed)
        picked = rng.choice(members, size=min(size, len(members)), replace=False) if len(members) else members
        return sorted(int(u) for u in picked)

    async def retention(
        self, workspace: str, cohort_event: str, return_event: str, start: dt.date, periods: int, period: str
    ) -> list[tuple[str, int, list[float]]]:
        """Cohorts by first `cohort_event` in each period; share doing `return_event` in each later period."""
        if period not in ("day", "week"):
            raise InvalidInput("period is 'day' or 'week'", "period")
        if not 1 <= periods <= 26:
            raise InvalidInput("periods must be 1-26", "periods")
        for value, name in ((cohort_event, "cohort_event"), (return_event, "return_event")):
            if not value or len(value) > 200:
                raise InvalidInput(f"{name} must be 1-200 characters", name)
        length = 7 if period == "week" else 1
        if period == "week":
            start = enc.monday(start)
        today = self.today()
        horizon = today - dt.timedelta(days=enc.RETENTION_DAYS - 1)
        if start < horizon:
            raise InvalidInput(f"start is older than the {enc.RETENTION_DAYS} days of behaviour kept", "start")
        meta = await self.index.meta(workspace)
        cohort_key, return_key = enc.event_key(cohort_event), enc.event_key(return_event)

        def window(i: int) -> tuple[dt.date, dt.date]:
            first = start + dt.timedelta(days=i * length)
            return first, min(first + dt.timedelta(days=length - 1), today)

        def cohort(c: Compiler, i: int) -> None:
            first, last = window(i)
            c.activity(cohort_key, first, last, 1)
            if first > horizon:
                c.activity(cohort_key, horizon, first - dt.timedelta(days=1), 1)
                c.op("D")  # first time in this period: not before it

        rows = []
        for i in range(periods):
            first, _ = window(i)
            if first > today:
                break
            c = Compiler(meta, today)
            cohort(c, i)
            size = await self.index.count_program(workspace, Program(c.keys, c.code, c.registers))
            shares = []
            for j in range(i + 1, periods):
                later, _ = window(j)
                if later > today:
                    break
                c = Compiler(meta, today)
                cohort(c, i)
                c.activity(return_key, *window(j), 1)
                c.op("A", 2)
                active = await self.index.count_program(workspace, Program(c.keys, c.code, c.registers))
                shares.append(round(active / size, 4) if size else 0.0)
            rows.append((first.isoformat(), size, shares))
        return rows

    # -- real time ----------------------------------------------------------
    async def affected(self, workspace: str, changed: set[str]) -> dict[str, Program]:
        """Programs of the saved segments that read any of `changed`."""
        defs = await self.definitions(workspace)
        hit = [d for d in defs.values() if d.uses & changed]
        if not hit:
            return {}
        meta = await self.index.meta(workspace)
        resolve = self._resolver(defs)
        return {d.doc["_id"]: compile_rule(d.node, meta, self.today(), resolve) for d in hit}

    async def windowed_segments(self, workspace: str) -> list[str]:
        return [s for s, d in (await self.definitions(workspace)).items() if d.windowed]
