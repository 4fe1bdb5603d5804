"""analytics service: events and message statuses in ClickHouse (chDB in process by default);
trends, funnels, retention, paths, campaign and journey evaluation over gRPC and a GraphQL subgraph."""

from __future__ import annotations

import asyncio
import pathlib

from starlette.routing import Route

from services.analytics import graphql_api, grpc_api
from services.analytics.analysis import Analytics
from services.analytics.cohorts import SegmentSaver
from services.analytics.costs import CostStore
from services.analytics.dashboards import INDEXES, DashboardStore
from services.analytics.engine import connect
from services.analytics.segment_members import SegmentMembers
from services.analytics.store import AnalyticsStore
from services.analytics.workers import IdentityFollower, Ingest
from services.kit import audit as kit_audit
from services.kit.audit import Audit
from services.kit.graphql import graphql_app
from services.kit.runtime import Runtime, Wiring, serve
from services.kit.settings import ServiceSettings


class AnalyticsSettings(ServiceSettings):
    service_name: str = "analytics"
    http_port: int = 4006
    grpc_port: int = 50056
    # Where the suite keeps its data (`./suite start`: .cdp-data); chDB's files go under analytics/.
    data_dir: str = ".cdp-data"
    # A ClickHouse server (http[s]://user:password@host:8123), which makes this service stateless and
    # lets it scale by replicas; empty: chDB in this process (one process per data path).
    clickhouse_url: str = ""
    clickhouse_database: str = "cdp"
    # Ingest micro-batches: up to this many rows, or what arrived within `ingest_linger` seconds.
    ingest_rows: int = 10_000
    ingest_linger: float = 1.0
    # Merges are joined at query time at once, and written into the rows (squashed) once older than
    # `squash_grace` seconds, checked every `squash_every` seconds; 0 turns the squash off.
    squash_every: float = 600.0
    squash_grace: float = 600.0


def wire(rt: Runtime) -> Wiring:
    settings: AnalyticsSettings = rt.settings
    engine = connect(settings.clickhouse_url, pathlib.Path(settings.data_dir) / "analytics" / "chdb")
    store = AnalyticsStore(engine, settings.clickhouse_database)
    saver = SegmentSaver(settings.profile_grpc, settings.segment_grpc)
    costs = CostStore(rt.db)
    members = SegmentMembers(settings.segment_grpc, store)
    analytics = Analytics(store, rt.clock, saver, costs, members)
    dashboards = DashboardStore(rt.db)
    audit = Audit(rt.db, rt.clock)
    gql = graphql_app(
        graphql_api.build_schema(), graphql_api.context_factory(analytics, dashboards, rt.clock, costs, audit)
    )

    async def squashes(stopping: asyncio.Event) -> None:
        await store.run_squashes(stopping, settings.squash_every, settings.squash_grace)

    async def close_engine() -> None:
        engine.close()

    return Wiring(
        grpc=[grpc_api.grpc_service(analytics, costs, audit, rt.clock)],
        http_routes=[Route("/graphql", gql, methods=["GET", "POST"])],
        indexes=[*INDEXES, *kit_audit.INDEXES],
        migrations=[store.create_tables],
        consumers=[
            Ingest(store).consumer(settings.kafka_bootstrap, settings.ingest_rows, settings.ingest_linger),
            IdentityFollower(store).consumer(settings.kafka_bootstrap),
        ],
        background=[squashes] if settings.squash_every > 0 else [],
        closers=[saver.close, members.close, close_engine],
    )


if __name__ == "__main__":
    asyncio.run(serve(AnalyticsSettings(), wire))
