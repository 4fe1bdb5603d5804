"""profile service: traits, tags and computed traits; gRPC, GraphQL subgraph, Kafka workers, sweep."""

from __future__ import annotations

import asyncio

from starlette.routing import Route

from services.kit import audit as kit_audit
from services.kit.audit import Audit
from services.kit.graphql import graphql_app
from services.kit.runtime import Runtime, Wiring, serve
from services.kit.settings import ServiceSettings
from services.profile import graphql_api, grpc_api
from services.profile.jobs import TagJobs
from services.profile.merges import MergeApplier
from services.profile.rulebook import Rulebook
from services.profile.store import INDEXES, ProfileStore
from services.profile.sweep import Sweeper
from services.profile.updates import ProfileUpdater
from services.profile.workers import EventWorker, IdentityWorker


class ProfileSettings(ServiceSettings):
    service_name: str = "profile"
    http_port: int = 4002
    grpc_port: int = 50052
    # Seconds between sweeps (tag expiry, lifecycle and RFM decay, event retention).
    sweep_interval: float = 60.0


def wire(rt: Runtime) -> Wiring:
    settings: ProfileSettings = rt.settings  # type: ignore[assignment]
    store = ProfileStore(rt.db)
    rulebook = Rulebook(rt.db)
    updater = ProfileUpdater(rt.mongo, store, rt.relay, rt.clock, rulebook)
    merges = MergeApplier(rt.mongo, store, rt.relay, rt.clock, rulebook)
    jobs = TagJobs(store, updater, rt.clock, settings.segment_grpc)
    sweeper = Sweeper(rt.mongo, store, rt.relay, rt.clock, rulebook, interval=settings.sweep_interval)
    audit = Audit(rt.db, rt.clock)
    gql = graphql_app(graphql_api.build_schema(), graphql_api.context_factory(store, updater, rulebook, jobs, audit))
    return Wiring(
        grpc=[grpc_api.grpc_service(store, updater, rulebook, jobs, audit)],
        http_routes=[Route("/graphql", gql, methods=["GET", "POST"])],
        indexes=[*INDEXES, *kit_audit.INDEXES],
        migrations=[rulebook.migrate_rules],
        consumers=[
            EventWorker(updater).consumer(rt.settings.kafka_bootstrap),
            IdentityWorker(merges).consumer(rt.settings.kafka_bootstrap),
        ],
        background=[jobs.run, sweeper.run],
    )


if __name__ == "__main__":
    asyncio.run(serve(ProfileSettings(), wire))
