"""Real-time membership: changes in, enter/exit out, each transition announced exactly once.

For every profile.changed and resolved event:
  1. MongoDB: the person's attribute document (or event counts) is updated once per
     cause id (a replay finds its cause already applied and changes nothing);
  2. Redis: the changed attributes' bitmaps are set to the document's current values
     (never to the record's, so a replay after later changes cannot go backwards);
  3. only the saved segments that read a changed path are evaluated for this one
     person (plan.run_on_bits), and one Lua script flips each membership bit that
     differs and queues the enter/exit in the shard's outbox stream, atomically;
  4. the relay (relay.py) moves outbox entries to `segment.membership`.
A crash anywhere re-delivers the record; steps 1-3 then converge on the same
state and flip nothing twice, because a flip only happens where the stored
membership bit differs from the evaluation. Steps 1-3 run under a per-person
lock in Redis (BitmapIndex.person_lock): during a rebalance two replicas can
hold the same records, and one must not write bits from a document read before
the other's newer change.

Windowed segments ("in the last 30 days") change with the date alone: `sweep`
reconciles them (whole shards, one script per batch) on a schedule with the
injectable clock.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from services.kit.clock import Clock
from services.kit.protos import from_value
from services.segment import encoding as enc
from services.segment.audiences import Audiences
from services.segment.bitmaps import FORGOTTEN, MERGED, BitmapIndex
from services.segment.people import People, attrs_of

log = logging.getLogger(__name__)

PATH_PREFIXES = ("traits.", "computed.", "tags.")


def ms_of(ts: Timestamp) -> int | None:
    if ts.seconds == 0 and ts.nanos == 0:
        return None
    return ts.seconds * 1000 + ts.nanos // 1_000_000


class Realtime:
    def __init__(self, audiences: Audiences, index: BitmapIndex, people: People, clock: Clock) -> None:
        self.audiences = audiences
        self.index = index
        self.people = people
        self.clock = clock

    def _now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    async def profile_changed(
        self, workspace: str, uid: int, person_id: str, changes: dict[str, Any], cause: str, at_ms: int | None
    ) -> list[str]:
        """Apply one profile.changed (path -> after); returns the segments whose bit flipped."""
        changes = {p: v for p, v in changes.items() if p.startswith(PATH_PREFIXES)}
        if not workspace:
            return []
        async with self.index.person_lock(workspace, uid):
            return await self._profile_changed(workspace, uid, person_id, changes, cause, at_ms)

    async def _profile_changed(
        self, workspace: str, uid: int, person_id: str, changes: dict[str, Any], cause: str, at_ms: int | None
    ) -> list[str]:
        at = at_ms if at_ms is not None else 0  # no time: "oldest", cannot bring back a merged-away uid
        if await self.index.gone(workspace, uid, at):
            return []
        doc, _ = await self.people.apply_changes(workspace, uid, person_id, changes, cause)
        current = attrs_of(doc)
        values = {path: current.get(path) for path in changes}
        if not await self.index.apply(workspace, uid, values, at, person_id):
            return []
        return await self.reevaluate(workspace, uid, set(changes), cause, at_ms or self._now_ms())

    async def event(
        self,
        workspace: str,
        uid: int,
        person_id: str,
        message_id: str,
        name: str,
        properties: dict,
        when: dt.datetime,
    ) -> list[str]:
        """Count one tracked event for the person's behaviour bitmaps."""
        day = when.astimezone(dt.UTC).date()
        today = self.clock.now().date()
        if day < today - dt.timedelta(days=enc.RETENTION_DAYS - 1) or day > today + dt.timedelta(days=1):
            return []  # outside what the behaviour bitmaps keep
        at_ms = int(when.timestamp() * 1000)
        async with self.index.person_lock(workspace, uid):
            return await self._event(workspace, uid, person_id, message_id, name, properties, day, at_ms)

    async def _event(
        self, workspace: str, uid: int, person_id: str, message_id: str, name: str, properties: dict, day, at_ms: int
    ) -> list[str]:
        if await self.index.gone(workspace, uid, at_ms):
            return []
        keys = enc.event_keys_of(name, properties)
        await self.people.ensure(workspace, uid, person_id)
        counts, _ = await self.people.record_event(workspace, uid, message_id, keys, day)
        if not await self.index.record_activity(workspace, uid, counts, at_ms, person_id):
            return []
        return await self.reevaluate(workspace, uid, {f"event:{name}"}, message_id, at_ms)

    async def reevaluate(self, workspace: str, uid: int, changed: set[str], cause: str, at_ms: int) -> list[str]:
        programs = await self.audiences.affected(workspace, changed)
        if not programs:
            return []
        flags = await self.index.evaluate_bits(workspace, uid, list(programs.values()))
        wanted = dict(zip(programs, flags, strict=True))
        return await self.index.flip(workspace, uid, wanted, cause, at_ms)

    async def reevaluate_all(self, workspace: str, uid: int, cause: str, at_ms: int) -> list[str]:
        defs = await self.audiences.definitions(workspace)
        every: set[str] = set().union(*(d.uses for d in defs.values())) if defs else set()
        return await self.reevaluate(workspace, uid, every, cause, at_ms)

    # -- identity --------------------------------------------------------------
    async def merged(self, workspace: str, winner: int, loser: int, merge_id: str, at_ms: int) -> None:
        """The loser's behaviour counts move to the winner; the loser leaves every bitmap."""
        async with self.index.person_lock(workspace, winner, loser):
            await self._merged(workspace, winner, loser, merge_id, at_ms)

    async def _merged(self, workspace: str, winner: int, loser: int, merge_id: str, at_ms: int) -> None:
        segments = list(await self.audiences.definitions(workspace))
        if await self.index.retire(workspace, loser, MERGED, at_ms, f"merge:{merge_id}", segments) is None:
            return  # the merge was undone already (its unmerge may arrive first: another topic)
        moved = await self.people.move_activity(workspace, loser, winner, merge_id, sign=1)
        await self.people.erase_attrs(workspace, loser)
        if moved:
            await self.index.record_activity(workspace, winner, moved, at_ms)
        await self.reevaluate_all(workspace, winner, f"merge:{merge_id}", at_ms)

    async def unmerged(self, workspace: str, winner: int, restored: int, merge_id: str, at_ms: int) -> None:
        async with self.index.person_lock(workspace, winner, restored):
            await self._unmerged(workspace, winner, restored, merge_id, at_ms)

    async def _unmerged(self, workspace: str, winner: int, restored: int, merge_id: str, at_ms: int) -> None:
        moved = await self.people.move_activity(workspace, restored, winner, merge_id, sign=-1)
        await self.index.restore(workspace, restored, at_ms)
        await self.people.ensure(workspace, restored, "")
        if moved:
            await self.index.record_activity(workspace, winner, moved, at_ms)
            back = await self.people.activity_of(workspace, restored)
            await self.index.record_activity(workspace, restored, back, at_ms)
        for uid in (winner, restored):
            await self.reevaluate_all(workspace, uid, f"unmerge:{merge_id}", at_ms)

    async def forgotten(self, workspace: str, uid: int, at_ms: int) -> None:
        async with self.index.person_lock(workspace, uid):
            segments = list(await self.audiences.definitions(workspace))
            await self.index.retire(workspace, uid, FORGOTTEN, at_ms, segments=segments)
            await self.people.erase(workspace, uid)

    # -- time ------------------------------------------------------------------
    async def sweep(self, only: str | None = None) -> int:
        """Reconcile every windowed segment (of one workspace: `only`) with today's date; returns the transitions."""
        day = self.clock.now().date().isoformat()
        total = 0
        workspaces = [only] if only else await self.audiences.store.windowed_workspaces()
        for workspace in workspaces:
            for segment_id in await self.audiences.windowed_segments(workspace):
                total += await self.audiences.reconcile(workspace, segment_id, f"sweep:{segment_id}:{day}")
        return total

    async def run_sweeps(self, stopping: asyncio.Event, interval: float = 60.0) -> None:
        """Background job: a sweep every `interval` seconds (each is idempotent)."""
        while not stopping.is_set():
            try:
                flipped = await self.sweep()
                if flipped:
                    log.info("windowed segments swept", extra={"transitions": flipped})
            except Exception:
                log.exception("sweep failed; retrying at the next interval")
            try:
                await asyncio.wait_for(stopping.wait(), timeout=interval)
            except TimeoutError:
                pass


def changes_of(message) -> dict[str, Any]:
    return {c.path: from_value(c.after) for c in message.changes}
