"""GraphQL plumbing shared by the subgraphs: the caller and workspace, error codes, mode, app."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from graphql import FieldNode, GraphQLError, OperationDefinitionNode, OperationType
from starlette.requests import Request
from strawberry.asgi import GraphQL
from strawberry.extensions import DisableIntrospection, SchemaExtension
from strawberry.schema.config import StrawberryConfig

from services.kit import auth, metrics
from services.kit.auth import WORKSPACE_HEADER, Claims, Scope
from services.kit.errors import CdpError, InvalidInput, Unauthenticated

# Pinned: the Guild composer behind Hive Gateway rejects federation 2.11.
FEDERATION_VERSION = "2.9"

# The code and message of an error nobody anticipated; its text stays in the log.
INTERNAL = "INTERNAL"

# graphql-core's wording when it names schema members close to a misspelt one.
_SUGGESTION = "Did you mean"

log = logging.getLogger(__name__)


def dev_mode() -> bool:
    """CDP_DEV_MODE=1 turns GraphiQL, introspection and field suggestions on; the default is production.

    The same variable as the gateway's, so one setting switches the whole suite.
    """
    return os.environ.get("CDP_DEV_MODE", "") == "1"


def caller_of(info: strawberry.Info) -> Claims:
    """Who sent this request: the claims the gateway signed (subgraphs accept nothing else)."""
    context = info.context
    if "claims" not in context:
        token = auth.bearer_of(context["request"].headers.get("authorization"))
        if not auth.looks_signed(token):
            raise Unauthenticated("subgraphs accept only claims the gateway signed: call the gateway", "authorization")
        context["claims"] = auth.verify_claims(token)
    return context["claims"]


def workspace_of(info: strawberry.Info, scope: Scope | None = None) -> str:
    """The tenant of this request, once the caller is known to hold `scope` in it.

    Every subgraph read and write is scoped by it. The scope defaults to `read`
    for queries and `write` for mutations; admin operations ask for `admin`.
    """
    claims = caller_of(info)
    if scope is None:
        scope = Scope.WRITE if info.operation.operation == OperationType.MUTATION else Scope.READ
    claims.require(scope)
    requested = info.context["request"].headers.get(WORKSPACE_HEADER, "")
    if len(requested) > 64:
        raise InvalidInput("workspace id is longer than 64 characters", WORKSPACE_HEADER)
    return claims.workspace_for(requested)


class ErrorCodes(SchemaExtension):
    """Copy a domain error's code and field into the GraphQL error's extensions."""

    def on_operation(self):
        yield
        result = self.execution_context.result
        if not result or not result.errors:
            return
        for error in result.errors:
            original = error.original_error
            if isinstance(original, CdpError):
                error.extensions = {**(error.extensions or {}), **original.as_dict()}
            elif _is_unexpected(error) and (error.extensions or {}).get("code") != INTERNAL:
                # Not masked by process_errors (an error strawberry did not pass to it): mask it here.
                _mask(error)


def _is_unexpected(error: GraphQLError) -> bool:
    original = error.original_error
    return original is not None and not isinstance(original, (CdpError, GraphQLError))


def _mask(error: GraphQLError) -> None:
    """Answer a crash with a correlation id only; the log line with the same id holds the traceback."""
    correlation_id = uuid.uuid4().hex
    original = error.original_error
    log.error(
        "unexpected error in a GraphQL resolver",
        extra={"correlation_id": correlation_id, "graphql_path": error.path},
        exc_info=(type(original), original, original.__traceback__),
    )
    error.message = f"internal error (correlation id {correlation_id})"
    error.extensions = {"code": INTERNAL, "correlationId": correlation_id}


class OperationMetrics(SchemaExtension):
    """Count and time each operation by type and root field (`query person`, `mutation sendMessage`).

    The root field, not the client's operation name: names are free text a client
    makes up, fields are bounded by the schema (anything else is `unknown`).
    """

    def on_operation(self):
        started = time.perf_counter()
        yield
        kind, operation = _operation_of(self.execution_context)
        result = self.execution_context.result
        outcome = "error" if result is None or result.errors else "ok"
        metrics.GRAPHQL_OPERATIONS.labels(kind, operation, outcome).inc()
        metrics.GRAPHQL_DURATION.labels(kind, operation).observe(time.perf_counter() - started)


def _operation_of(execution_context) -> tuple[str, str]:
    document = execution_context.graphql_document
    if document is None:
        return "unknown", "unknown"
    wanted = execution_context.operation_name
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if wanted is not None and (definition.name is None or definition.name.value != wanted):
            continue
        kind = definition.operation.value
        first = definition.selection_set.selections[0] if definition.selection_set.selections else None
        if not isinstance(first, FieldNode):
            return kind, "unknown"
        name = first.name.value
        root = execution_context.schema._schema.get_root_type(definition.operation)
        known = name in ("__schema", "__type", "__typename") or (root is not None and name in root.fields)
        return kind, name if known else "unknown"
    return "unknown", "unknown"


class _Schema(strawberry.federation.Schema):
    def process_errors(self, errors, execution_context=None) -> None:
        # Runs before the extensions see the result, so a crash's text never reaches ErrorCodes or the client.
        for error in errors:
            if _is_unexpected(error):
                _mask(error)
            elif self.config.disable_field_suggestions and _SUGGESTION in error.message:
                # Strawberry drops them from unknown fields only; arguments, enum values and input fields too.
                error.message = error.message.split(_SUGGESTION)[0].strip()
        # A user's mistake is answered, not logged as a crash with a traceback; a crash was logged by _mask.
        rest = [e for e in errors if not isinstance(e.original_error, CdpError) and not _is_unexpected(e)]
        if rest:
            super().process_errors(rest, execution_context)


def schema(query: type, mutation: type | None = None, types: list[type] | None = None) -> strawberry.Schema:
    dev = dev_mode()
    # Federation's `_service { sdl }` is an ordinary field, so the gateway composes without introspection.
    hygiene = [] if dev else [DisableIntrospection]
    return _Schema(
        query=query,
        mutation=mutation,
        types=types or [],
        federation_version=FEDERATION_VERSION,
        extensions=[ErrorCodes, OperationMetrics, *hygiene],
        config=StrawberryConfig(disable_field_suggestions=not dev),
    )


ContextFactory = Callable[[Request], Awaitable[dict[str, Any]]]


class _GraphQLApp(GraphQL):
    def __init__(self, schema: strawberry.Schema, make_context: ContextFactory) -> None:
        super().__init__(schema, graphql_ide="graphiql" if dev_mode() else None)
        self._make_context = make_context

    async def get_context(self, request, response) -> dict[str, Any]:
        context = await self._make_context(request)
        context.update({"request": request, "response": response})
        return context


def graphql_app(schema: strawberry.Schema, make_context: ContextFactory) -> GraphQL:
    return _GraphQLApp(schema, make_context)
