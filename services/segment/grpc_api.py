"""gRPC SegmentService for partners (cdp.segment.v1)."""

from __future__ import annotations

import time

from cdp.segment.v1 import segment_pb2, segment_pb2_grpc
from services.kit.auth import Scope, needs
from services.kit.errors import InvalidInput, required
from services.kit.grpc_server import GrpcService, maps_errors, maps_stream_errors
from services.kit.protos import from_timestamp, to_timestamp
from services.segment.audiences import Audiences
from services.segment.bulk import rebuild


def segment_message(doc: dict) -> segment_pb2.Segment:
    return segment_pb2.Segment(
        workspace_id=doc["workspace"],
        id=doc["_id"],
        name=doc["name"],
        rule=doc["rule"],
        source=doc.get("source", doc["rule"]),
        uses=doc.get("uses", []),
        windowed=doc.get("windowed", False),
        created_at=to_timestamp(doc.get("created_at")),
        updated_at=to_timestamp(doc.get("updated_at")),
    )


class SegmentGrpc(segment_pb2_grpc.SegmentServiceServicer):
    def __init__(self, audiences: Audiences) -> None:
        self.audiences = audiences

    @needs(Scope.WRITE)
    @maps_errors
    async def CreateSegment(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        return segment_message(
            await self.audiences.create(workspace, request.name, request.rule, request.announce_existing)
        )

    @needs(Scope.WRITE)
    @maps_errors
    async def DeclareField(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        doc = await self.audiences.declare_field(workspace, required(request.path, "path"), request.kind)
        return segment_pb2.Field(path=doc["path"], kinds=sorted(doc["kinds"]), declared=sorted(doc["declared"]))

    @needs(Scope.WRITE)
    @maps_errors
    async def UpdateSegment(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        doc = await self.audiences.update(workspace, required(request.id, "id"), request.name, request.rule)
        return segment_message(doc)

    @needs(Scope.WRITE)
    @maps_errors
    async def DeleteSegment(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        deleted = await self.audiences.delete(workspace, required(request.id, "id"))
        return segment_pb2.DeleteSegmentResponse(deleted=deleted)

    @needs(Scope.READ)
    @maps_errors
    async def GetSegment(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        return segment_message(await self.audiences.store.get(workspace, required(request.id, "id")))

    @needs(Scope.READ)
    @maps_errors
    async def ListSegments(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        docs = await self.audiences.store.list(workspace)
        return segment_pb2.ListSegmentsResponse(segments=[segment_message(d) for d in docs])

    @needs(Scope.READ)
    @maps_errors
    async def Preview(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        count, elapsed = await self.audiences.preview(workspace, request.rule)
        return segment_pb2.CountResponse(count=count, elapsed_ms=elapsed)

    @needs(Scope.READ)
    @maps_errors
    async def Count(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        count, elapsed = await self.audiences.count(workspace, required(request.segment_id, "segment_id"))
        return segment_pb2.CountResponse(count=count, elapsed_ms=elapsed)

    @needs(Scope.READ)
    @maps_errors
    async def IsMember(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        member = await self.audiences.is_member(workspace, required(request.segment_id, "segment_id"), request.uid)
        return segment_pb2.IsMemberResponse(member=member)

    @needs(Scope.READ)
    @maps_stream_errors
    async def StreamMembers(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        segment_id = required(request.segment_id, "segment_id")
        async for uids in self.audiences.stream_members(workspace, segment_id):
            for uid, person in zip(uids, await self.audiences.person_ids(workspace, uids), strict=True):
                yield segment_pb2.Member(uid=uid, person_id=person)

    @needs(Scope.READ)
    @maps_errors
    async def Overlap(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        both, either, sizes = await self.audiences.overlap(workspace, list(request.segment_ids))
        return segment_pb2.OverlapResponse(intersection=both, union_count=either, sizes=sizes)

    @needs(Scope.READ)
    @maps_errors
    async def Retention(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        start = from_timestamp(request.start)
        if start is None:
            raise InvalidInput("start is required", "start")
        rows = await self.audiences.retention(
            workspace,
            request.cohort_event,
            request.return_event,
            start.date(),
            request.periods,
            request.period or "day",
        )
        return segment_pb2.RetentionResponse(
            rows=[segment_pb2.RetentionRow(cohort=c, size=n, shares=s) for c, n, s in rows]
        )

    @needs(Scope.READ)
    @maps_errors
    async def Sample(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        uids = await self.audiences.sample(
            workspace, required(request.segment_id, "segment_id"), request.size, request.seed or None
        )
        return segment_pb2.SampleResponse(uids=uids)

    @needs(Scope.WRITE)
    @maps_errors
    async def Rebuild(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        started = time.perf_counter()
        persons = await rebuild(self.audiences, workspace)
        return segment_pb2.RebuildResponse(persons=persons, elapsed_ms=(time.perf_counter() - started) * 1000)


def grpc_service(audiences: Audiences) -> GrpcService:
    return GrpcService(
        segment_pb2_grpc.add_SegmentServiceServicer_to_server,
        SegmentGrpc(audiences),
        segment_pb2.DESCRIPTOR.services_by_name["SegmentService"].full_name,
    )
