"""segment service: bitmap index, segments, real-time membership, gRPC and GraphQL subgraph."""

from __future__ import annotations

import asyncio

from starlette.routing import Route

from services.kit.graphql import graphql_app
from services.kit.redis_client import connect_cluster
from services.kit.runtime import Runtime, Wiring, serve
from services.kit.settings import ServiceSettings
from services.segment import graphql_api, grpc_api
from services.segment import metrics as segment_metrics
from services.segment.audiences import Audiences
from services.segment.bitmaps import BitmapIndex
from services.segment.people import People
from services.segment.realtime import Realtime
from services.segment.relay import MembershipRelay
from services.segment.store import INDEXES, SegmentStore
from services.segment.workers import IdentityWorker, IndexWorker


class SegmentSettings(ServiceSettings):
    service_name: str = "segment"
    http_port: int = 4003
    grpc_port: int = 50053
    # Seconds between reconciliations of segments with "in the last N days" windows.
    sweep_interval: float = 300.0
    # Seed nodes ("host:port,...") of a Redis Cluster for the bitmap index, outboxes and locks;
    # empty: the one Redis of CDP_REDIS_URL. Shards spread over the nodes, so a count's shard
    # scripts run side by side instead of one after another.
    bitmap_cluster: str = ""


def wire(rt: Runtime) -> Wiring:
    bitmaps = connect_cluster(rt.settings.bitmap_cluster) if rt.settings.bitmap_cluster else rt.redis
    index = BitmapIndex(bitmaps)
    people = People(rt.mongo, rt.db)
    audiences = Audiences(SegmentStore(rt.db), people, index, rt.clock)
    realtime = Realtime(audiences, index, people, rt.clock)
    relay = MembershipRelay(bitmaps, rt.producer, rt.settings.kafka_bootstrap)
    gql = graphql_app(graphql_api.build_schema(), graphql_api.context_factory(audiences))
    interval = rt.settings.sweep_interval

    async def sweeps(stopping: asyncio.Event) -> None:
        await realtime.run_sweeps(stopping, interval)

    return Wiring(
        grpc=[grpc_api.grpc_service(audiences)],
        http_routes=[Route("/graphql", gql, methods=["GET", "POST"])],
        indexes=INDEXES,
        consumers=[
            IndexWorker(realtime).consumer(rt.settings.kafka_bootstrap),
            IdentityWorker(realtime).consumer(rt.settings.kafka_bootstrap),
        ],
        background=[relay.run, sweeps, segment_metrics.BitmapMemory(bitmaps).run],
        closers=[bitmaps.aclose] if bitmaps is not rt.redis else [],
    )


if __name__ == "__main__":
    asyncio.run(serve(SegmentSettings(), wire))
