"""Identity: resolving events to persons, linking on identify, gRPC and GraphQL lookups."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from cdp.common.v1 import common_pb2
from cdp.identity.v1 import events_pb2, identity_pb2, identity_pb2_grpc
from services.kit.kafka import Topics
from tests.conftest import eventually
from tests.helpers import collect, create_workspace, graphql, grpc_channel, lookup, new_id, read_topic


@pytest.fixture(scope="module")
def identity(start_service):
    return start_service("identity")


@pytest.fixture
def stub(identity):
    with grpc_channel(identity.grpc_target("identity")) as channel:
        yield identity_pb2_grpc.IdentityServiceStub(channel)


def test_identify_links_the_anonymous_id_to_the_user(identity, stub, workspace_id):
    key = create_workspace(identity, workspace_id)
    assert (
        collect(identity, key, [{"type": "track", "anonymousId": "dev-1", "event": "Product Viewed"}]).status_code
        == 200
    )
    anonymous = eventually(lambda: lookup(stub, workspace_id, "anonymous_id", "dev-1"))
    collect(identity, key, [{"type": "identify", "anonymousId": "dev-1", "userId": "alice", "traits": {"name": "A"}}])
    user = eventually(lambda: lookup(stub, workspace_id, "user_id", "alice"))
    assert user.id == anonymous.id and user.uid == anonymous.uid
    held = {
        (i.type, i.value)
        for i in stub.GetPerson(identity_pb2.GetPersonRequest(workspace_id=workspace_id, person_id=user.id)).identifiers
    }
    assert held == {("anonymous_id", "dev-1"), ("user_id", "alice")}


def test_two_logins_on_one_device_stay_two_people(identity, stub, workspace_id):
    key = create_workspace(identity, workspace_id)
    collect(identity, key, [{"type": "identify", "anonymousId": "shared-tablet", "userId": "mum"}])
    mum = eventually(lambda: lookup(stub, workspace_id, "user_id", "mum"))
    collect(identity, key, [{"type": "identify", "anonymousId": "shared-tablet", "userId": "dad"}])
    dad = eventually(lambda: lookup(stub, workspace_id, "user_id", "dad"))
    assert dad.id != mum.id and dad.uid != mum.uid
    # The device stays with the person who first held it; dad never gains a second user id.
    assert lookup(stub, workspace_id, "anonymous_id", "shared-tablet").id == mum.id
    assert [i.value for i in dad.identifiers if i.type == "user_id"] == ["dad"]


def test_resolved_events_carry_person_and_dense_uid(identity, stub, workspace_id):
    key = create_workspace(identity, workspace_id)
    ids = [new_id() for _ in range(3)]
    events = [
        {"type": "track", "userId": f"user-{n}", "event": "Signed Up", "messageId": mid} for n, mid in enumerate(ids)
    ]
    assert collect(identity, key, events).status_code == 200
    resolved = read_topic(
        identity,
        Topics.EVENTS_RESOLVED,
        events_pb2.ResolvedEvent,
        20,
        until=lambda ms: set(ids) <= {m.event.message_id for m in ms},
    )
    mine = {m.event.message_id: m for m in resolved if m.event.workspace_id == workspace_id}
    assert set(mine) == set(ids)
    assert sorted(m.uid for m in mine.values()) == [1, 2, 3]
    assert all(m.person_created for m in mine.values())
    for n, mid in enumerate(ids):
        assert lookup(stub, workspace_id, "user_id", f"user-{n}").id == mine[mid].person_id


def test_concurrent_resolves_of_new_identifiers_converge_on_one_person(identity, stub, workspace_id):
    request = identity_pb2.ResolveRequest(
        workspace_id=workspace_id,
        identifiers=[
            common_pb2.Identifier(type="user_id", value="racer"),
            common_pb2.Identifier(type="anonymous_id", value="r-dev"),
        ],
    )
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: stub.Resolve(request), range(16)))
    assert len({r.person.id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert lookup(stub, workspace_id, "anonymous_id", "r-dev").id == results[0].person.id


def test_grpc_errors(identity, stub, workspace_id):
    with pytest.raises(grpc.RpcError) as err:
        stub.Resolve(identity_pb2.ResolveRequest(workspace_id=workspace_id))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "identifiers" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        stub.GetPerson(identity_pb2.GetPersonRequest(workspace_id=workspace_id, person_id="p_missing"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        stub.CreateWorkspace(identity_pb2.CreateWorkspaceRequest(id="bad id!"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert lookup(stub, workspace_id, "user_id", "nobody") is None


def test_health_is_served_without_a_credential(identity):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(identity.grpc_target("identity")) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="cdp.identity.v1.IdentityService")
        )
    assert health.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_the_services_when_asked_for():
    """Off by default (tests/test_auth_surfaces.py); CDP_GRPC_REFLECTION=true serves it."""
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    from cdp.identity.v1 import identity_pb2_grpc as stubs
    from services.identity.grpc_api import IdentityGrpc
    from services.kit.auth import Authenticator
    from services.kit.grpc_server import GrpcServer, GrpcService

    async def nobody(token, workspace):
        raise AssertionError("reflection needs no credential")

    service = GrpcService(
        stubs.add_IdentityServiceServicer_to_server,
        IdentityGrpc.__new__(IdentityGrpc),
        "cdp.identity.v1.IdentityService",
    )
    server = GrpcServer(0, [service], Authenticator(nobody), host="127.0.0.1", reflect=True)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            names = set()
            async for answer in stub.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")])
            ):
                names |= {s.name for s in answer.list_services_response.service}
    finally:
        await server.stop(0)
    assert {"cdp.identity.v1.IdentityService", "grpc.health.v1.Health"} <= names


def test_graphql_person_by_identity_and_by_id(identity, stub, workspace_id):
    person = stub.Resolve(
        identity_pb2.ResolveRequest(
            workspace_id=workspace_id, identifiers=[common_pb2.Identifier(type="user_id", value="gql-user")]
        )
    ).person
    url = identity.http_url("identity") + "/graphql"
    query = 'query($v: String!) { person(identity: {type: "user_id", value: $v}) { id uid identities { type value } } }'
    data = graphql(url, workspace_id, query, {"v": "gql-user"})["data"]["person"]
    assert data == {"id": person.id, "uid": person.uid, "identities": [{"type": "user_id", "value": "gql-user"}]}
    by_id = graphql(url, workspace_id, "query($id: ID!) { person(id: $id) { uid } }", {"id": person.id})
    assert by_id["data"]["person"]["uid"] == person.uid
    # Another workspace cannot see it.
    assert graphql(url, "other-" + workspace_id, query, {"v": "gql-user"})["data"]["person"] is None
    both = graphql(url, workspace_id, "{ person { id } }")
    assert both["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_graphql_requires_the_workspace_header(identity):
    import httpx

    resp = httpx.post(identity.http_url("identity") + "/graphql", json={"query": '{ person(id: "x") { id } }'})
    assert resp.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def _set(*pairs):
    return identity_pb2.IdentifierSet(identifiers=[common_pb2.Identifier(type=t, value=v) for t, v in pairs])


def test_resolve_batch_answers_in_order_as_one_resolve_each(identity, stub, workspace_id):
    # a3 and a4 are cached for two persons before the batch; the batch's third item
    # merges them, so the fourth must be read again and land on the winner.
    first = stub.Resolve(
        identity_pb2.ResolveRequest(workspace_id=workspace_id, identifiers=_set(("anonymous_id", "a3")).identifiers)
    )
    second = stub.Resolve(
        identity_pb2.ResolveRequest(workspace_id=workspace_id, identifiers=_set(("anonymous_id", "a4")).identifiers)
    )
    assert first.person.id != second.person.id
    answer = stub.ResolveBatch(
        identity_pb2.ResolveBatchRequest(
            workspace_id=workspace_id,
            items=[
                _set(("user_id", "u1"), ("anonymous_id", "a1")),
                _set(("anonymous_id", "a1"), ("device_id", "d1")),
                _set(("anonymous_id", "a3"), ("anonymous_id", "a4")),
                _set(("anonymous_id", "a4")),
                _set(("anonymous_id", "undefined")),
                _set(("user_id", "u2"), ("anonymous_id", "a1")),
            ],
        )
    )
    r = answer.results
    assert len(r) == 6
    assert r[0].created and not r[1].created and r[1].person.id == r[0].person.id
    assert r[2].person.id == r[3].person.id == first.person.id  # the older person wins
    assert "no usable identifier" in r[4].error and not r[4].person.id
    # Two user ids never merge: a1 stays with u1, u2 becomes its own person.
    assert r[5].created and r[5].person.id != r[0].person.id
    assert lookup(stub, workspace_id, "device_id", "d1").id == r[0].person.id
    assert lookup(stub, workspace_id, "anonymous_id", "a1").id == r[0].person.id


def test_a_new_shoppers_events_in_one_batch_make_one_person_as_one_by_one_would(identity, stub, workspace_id):
    # A new shopper's first view, their identify with the same anonymous id, then an event from
    # their device: one cluster, created in bulk. Another workspace gets the same events one at a time.
    items = [
        (("anonymous_id", "c-a1"),),
        (("user_id", "c-u1"), ("anonymous_id", "c-a1"), ("email", " C.U1@Example.com ")),
        (("device_id", "c-d1"), ("anonymous_id", "c-a1")),
        (("anonymous_id", "c-a2"),),
    ]
    answer = stub.ResolveBatch(
        identity_pb2.ResolveBatchRequest(workspace_id=workspace_id, items=[_set(*i) for i in items])
    )
    r = answer.results
    assert r[0].created and not r[1].created and not r[2].created and r[3].created
    assert r[0].person.id == r[1].person.id == r[2].person.id != r[3].person.id
    one_by_one = f"{workspace_id}_seq"
    singles = [
        stub.Resolve(identity_pb2.ResolveRequest(workspace_id=one_by_one, identifiers=_set(*i).identifiers))
        for i in items
    ]
    assert [s.created for s in singles] == [x.created for x in r]

    def held(ws, person_id):
        person = stub.GetPerson(identity_pb2.GetPersonRequest(workspace_id=ws, person_id=person_id))
        return {(i.type, i.value) for i in person.identifiers}

    assert (
        held(workspace_id, r[0].person.id)
        == held(one_by_one, singles[0].person.id)
        == {
            ("anonymous_id", "c-a1"),
            ("user_id", "c-u1"),
            ("email", "c.u1@example.com"),
            ("device_id", "c-d1"),
        }
    )
    assert lookup(stub, workspace_id, "email", "c.u1@example.com").id == r[0].person.id
    merges = stub.ListMerges(identity_pb2.ListMergesRequest(workspace_id=workspace_id, person_id=r[0].person.id))
    assert list(merges.merges) == []


def test_resolve_batch_refuses_oversized_and_typeless_requests(identity, stub, workspace_id):
    with pytest.raises(grpc.RpcError) as err:
        stub.ResolveBatch(
            identity_pb2.ResolveBatchRequest(
                workspace_id=workspace_id, items=[_set(("user_id", f"x{n}")) for n in range(1001)]
            )
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "at most 1000" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        stub.ResolveBatch(
            identity_pb2.ResolveBatchRequest(
                workspace_id=workspace_id, items=[_set(("user_id", "fine")), _set(("", "typeless"))]
            )
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "items[1]" in err.value.details()
    # Nothing of the refused requests was written.
    assert lookup(stub, workspace_id, "user_id", "x0") is None
    assert lookup(stub, workspace_id, "user_id", "fine") is None


def test_concurrent_batches_of_new_shoppers_converge_without_merges(identity, stub, workspace_id):
    import random

    shoppers = [(("user_id", f"nu{n}"), ("anonymous_id", f"na{n}")) for n in range(40)]

    def call(seed):
        order = list(range(len(shoppers)))
        random.Random(seed).shuffle(order)
        answer = stub.ResolveBatch(
            identity_pb2.ResolveBatchRequest(workspace_id=workspace_id, items=[_set(*shoppers[n]) for n in order])
        )
        return {n: r for n, r in zip(order, answer.results, strict=True)}

    with ThreadPoolExecutor(6) as pool:
        runs = list(pool.map(call, range(6)))
    for n in range(len(shoppers)):
        assert len({run[n].person.id for run in runs}) == 1
        assert sum(run[n].created for run in runs) == 1
        person = runs[0][n].person.id
        assert lookup(stub, workspace_id, "anonymous_id", f"na{n}").id == person
        # Racing bulk claims must not leave half-claimed persons that then need merging.
        merges = stub.ListMerges(identity_pb2.ListMergesRequest(workspace_id=workspace_id, person_id=person))
        assert list(merges.merges) == []
    uids = [runs[0][n].person.uid for n in range(len(shoppers))]
    assert len(set(uids)) == len(shoppers)
