"""profile service: traits and computed traits, gRPC and GraphQL subgraph."""

from __future__ import annotations

import asyncio

from starlette.routing import Route

from services.kit.graphql import graphql_app
from services.kit.runtime import Runtime, Wiring, serve
from services.kit.settings import ServiceSettings
from services.profile import graphql_api, grpc_api
from services.profile.merges import MergeApplier
from services.profile.store import INDEXES, ProfileStore
from services.profile.updates import ProfileUpdater
from services.profile.workers import EventWorker, IdentityWorker


class ProfileSettings(ServiceSettings):
    service_name: str = "profile"
    http_port: int = 4002
    grpc_port: int = 50052


def wire(rt: Runtime) -> Wiring:
    store = ProfileStore(rt.db)
    updater = ProfileUpdater(rt.mongo, store, rt.relay, rt.clock)
    merges = MergeApplier(rt.mongo, store, rt.relay, rt.clock)
    gql = graphql_app(graphql_api.build_schema(), graphql_api.context_factory(store))
    return Wiring(
        grpc=[grpc_api.grpc_service(store, updater)],
        http_routes=[Route("/graphql", gql, methods=["GET", "POST"])],
        indexes=INDEXES,
        consumers=[
            EventWorker(updater).consumer(rt.settings.kafka_bootstrap),
            IdentityWorker(merges).consumer(rt.settings.kafka_bootstrap),
        ],
    )


if __name__ == "__main__":
    asyncio.run(serve(ProfileSettings(), wire))
