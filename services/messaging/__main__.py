"""messaging service: channels, sends and webhook delivery; gRPC and GraphQL subgraph."""

from __future__ import annotations

import asyncio

import httpx
from starlette.routing import Route

from services.kit.graphql import graphql_app
from services.kit.runtime import Runtime, Wiring, serve
from services.kit.settings import ServiceSettings
from services.messaging import graphql_api, grpc_api
from services.messaging.channels import WEBHOOK
from services.messaging.delivery import Deliverer
from services.messaging.sending import Sender
from services.messaging.store import INDEXES, MessagingStore
from services.messaging.webhook import WebhookProvider
from services.messaging.workers import DeliveryWorker, IdentityWorker


class MessagingSettings(ServiceSettings):
    service_name: str = "messaging"
    http_port: int = 4004
    grpc_port: int = 50054
    # Seconds a webhook receiver gets to answer before the outcome counts as unknown.
    webhook_timeout: float = 10.0


def wire(rt: Runtime) -> Wiring:
    settings: MessagingSettings = rt.settings
    store = MessagingStore(rt.db)
    sender = Sender(rt.mongo, store, rt.relay, rt.clock)
    http = httpx.AsyncClient(timeout=settings.webhook_timeout, follow_redirects=False)
    deliverer = Deliverer(rt.mongo, store, rt.relay, rt.clock, {WEBHOOK: WebhookProvider(http)})
    gql = graphql_app(graphql_api.build_schema(), graphql_api.context_factory(store, sender, rt.clock))
    return Wiring(
        grpc=[grpc_api.grpc_service(store, sender, rt.clock)],
        http_routes=[Route("/graphql", gql, methods=["GET", "POST"])],
        indexes=INDEXES,
        consumers=[
            DeliveryWorker(deliverer).consumer(settings.kafka_bootstrap),
            IdentityWorker(store, rt.clock).consumer(settings.kafka_bootstrap),
        ],
        closers=[http.aclose],
    )


if __name__ == "__main__":
    asyncio.run(serve(MessagingSettings(), wire))
