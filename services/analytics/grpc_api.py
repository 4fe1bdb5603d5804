"""gRPC AnalyticsService for partners (cdp.analytics.v1): the same operations as the subgraph."""

from __future__ import annotations

from google.protobuf import json_format

from cdp.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from services.analytics.analysis import Analytics
from services.analytics.costs import CostStore
from services.kit.audit import Audit, audited_call
from services.kit.auth import Scope, needs
from services.kit.clock import Clock
from services.kit.errors import required
from services.kit.grpc_server import GrpcService, maps_errors


def _doc(message) -> dict:
    """A request as the dict the parsers read (the same shape GraphQL inputs take)."""
    doc = json_format.MessageToDict(message, preserving_proto_field_name=True)
    doc.pop("workspace_id", None)
    return doc


def _reply(doc: dict, message):
    return json_format.ParseDict(doc, message, ignore_unknown_fields=True)


def _costs(rows: list[dict]) -> analytics_pb2.MessageCostsResponse:
    return _reply({"costs": rows}, analytics_pb2.MessageCostsResponse())


class AnalyticsGrpc(analytics_pb2_grpc.AnalyticsServiceServicer):
    def __init__(self, analytics: Analytics, costs: CostStore, audit: Audit, clock: Clock) -> None:
        self.analytics = analytics
        self.costs = costs
        self.audit = audit
        self.clock = clock

    @needs(Scope.READ)
    @maps_errors
    async def Trends(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        return _reply(await self.analytics.trends(workspace, _doc(request)), analytics_pb2.TrendsResponse())

    @needs(Scope.READ)
    @maps_errors
    async def Funnel(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        return _reply(await self.analytics.funnel(workspace, _doc(request)), analytics_pb2.FunnelResponse())

    @needs(Scope.READ)
    @maps_errors
    async def Retention(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        return _reply(await self.analytics.retention(workspace, _doc(request)), analytics_pb2.RetentionResponse())

    @needs(Scope.READ)
    @maps_errors
    async def Paths(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        return _reply(await self.analytics.paths(workspace, _doc(request)), analytics_pb2.PathsResponse())

    @needs(Scope.READ)
    @maps_errors
    async def Lifecycle(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        return _reply(await self.analytics.lifecycle(workspace, _doc(request)), analytics_pb2.LifecycleResponse())

    @needs(Scope.READ)
    @maps_errors
    async def Stickiness(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        return _reply(await self.analytics.stickiness(workspace, _doc(request)), analytics_pb2.StickinessResponse())

    @needs(Scope.READ)
    @maps_errors
    async def Distribution(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        found = await self.analytics.distribution(workspace, _doc(request))
        return _reply(found, analytics_pb2.DistributionResponse())

    @needs(Scope.READ)
    @maps_errors
    async def Interval(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        return _reply(await self.analytics.interval(workspace, _doc(request)), analytics_pb2.IntervalResponse())

    @needs(Scope.READ)
    @maps_errors
    async def CampaignStats(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        rows = await self.analytics.campaign_stats(workspace, request.campaign_id)
        return _reply({"campaigns": rows}, analytics_pb2.CampaignStatsResponse())

    @needs(Scope.READ)
    @maps_errors
    async def CampaignFunnel(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        found = await self.analytics.campaign_funnel(workspace, _doc(request))
        return _reply(found, analytics_pb2.CampaignFunnelResponse())

    @needs(Scope.WRITE)
    @maps_errors
    async def SaveFunnelDropOffs(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        saved = await self.analytics.save_funnel_drop_offs(workspace, _doc(request.funnel), request.step, request.name)
        return _reply(saved, analytics_pb2.SavedSegment())

    @needs(Scope.WRITE)
    @maps_errors
    async def SaveRetentionCell(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        saved = await self.analytics.save_retention_cell(
            workspace, _doc(request.retention), request.cohort, request.period, request.name
        )
        return _reply(saved, analytics_pb2.SavedSegment())

    @needs(Scope.READ)
    @maps_errors
    async def JourneyEvaluation(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        doc = _doc(request)
        # A weight of 0 is a value here, not an unset field.
        doc["weights"] = [{"arm": w.arm, "weight": w.weight} for w in request.weights] or None
        found = await self.analytics.journey_evaluation(workspace, doc)
        return _reply(found, analytics_pb2.JourneyEvaluationResponse())

    @needs(Scope.READ)
    @maps_errors
    async def MessageCosts(self, request, context):
        return _costs(await self.costs.get(required(request.workspace_id, "workspace_id")))

    @needs(Scope.ADMIN)
    @maps_errors
    async def SetMessageCosts(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        costs = [{"channel": c.channel, "cost": c.cost} for c in request.costs]
        async with audited_call(self.audit, "analytics.message_costs", workspace, "message_costs") as entry:
            saved = await self.costs.set(workspace, costs, self.clock.now())
            entry.detail["channels"] = len(saved)
        return _costs(saved)

    @needs(Scope.READ)
    @maps_errors
    async def Aarrr(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        return _reply(await self.analytics.aarrr(workspace, _doc(request)), analytics_pb2.AarrrResponse())

    @needs(Scope.READ)
    @maps_errors
    async def AcquisitionLtv(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        rows = await self.analytics.ltv(workspace, _doc(request))
        return _reply({"channels": rows}, analytics_pb2.AcquisitionLtvResponse())

    @needs(Scope.READ)
    @maps_errors
    async def CampaignSpread(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        found = await self.analytics.campaign_spread(workspace, _doc(request))
        return _reply(found, analytics_pb2.CampaignSpreadResponse())

    @needs(Scope.READ)
    @maps_errors
    async def SqlQuery(self, request, context):
        workspace = required(request.workspace_id, "workspace_id")
        found = await self.analytics.sql_query(workspace, request.sql)
        return _reply(found, analytics_pb2.SqlQueryResponse())


def grpc_service(analytics: Analytics, costs: CostStore, audit: Audit, clock: Clock) -> GrpcService:
    return GrpcService(
        analytics_pb2_grpc.add_AnalyticsServiceServicer_to_server,
        AnalyticsGrpc(analytics, costs, audit, clock),
        analytics_pb2.DESCRIPTOR.services_by_name["AnalyticsService"].full_name,
    )
