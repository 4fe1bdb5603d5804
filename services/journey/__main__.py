"""journey service: journeys, campaigns and experiments; gRPC and GraphQL subgraph, timers and Kafka workers."""

from __future__ import annotations

import asyncio
import datetime as dt

from pydantic import Field
from starlette.routing import Route

from services.journey import graphql_api, grpc_api, workers
from services.journey.actions import Actions
from services.journey.campaigns import Launcher
from services.journey.experiments import Experiments
from services.journey.facts import FactsSource
from services.journey.flow import Flow
from services.journey.holdouts import Holdouts
from services.journey.library import Library
from services.journey.live import LiveJourneys
from services.journey.operations import Context
from services.journey.runs import Runner
from services.journey.store import INDEXES, JourneyStore
from services.journey.timers import InFlight, Scheduler
from services.kit import audit as kit_audit
from services.kit.audit import Audit
from services.kit.graphql import graphql_app
from services.kit.runtime import Runtime, Wiring, serve
from services.kit.settings import ServiceSettings


class JourneySettings(ServiceSettings):
    service_name: str = "journey"
    http_port: int = 4005
    grpc_port: int = 50055
    # A claimed timer not advanced within this long (a worker died with it) is claimed again.
    timer_lease: float = Field(default=60.0, gt=0)
    # How often the scheduler looks for due timers when it found none.
    timer_idle: float = Field(default=0.5, gt=0)
    # Claimed timers not yet advanced by this process, at most: the worker's work of a few seconds.
    timer_in_flight: int = Field(default=1000, gt=0)
    # An event older than this when it arrives (an imported history) enters nobody.
    entry_max_age_hours: float = Field(default=24.0, gt=0)
    # How long a campaign launch's claim lasts without renewal (a replica died mid-launch).
    launch_lease: float = Field(default=30.0, gt=0)


def wire(rt: Runtime) -> Wiring:
    settings: JourneySettings = rt.settings
    store = JourneyStore(rt.db)
    live = LiveJourneys(store)
    facts = FactsSource(settings.profile_grpc, settings.segment_grpc, settings.messaging_grpc)
    holdouts = Holdouts(store)
    runner = Runner(rt.mongo, store, rt.relay, rt.clock)
    flow = Flow(store, runner, live, facts, holdouts, rt.clock)
    library = Library(rt.mongo, store, live, runner, rt.clock, holdouts.timezone)
    launcher = Launcher(
        store, live, flow, runner, rt.clock, settings.segment_grpc, settings.messaging_grpc, settings.launch_lease
    )
    in_flight = InFlight(settings.timer_in_flight, settings.timer_lease / 2)
    scheduler = Scheduler(
        store, rt.producer, rt.clock, live, settings.timer_lease, settings.timer_idle, flow.entry_timers_due, in_flight
    )
    actions = Actions(settings.messaging_grpc, settings.profile_grpc)
    ctx = Context(store, library, live, flow, launcher, facts, holdouts, Experiments(store), rt.clock)
    audit = Audit(rt.db, rt.clock)
    gql = graphql_app(graphql_api.build_schema(), graphql_api.context_factory(ctx, audit))
    max_age = dt.timedelta(hours=settings.entry_max_age_hours)
    return Wiring(
        grpc=[grpc_api.grpc_service(ctx)],
        http_routes=[Route("/graphql", gql, methods=["GET", "POST"])],
        indexes=[*INDEXES, *kit_audit.INDEXES],
        consumers=workers.consumers(settings.kafka_bootstrap, flow, actions, store, rt.clock, max_age, in_flight),
        background=[scheduler.run, launcher.run],
        closers=[facts.close, actions.close, launcher.close],
    )


if __name__ == "__main__":
    asyncio.run(serve(JourneySettings(), wire))
