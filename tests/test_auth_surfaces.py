"""Every surface refuses a caller without a credential for the workspace it names.

Enumerated, not sampled: every root query field and mutation of the composed
schema (through the gateway and on the owning subgraph's own port) and every RPC
of every service's gRPC descriptor. A new field or RPC is covered the day it is
added; one that answers without a credential fails here.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import grpc
import httpx
import pytest
from google.protobuf import descriptor_pool
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLUnionType,
    build_schema,
    parse,
)
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cdp.analytics.v1 import analytics_pb2  # noqa: F401
from cdp.identity.v1 import identity_pb2
from cdp.journey.v1 import journey_pb2  # noqa: F401
from cdp.messaging.v1 import messaging_pb2  # noqa: F401
from cdp.profile.v1 import profile_pb2  # noqa: F401
from cdp.segment.v1 import segment_pb2  # noqa: F401
from services.kit.auth import Scope
from tests.helpers import claims_token, create_workspace
from tools.stack import SERVICES

SUPERGRAPH = pathlib.Path(__file__).resolve().parents[1] / "gateway" / "supergraph.graphql"

# Fields anyone may call: they check a credential of their own (a password).
PUBLIC = {"login"}

# What needs `admin` beyond the default (read for queries, write for mutations).
ADMIN_FIELDS = {
    "mergePersons",
    "unmergePersons",
    "forgetPerson",
    "allowIdentifier",
    "upsertChannel",
    "upsertWebhookChannel",
    "setMessagingPolicy",
    "updateProfileSettings",
    "createApiKey",
    "revokeApiKey",
    "apiKeys",
    "addOperator",
    "setOperatorRole",
    "removeOperator",
    "operators",
    "auditLog",
    "setJourneySettings",
    "setMessageCosts",
}


# -- the composed schema -------------------------------------------------------------
def _root_fields() -> list[tuple[str, str, str, str]]:
    """(operation, field, owning subgraph, document) for every root field of the supergraph."""
    text = SUPERGRAPH.read_text()
    schema = build_schema(text)
    owners = _owners(text)
    out = []
    for operation, root in (("query", schema.query_type), ("mutation", schema.mutation_type)):
        for name, field in root.fields.items():
            args = [
                f"{a}: {_literal(arg.type)}" for a, arg in field.args.items() if isinstance(arg.type, GraphQLNonNull)
            ]
            call = f"{name}({', '.join(args)})" if args else name
            out.append((operation, name, owners[name], f"{operation} {{ {call}{_selection(field.type)} }}"))
    return out


def _owners(text: str) -> dict[str, str]:
    owners = {}
    for definition in parse(text).definitions:
        if getattr(definition, "name", None) and definition.name.value in ("Query", "Mutation"):
            for field in definition.fields:
                for directive in field.directives:
                    if directive.name.value == "join__field":
                        graph = next(a.value.value for a in directive.arguments if a.name.value == "graph")
                        owners[field.name.value] = graph.lower()
    return owners


def _literal(kind) -> str:
    """A well-typed value for a required argument (what it means does not matter: it must not be read)."""
    if isinstance(kind, GraphQLNonNull):
        return _literal(kind.of_type)
    if isinstance(kind, GraphQLList):
        return f"[{_literal(kind.of_type)}]"
    if isinstance(kind, GraphQLEnumType):
        return next(iter(kind.values))
    if isinstance(kind, GraphQLInputObjectType):
        fields = [f"{n}: {_literal(f.type)}" for n, f in kind.fields.items() if isinstance(f.type, GraphQLNonNull)]
        return "{" + ", ".join(fields) + "}"
    assert isinstance(kind, GraphQLScalarType)
    return {"Int": "1", "Float": "1.5", "Boolean": "false", "JSON": "{}", "Date": '"2026-01-01"'}.get(
        kind.name, '"2026-01-01T00:00:00Z"' if kind.name == "DateTime" else '"x"'
    )


def _selection(kind) -> str:
    while isinstance(kind, (GraphQLNonNull, GraphQLList)):
        kind = kind.of_type
    if isinstance(kind, (GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType)):
        return " { __typename }"
    return ""


ROOT_FIELDS = _root_fields()
# One query of each subgraph, to call it on its own port.
FIRST_QUERY = {}
for _op, _field, _owner, _document in ROOT_FIELDS:
    if _op == "query":
        FIRST_QUERY.setdefault(_owner, _document)


def test_the_enumeration_sees_every_subgraph_and_both_operation_kinds():
    owners = {owner for _, _, owner, _ in ROOT_FIELDS}
    assert owners == set(SERVICES), owners
    assert {op for op, *_ in ROOT_FIELDS} == {"query", "mutation"}
    assert len(ROOT_FIELDS) >= 39


def _codes(body: dict) -> set[str]:
    return {(e.get("extensions") or {}).get("code") for e in body.get("errors") or []}


def _post(url: str, document: str, headers: dict) -> dict:
    resp = httpx.post(url, json={"query": document}, headers=headers, timeout=30)
    return resp.json()


def _no_data(body: dict, field: str) -> bool:
    return (body.get("data") or {}).get(field) is None


def _targets(suite, owner: str) -> Iterator[tuple[str, str]]:
    yield "gateway", suite.gateway_url
    yield owner, suite.http_url(owner) + "/graphql"


@pytest.fixture(scope="module")
def two_workspaces(suite):
    a, b = "ws_auth_a", "ws_auth_b"
    for ws in (a, b):
        try:
            create_workspace(suite, ws)
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.ALREADY_EXISTS
    return a, b


@pytest.mark.parametrize(("operation", "field", "owner", "document"), ROOT_FIELDS, ids=[f[1] for f in ROOT_FIELDS])
def test_every_root_field_refuses_a_caller_without_a_credential(
    suite, two_workspaces, operation, field, owner, document
):
    _, b = two_workspaces
    for where, url in _targets(suite, owner):
        body = _post(url, document, {"x-workspace-id": b})
        assert _codes(body) == {"UNAUTHENTICATED"}, (where, body)
        assert _no_data(body, field), (where, body)


@pytest.mark.parametrize(("operation", "field", "owner", "document"), ROOT_FIELDS, ids=[f[1] for f in ROOT_FIELDS])
def test_every_root_field_refuses_a_credential_of_another_workspace(
    suite, two_workspaces, operation, field, owner, document
):
    if field in PUBLIC:
        pytest.skip("public: answers by its own password check, with no workspace data")
    a, b = two_workspaces
    for where, url in _targets(suite, owner):
        body = _post(url, document, {"authorization": f"Bearer {claims_token(a)}", "x-workspace-id": b})
        assert _codes(body) == {"FORBIDDEN"}, (where, body)
        assert _no_data(body, field), (where, body)


MUTATIONS = [f for f in ROOT_FIELDS if f[0] == "mutation" and f[1] not in PUBLIC]
ADMIN = [f for f in ROOT_FIELDS if f[1] in ADMIN_FIELDS]


@pytest.mark.parametrize(("operation", "field", "owner", "document"), MUTATIONS, ids=[f[1] for f in MUTATIONS])
def test_a_read_credential_is_refused_every_mutation(suite, two_workspaces, operation, field, owner, document):
    a, _ = two_workspaces
    for where, url in _targets(suite, owner):
        body = _post(url, document, {"authorization": f"Bearer {claims_token(a, {Scope.READ})}"})
        assert _codes(body) == {"FORBIDDEN"}, (where, body)
        assert _no_data(body, field), (where, body)


@pytest.mark.parametrize(("operation", "field", "owner", "document"), ADMIN, ids=[f[1] for f in ADMIN])
def test_admin_operations_need_the_admin_scope(suite, two_workspaces, operation, field, owner, document):
    a, _ = two_workspaces
    for where, url in _targets(suite, owner):
        body = _post(url, document, {"authorization": f"Bearer {claims_token(a, {Scope.READ, Scope.WRITE})}"})
        assert _codes(body) == {"FORBIDDEN"}, (where, body)


def test_a_write_credential_gets_past_the_check_on_ordinary_mutations(suite, two_workspaces):
    """The refusals above are about scopes: with the right one the same documents reach their resolvers."""
    a, _ = two_workspaces
    reached = 0
    for _operation, field, _owner, document in MUTATIONS:
        if field in ADMIN_FIELDS:
            continue
        body = _post(suite.gateway_url, document, {"authorization": f"Bearer {claims_token(a, {Scope.WRITE})}"})
        assert not _codes(body) & {"UNAUTHENTICATED", "FORBIDDEN"}, (field, body)
        reached += 1
    assert reached >= 10


def test_a_forged_or_expired_claims_token_is_refused_by_the_subgraphs(suite, two_workspaces):
    from services.kit import auth
    from services.kit.signing import Keyring

    a, _ = two_workspaces
    forged = auth.sign_claims(auth.Claims("test", a, auth.ALL_SCOPES), keyring=Keyring({"k1": "x" * 40}, "k1"))
    expired = auth.sign_claims(auth.Claims("test", a, auth.ALL_SCOPES), ttl=-1)
    for token in (forged, expired, "cdp_sk_nope_nope"):
        for name, document in FIRST_QUERY.items():
            body = _post(suite.http_url(name) + "/graphql", document, {"authorization": f"Bearer {token}"})
            assert _codes(body) == {"UNAUTHENTICATED"}, (name, body)
        body = _post(suite.gateway_url, "{ segments { id } }", {"authorization": f"Bearer {token}"})
        assert _codes(body) == {"UNAUTHENTICATED"}, body


# -- gRPC ---------------------------------------------------------------------------
def _rpcs() -> list[tuple[str, str, object]]:
    pool = descriptor_pool.Default()
    out = []
    for name in SERVICES:
        service = pool.FindServiceByName(f"cdp.{name}.v1.{name.capitalize()}Service")
        for method in service.methods:
            out.append((name, method.full_name.rpartition(".")[0], method))
    return out


RPCS = _rpcs()


def _call(channel: grpc.Channel, service_full: str, method, workspace: str, metadata: tuple):
    from google.protobuf import message_factory

    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    request = request_class()
    fields = {f.name for f in method.input_type.fields}
    if "workspace_id" in fields:
        request.workspace_id = workspace
    elif "id" in fields and method.name == "GetWorkspace":
        request.id = workspace
    elif "requests" in fields:
        request.requests.add().workspace_id = workspace
    path = f"/{service_full}/{method.name}"
    if method.server_streaming:
        call = channel.unary_stream(path, request_class.SerializeToString, response_class.FromString)
        list(call(request, metadata=metadata, timeout=10))
    else:
        call = channel.unary_unary(path, request_class.SerializeToString, response_class.FromString)
        call(request, metadata=metadata, timeout=10)


def _code(channel, service_full, method, workspace, metadata) -> grpc.StatusCode:
    try:
        _call(channel, service_full, method, workspace, metadata)
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def _bearer(token: str) -> tuple:
    return (("authorization", f"Bearer {token}"),)


def test_every_rpc_refuses_a_caller_without_a_credential_or_for_another_workspace(suite, two_workspaces):
    a, b = two_workspaces
    seen = 0
    for name, service_full, method in RPCS:
        with grpc.insecure_channel(suite.grpc_target(name)) as channel:
            assert _code(channel, service_full, method, b, ()) == grpc.StatusCode.UNAUTHENTICATED, method.full_name
            garbage = _bearer("not-a-credential")
            assert _code(channel, service_full, method, b, garbage) == grpc.StatusCode.UNAUTHENTICATED, method.name
            other = _bearer(claims_token(a))
            assert _code(channel, service_full, method, b, other) == grpc.StatusCode.PERMISSION_DENIED, method.name
            seen += 1
    assert seen == len(RPCS) >= 52


def test_a_read_credential_is_refused_every_rpc_that_changes_something(suite, two_workspaces):
    a, _ = two_workspaces
    writes = 0
    for name, service_full, method in RPCS:
        access = _access(name)[f"/{service_full}/{method.name}"]
        with grpc.insecure_channel(suite.grpc_target(name)) as channel:
            code = _code(channel, service_full, method, a, _bearer(claims_token(a, {Scope.READ})))
        if access.scope is Scope.READ and not access.service_only:
            assert code != grpc.StatusCode.PERMISSION_DENIED, (method.full_name, code)
            assert code != grpc.StatusCode.UNAUTHENTICATED, (method.full_name, code)
        else:
            assert code == grpc.StatusCode.PERMISSION_DENIED, (method.full_name, code)
            writes += 1
    assert writes >= 25


def _access(service: str) -> dict:
    import importlib

    from services.kit.grpc_server import GrpcService, access_table

    module = importlib.import_module(f"services.{service}.grpc_api")
    servicer_class = getattr(module, f"{service.capitalize()}Grpc")
    full = f"cdp.{service}.v1.{service.capitalize()}Service"
    return access_table([GrpcService(lambda *_: None, servicer_class, full)])


def test_only_a_service_credential_creates_workspaces(suite, two_workspaces):
    a, _ = two_workspaces
    with grpc.insecure_channel(suite.grpc_target("identity")) as channel:
        method = descriptor_pool.Default().FindMethodByName("cdp.identity.v1.IdentityService.CreateWorkspace")
        code = _code(channel, "cdp.identity.v1.IdentityService", method, a, _bearer(claims_token(a)))
    assert code == grpc.StatusCode.PERMISSION_DENIED


def test_health_stays_open_and_reflection_is_off(suite):
    for name in SERVICES:
        with grpc.insecure_channel(suite.grpc_target(name)) as channel:
            answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
            from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            with pytest.raises(grpc.RpcError) as err:
                list(
                    stub.ServerReflectionInfo(
                        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
                    )
                )
            assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED


# -- the same refusals with real secret API keys (looked up through identity, not signed claims) ----
@pytest.fixture(scope="module")
def read_key(suite, two_workspaces) -> str:
    from cdp.identity.v1 import identity_pb2_grpc
    from tests.conftest import grpc_stub

    a, _ = two_workspaces
    stub = grpc_stub(suite, "identity", identity_pb2_grpc.IdentityServiceStub)
    made = stub.CreateApiKey(identity_pb2.CreateApiKeyRequest(workspace_id=a, name="read-only", scopes=["read"]))
    return made.secret


def test_a_read_api_key_is_refused_every_mutation_and_another_workspace(suite, two_workspaces, read_key):
    a, b = two_workspaces
    bearer = {"authorization": f"Bearer {read_key}"}
    for _operation, field, _owner, document in MUTATIONS:
        body = _post(suite.gateway_url, document, bearer)
        assert _codes(body) == {"FORBIDDEN"}, (field, body)
        assert _no_data(body, field), (field, body)
    # It reads its own workspace, and nothing of another one.
    assert "errors" not in _post(suite.gateway_url, "{ segments { id } }", bearer)
    body = _post(suite.gateway_url, "{ segments { id } }", {**bearer, "x-workspace-id": b})
    assert _codes(body) == {"FORBIDDEN"} and _no_data(body, "segments"), body
    # A subgraph takes no API key at all, only the gateway's signed claims.
    for name, document in FIRST_QUERY.items():
        body = _post(suite.http_url(name) + "/graphql", document, bearer)
        assert _codes(body) == {"UNAUTHENTICATED"}, (name, body)


def test_a_read_api_key_over_grpc_reads_but_changes_nothing(suite, two_workspaces, read_key):
    a, b = two_workspaces
    changed = read = 0
    for name, service_full, method in RPCS:
        access = _access(name)[f"/{service_full}/{method.name}"]
        with grpc.insecure_channel(suite.grpc_target(name)) as channel:
            mine = _code(channel, service_full, method, a, _bearer(read_key))
            theirs = _code(channel, service_full, method, b, _bearer(read_key))
        assert theirs == grpc.StatusCode.PERMISSION_DENIED, (method.full_name, theirs)
        if access.scope is Scope.READ and not access.service_only:
            assert mine not in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED), method.full_name
            read += 1
        else:
            assert mine == grpc.StatusCode.PERMISSION_DENIED, (method.full_name, mine)
            changed += 1
    assert read >= 20 and changed >= 25
