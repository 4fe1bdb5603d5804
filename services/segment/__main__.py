"""segment service: bitmap index, segments, gRPC and GraphQL subgraph."""

from __future__ import annotations

import asyncio

from starlette.routing import Route

from services.kit.graphql import graphql_app
from services.kit.runtime import Runtime, Wiring, serve
from services.kit.settings import ServiceSettings
from services.segment import graphql_api, grpc_api
from services.segment.audiences import Audiences
from services.segment.bitmaps import BitmapIndex
from services.segment.store import INDEXES, SegmentStore
from services.segment.workers import IdentityWorker, IndexWorker


class SegmentSettings(ServiceSettings):
    service_name: str = "segment"
    http_port: int = 4003
    grpc_port: int = 50053


def wire(rt: Runtime) -> Wiring:
    index = BitmapIndex(rt.redis)
    audiences = Audiences(SegmentStore(rt.db), index, rt.clock)
    gql = graphql_app(graphql_api.build_schema(), graphql_api.context_factory(audiences))
    return Wiring(
        grpc=[grpc_api.grpc_service(audiences)],
        http_routes=[Route("/graphql", gql, methods=["GET", "POST"])],
        indexes=INDEXES,
        consumers=[
            IndexWorker(index).consumer(rt.settings.kafka_bootstrap),
            IdentityWorker(index).consumer(rt.settings.kafka_bootstrap),
        ],
    )


if __name__ == "__main__":
    asyncio.run(serve(SegmentSettings(), wire))
