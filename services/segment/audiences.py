"""Segment operations shared by gRPC and GraphQL: save, count, preview, membership."""

from __future__ import annotations

import time

from services.kit.clock import Clock
from services.segment import rules
from services.segment.bitmaps import BitmapIndex
from services.segment.store import SegmentStore


class Audiences:
    def __init__(self, store: SegmentStore, index: BitmapIndex, clock: Clock) -> None:
        self.store = store
        self.index = index
        self.clock = clock

    async def create(self, workspace: str, name: str, rule: str) -> dict:
        return await self.store.create(workspace, name, rule, self.clock.now())

    async def update(self, workspace: str, segment_id: str, name: str | None, rule: str | None) -> dict:
        return await self.store.update(workspace, segment_id, name, rule, self.clock.now())

    async def preview(self, workspace: str, rule: str) -> tuple[int, float]:
        started = time.perf_counter()
        count = await self.index.count(workspace, rules.parse(rule))
        return count, (time.perf_counter() - started) * 1000

    async def count(self, workspace: str, segment_id: str) -> tuple[int, float]:
        segment = await self.store.get(workspace, segment_id)
        return await self.preview(workspace, segment["rule"])

    async def is_member(self, workspace: str, segment_id: str, uid: int) -> bool:
        segment = await self.store.get(workspace, segment_id)
        (member,) = await self.index.matches(workspace, uid, [rules.parse(segment["rule"])])
        return member

    async def segments_of(self, workspace: str, uid: int) -> list[dict]:
        segments = await self.store.list(workspace)
        flags = await self.index.matches(workspace, uid, [rules.parse(s["rule"]) for s in segments])
        return [s for s, member in zip(segments, flags, strict=True) if member]
