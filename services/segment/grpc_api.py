"""gRPC SegmentService for partners (cdp.segment.v1)."""

from __future__ import annotations

from cdp.segment.v1 import segment_pb2, segment_pb2_grpc
from services.kit.errors import required
from services.kit.grpc_server import GrpcService, maps_errors
from services.kit.protos import to_timestamp
from services.segment.audiences import Audiences


def segment_message(doc: dict) -> segment_pb2.Segment:
    return segment_pb2.Segment(
        workspace_id=doc["workspace"],
        id=doc["_id"],
        name=doc["name"],
        rule=doc["rule"],
        created_at=to_timestamp(doc.get("created_at")),
        updated_at=to_timestamp(doc.get("updated_at")),
    )


class SegmentGrpc(segment_pb2_grpc.SegmentServiceServicer):
    def __init__(self, audiences: Audiences) -> None:
        self.audiences = audiences

    @maps_errors
    async def CreateSegment(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        return segment_message(await self.audiences.create(workspace, request.name, request.rule))

    @maps_errors
    async def UpdateSegment(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        doc = await self.audiences.update(workspace, required(request.id, "id"), request.name, request.rule)
        return segment_message(doc)

    @maps_errors
    async def DeleteSegment(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        deleted = await self.audiences.store.delete(workspace, required(request.id, "id"))
        return segment_pb2.DeleteSegmentResponse(deleted=deleted)

    @maps_errors
    async def GetSegment(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        return segment_message(await self.audiences.store.get(workspace, required(request.id, "id")))

    @maps_errors
    async def ListSegments(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        docs = await self.audiences.store.list(workspace)
        return segment_pb2.ListSegmentsResponse(segments=[segment_message(d) for d in docs])

    @maps_errors
    async def Preview(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        count, elapsed = await self.audiences.preview(workspace, request.rule)
        return segment_pb2.CountResponse(count=count, elapsed_ms=elapsed)

    @maps_errors
    async def Count(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        count, elapsed = await self.audiences.count(workspace, required(request.segment_id, "segment_id"))
        return segment_pb2.CountResponse(count=count, elapsed_ms=elapsed)

    @maps_errors
    async def IsMember(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        member = await self.audiences.is_member(workspace, required(request.segment_id, "segment_id"), request.uid)
        return segment_pb2.IsMemberResponse(member=member)


def grpc_service(audiences: Audiences) -> GrpcService:
    return GrpcService(
        segment_pb2_grpc.add_SegmentServiceServicer_to_server,
        SegmentGrpc(audiences),
        segment_pb2.DESCRIPTOR.services_by_name["SegmentService"].full_name,
    )
