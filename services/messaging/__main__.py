"""messaging service: channels, templates, sends, delivery, engagement; gRPC and GraphQL subgraph."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from pydantic import model_validator
from starlette.routing import Route

from services.kit import audit as kit_audit
from services.kit.audit import Audit
from services.kit.graphql import graphql_app
from services.kit.netguard import OutboundGuard
from services.kit.runtime import Runtime, Wiring, serve
from services.kit.settings import ServiceSettings
from services.messaging import graphql_api, grpc_api
from services.messaging.channel_types import TYPES, ProviderDeps
from services.messaging.delivery import Deliverer, RetryPolicy
from services.messaging.engagement import Attribution, Emitter, EngagementApi, EngagementQueue
from services.messaging.limits import FrequencyCaps, RateLimiter
from services.messaging.links import Links, Signer, link_keys
from services.messaging.operations import Context
from services.messaging.optouts import OptOuts
from services.messaging.profiles import ProfileClient
from services.messaging.providers import http_session
from services.messaging.reconcile import Scheduler
from services.messaging.sending import Sender
from services.messaging.store import INDEXES, MessagingStore
from services.messaging.workers import DeliveryWorker, IdentityWorker, attribution_consumer


class MessagingSettings(ServiceSettings):
    service_name: str = "messaging"
    http_port: int = 4004
    grpc_port: int = 50054
    # Seconds a provider gets to answer before the outcome counts as unknown (or is retried).
    provider_timeout: float = 10.0
    # Where people reach this service's /t/ links (open pixel, clicks, unsubscribe); default: this host.
    public_url: str = ""
    # HMAC key of tracking, unsubscribe and receipt links: at least 32 characters outside dev mode.
    link_secret: str = "dev-only-link-secret-change-me"
    # Several keys for rotation, `kid:secret,...`: the first signs, every one verifies (overrides link_secret).
    link_keys: str = ""
    # Dev mode accepts the default and short link secrets; the service refuses to start with them otherwise.
    dev_mode: bool = False
    # CIDRs the outbound guard lets channels reach although private (tests' local sinks, on-premises providers).
    outbound_allow: str = ""
    # A message "sending" for longer than this was left by a crashed worker: it must exceed the provider
    # timeout plus what a batch's claim and the group commit of its outcomes take on a loaded database.
    sending_lease: float = 60.0
    max_attempts: int = 8
    retry_base: float = 1.0
    retry_cap: float = 60.0
    # Rate-limit waits up to this long are slept in the worker; longer ones defer the message.
    max_inline_wait: float = 2.0

    @model_validator(mode="after")
    def _secure(self) -> MessagingSettings:
        # Checked here, so a weak secret or a bad CIDR stops the process before it serves anything.
        link_keys(self.link_keys, self.link_secret, self.dev_mode)
        OutboundGuard.parse(self.outbound_allow)
        return self


def wire(rt: Runtime) -> Wiring:
    settings: MessagingSettings = rt.settings
    store = MessagingStore(rt.db)
    profiles = ProfileClient(settings.profile_grpc)
    sender = Sender(rt.mongo, store, rt.relay, rt.clock, profiles, rt.producer)
    signer = Signer(link_keys(settings.link_keys, settings.link_secret, settings.dev_mode), rt.clock)
    links = Links(signer, settings.public_url or f"http://127.0.0.1:{settings.http_port}")
    guard = OutboundGuard.parse(settings.outbound_allow)
    http = http_session(settings.provider_timeout, guard)
    queue = EngagementQueue(store)
    deps = ProviderDeps(http, links.receipt, links, settings.provider_timeout, store, rt.clock, guard)
    providers = {name: kind.provider(deps) for name, kind in TYPES.items()}
    # Concurrent deliveries each make Redis calls (opt-outs, caps, GCRA): a pool that waits for a
    # free connection instead of failing with "Too many connections".
    redis = aioredis.Redis(
        connection_pool=aioredis.BlockingConnectionPool.from_url(settings.redis_url, max_connections=256, timeout=20)
    )
    optouts = OptOuts(store, redis)
    deliverer = Deliverer(
        rt.mongo,
        store,
        rt.relay,
        rt.clock,
        providers,
        RateLimiter(redis),
        FrequencyCaps(redis),
        optouts,
        RetryPolicy(settings.max_attempts, settings.retry_base, settings.retry_cap),
        settings.max_inline_wait,
        queue,
    )
    scheduler = Scheduler(
        rt.mongo, store, rt.relay, rt.clock, deliverer, max(settings.sending_lease, settings.provider_timeout * 2)
    )
    emitter = Emitter(rt.mongo, store, rt.relay, rt.clock, settings.identity_grpc)
    engagement = EngagementApi(rt.mongo, store, rt.relay, rt.clock, signer, queue, optouts)
    ctx = Context(store, sender, rt.clock, profiles, signer, links, optouts)
    audit = Audit(rt.db, rt.clock)
    gql = graphql_app(graphql_api.build_schema(), graphql_api.context_factory(ctx, guard, audit))
    return Wiring(
        grpc=[grpc_api.grpc_service(ctx, guard, audit)],
        http_routes=[Route("/graphql", gql, methods=["GET", "POST"]), *engagement.routes()],
        indexes=[*INDEXES, *kit_audit.INDEXES],
        consumers=[
            *DeliveryWorker(deliverer).consumers(settings.kafka_bootstrap),
            IdentityWorker(store, rt.clock, optouts).consumer(settings.kafka_bootstrap),
            attribution_consumer(settings.kafka_bootstrap, Attribution(rt.mongo, store, rt.clock)),
        ],
        background=[optouts.run_rebuild, scheduler.run, emitter.run],
        closers=[http.close, profiles.close, emitter.close, redis.aclose],
    )


if __name__ == "__main__":
    asyncio.run(serve(MessagingSettings(), wire))
