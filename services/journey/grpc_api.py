"""gRPC JourneyService for partners (cdp.journey.v1): enter a person, read runs, campaign status."""

from __future__ import annotations

from cdp.journey.v1 import journey_pb2, journey_pb2_grpc
from services.journey.operations import Context
from services.kit.auth import Scope, needs
from services.kit.errors import InvalidInput, required
from services.kit.grpc_server import GrpcService, maps_errors
from services.kit.protos import from_struct, to_timestamp

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def _ts(value):
    return to_timestamp(value) if value else None


def run_message(doc: dict) -> journey_pb2.Run:
    return journey_pb2.Run(
        workspace_id=doc["workspace"],
        id=doc["_id"],
        journey_id=doc["journey_id"],
        version=doc["version"],
        person_id=doc["person_id"],
        key=doc.get("key", ""),
        status=doc["status"],
        node=doc["node"],
        entered_at=_ts(doc.get("entered_at")),
        due_at=_ts(doc.get("due_at")),
        ended_at=_ts(doc.get("ended_at")),
        end_reason=doc.get("end_reason", ""),
        holdout=bool(doc.get("holdout")),
        variants={k: str(v) for k, v in (doc.get("variants") or {}).items()},
        converted_at=_ts(doc.get("converted_at")),
        seq=doc["seq"],
    )


class JourneyGrpc(journey_pb2_grpc.JourneyServiceServicer):
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @needs(Scope.WRITE)
    @maps_errors
    async def EnterPerson(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        outcome = await self.ctx.enter(
            workspace,
            required(request.journey_id, "journey_id"),
            required(request.person_id, "person_id"),
            request.key,
            from_struct(request.properties),
            request.request_id,
        )
        doc = await self.ctx.store.run(workspace, outcome.run_id) if outcome.run_id else None
        return journey_pb2.EnterPersonResponse(
            entered=outcome.entered, reason=outcome.reason, run=run_message(doc) if doc else None
        )

    @needs(Scope.READ)
    @maps_errors
    async def GetRun(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        return run_message(await self.ctx.run(workspace, required(request.run_id, "run_id")))

    @needs(Scope.READ)
    @maps_errors
    async def ListRuns(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        if request.limit < 0 or request.limit > MAX_LIMIT:
            raise InvalidInput(f"limit must be between 0 and {MAX_LIMIT}", "limit")
        docs = await self.ctx.store.runs_of(
            workspace, required(request.person_id, "person_id"), request.limit or DEFAULT_LIMIT
        )
        return journey_pb2.ListRunsResponse(runs=[run_message(d) for d in docs])

    @needs(Scope.READ)
    @maps_errors
    async def GetCampaignStatus(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        s = await self.ctx.launcher.status(workspace, required(request.journey_id, "journey_id"))
        return journey_pb2.CampaignStatus(
            workspace_id=workspace,
            journey_id=s["journey_id"],
            launch_id=s["launch_id"],
            state=s["state"],
            audience=s["audience"],
            handed=s["handed"],
            sent=s["sent"],
            skipped=s["skipped"],
            failed=s["failed"],
            cancelled=s["cancelled"],
            pending=s["pending"],
            holdout=s["holdout"],
            started_at=_ts(s.get("started_at")),
            finished_at=_ts(s.get("finished_at")),
        )


def grpc_service(ctx: Context) -> GrpcService:
    return GrpcService(
        journey_pb2_grpc.add_JourneyServiceServicer_to_server,
        JourneyGrpc(ctx),
        journey_pb2.DESCRIPTOR.services_by_name["JourneyService"].full_name,
    )
