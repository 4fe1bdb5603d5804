"""identity service: collection API, identity graph, gRPC and GraphQL subgraph."""

from __future__ import annotations

import asyncio

from starlette.routing import Route

from services.identity import graphql_api, grpc_api
from services.identity.authentication import Authentication
from services.identity.cache import IdentityCache
from services.identity.collection_api import CollectionApi, CollectLimits
from services.identity.credentials import INDEXES as CREDENTIAL_INDEXES
from services.identity.credentials import Credentials
from services.identity.graph import IdentityGraph
from services.identity.login import Login
from services.identity.resolver import Resolver
from services.identity.rules_cache import RulesCache
from services.identity.store import INDEXES, IdentityStore
from services.identity.workers import ResolveWorker
from services.kit import audit as kit_audit
from services.kit.audit import Audit
from services.kit.graphql import graphql_app
from services.kit.runtime import Runtime, Wiring, serve
from services.kit.settings import ServiceSettings


class IdentitySettings(ServiceSettings):
    service_name: str = "identity"
    http_port: int = 4001
    grpc_port: int = 50051
    # Collection API budgets (README, "Collection API"). Segment's own sizes: 500 KB a request
    # (compressed, and again inflated), 32 KB an event.
    collect_max_request_bytes: int = 500 * 1024
    collect_max_event_bytes: int = 32 * 1024
    # Requests a second and burst, per write key and per client address, shared by every replica
    # through Redis; 0 turns one off. Far above what an SDK, the demo load or the ingest benchmark
    # sends (about 125 requests/s with 4 in flight): they are there to stop floods, not to shape.
    collect_key_rate: float = 500.0
    collect_key_burst: int = 1000
    collect_address_rate: float = 1000.0
    collect_address_burst: int = 2000
    # Write keys remembered per process, and for how long one nobody holds is refused from memory.
    collect_key_cache_entries: int = 10_000
    collect_unknown_key_seconds: float = 2.0


def wire(rt: Runtime) -> Wiring:
    store = IdentityStore(rt.db)
    cache = IdentityCache(rt.redis)
    rules = RulesCache(store)  # one cache: the resolver and the graph's merges check the same limits
    graph = IdentityGraph(rt.mongo, store, cache, rt.relay, rt.clock, rules)
    resolver = Resolver(store, graph, cache, rules)
    limits = CollectLimits.of(rt.settings)
    collection = CollectionApi(store, rt.producer, rt.clock, rt.redis, limits)
    credentials = Credentials(rt.db, rt.clock)
    audit = Audit(rt.db, rt.clock)
    authentication = Authentication(credentials)
    context = graphql_api.context_factory(
        store,
        resolver,
        graph,
        rt.clock,
        credentials=credentials,
        audit=audit,
        login=Login(credentials, rt.redis, audit),
    )
    gql = graphql_app(graphql_api.build_schema(), context)
    return Wiring(
        grpc=[grpc_api.grpc_service(store, resolver, graph, rt.clock, credentials, audit)],
        http_routes=[*collection.routes(), *authentication.routes(), Route("/graphql", gql, methods=["GET", "POST"])],
        indexes=[*INDEXES, *CREDENTIAL_INDEXES, *kit_audit.INDEXES],
        consumers=[ResolveWorker(resolver, rt.producer, rt.clock).consumer(rt.settings.kafka_bootstrap)],
        credential_lookup=authentication.claims_for,
    )


if __name__ == "__main__":
    asyncio.run(serve(IdentitySettings(), wire))
