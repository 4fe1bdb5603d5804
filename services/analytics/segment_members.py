"""The members of segments, for a breakdown by segment: streamed from the segment service (its
bitmaps are the truth of who is in a segment now) into the engine for the one query that asks.

Each load gets its own query id; the rows are read by that query only and expire within an hour
(the table's TTL), so a segment's membership is as of the question, never a stale copy.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import grpc

from cdp.segment.v1 import segment_pb2, segment_pb2_grpc
from services.analytics import sql
from services.analytics.cohorts import PeerUnavailable
from services.analytics.models.common import Breakdown
from services.analytics.store import AnalyticsStore
from services.kit import grpc_client
from services.kit.errors import InvalidInput

INSERT_CHUNK = 50_000


class SegmentMembers:
    def __init__(self, segment_target: str, store: AnalyticsStore, timeout: float = 60.0) -> None:
        options = [("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 2000)]
        self._channel = grpc_client.channel(segment_target, options=options)
        self.segment = segment_pb2_grpc.SegmentServiceStub(self._channel)
        self.store = store
        self.timeout = timeout

    async def load(self, workspace: str, breakdown: Breakdown, where: str = "breakdown.segments") -> Breakdown:
        """The breakdown with its members loaded: groups are named by the segments' names."""
        query = uuid.uuid4().hex
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")
        labels: set[str] = set()
        for i, segment_id in enumerate(breakdown.segments):
            try:
                found = await self.segment.GetSegment(
                    segment_pb2.GetSegmentRequest(workspace_id=workspace, id=segment_id), timeout=self.timeout
                )
                label = found.name if found.name not in labels else f"{found.name} ({segment_id})"
                labels.add(label)
                rows: list[dict] = []
                members = self.segment.StreamMembers(
                    segment_pb2.StreamMembersRequest(workspace_id=workspace, segment_id=segment_id),
                    timeout=self.timeout,
                )
                async for member in members:
                    if member.person_id:
                        rows.append({"workspace": workspace, "query": query, "segment": label,
                                     "person_id": member.person_id, "at": now})  # fmt: skip
                    if len(rows) >= INSERT_CHUNK:
                        await self.store.insert("segment_members", rows)
                        rows = []
                await self.store.insert("segment_members", rows)
            except grpc.aio.AioRpcError as exc:
                if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                    at = f"{where}[{i}]"
                    raise InvalidInput(f"{at}: no segment {segment_id!r} in this workspace", at) from None
                raise PeerUnavailable(f"reading segment members failed: {exc.code().name}") from None
        members = (
            f"SELECT person_id AS person, segment FROM {self.store.db}.segment_members "
            f"WHERE query = {sql.string(query)} AND workspace = {sql.string(workspace)}"
        )
        return dataclasses.replace(breakdown, members=members)

    async def close(self) -> None:
        await self._channel.close()
