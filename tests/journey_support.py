"""Shared fixtures and helpers of the journey tests: the services a journey reaches, events as identity resolves them."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from cdp.identity.v1 import events_pb2 as identity_events
from cdp.journey.v1 import journey_pb2_grpc
from cdp.messaging.v1 import messaging_pb2, messaging_pb2_grpc
from services.journey.model import RunState, Wait
from services.journey.store import run_id
from services.kit.kafka import Topics
from services.kit.protos import to_struct, to_timestamp
from tests.conftest import eventually, grpc_stub
from tests.helpers import graphql as graphql_at
from tests.helpers import mongo_db, produce


@pytest.fixture(scope="module", name="journeys")
def journeys_fixture(start_service):
    for name in ("profile", "segment", "messaging", "journey"):
        stack = start_service(name)
    return stack


@pytest.fixture(scope="module", name="journey_stub")
def journey_stub_fixture(journeys):
    return grpc_stub(journeys, "journey", journey_pb2_grpc.JourneyServiceStub)


@pytest.fixture(scope="module", name="messaging_stub")
def messaging_stub_fixture(journeys):
    return grpc_stub(journeys, "messaging", messaging_pb2_grpc.MessagingServiceStub)


@pytest.fixture(scope="module", name="db")
def db_fixture(journeys):
    return mongo_db(journeys)


def gql(stack, workspace: str, query: str, variables: dict | None = None) -> dict:
    """GraphQL on the journey subgraph, as a caller with every scope in `workspace`."""
    return graphql_at(stack.http_url("journey") + "/graphql", workspace, query, variables)


def ok(answer: dict) -> dict:
    assert not answer.get("errors"), answer.get("errors")
    return answer["data"]


def webhook_channel(messaging_stub, workspace: str, url: str, name: str = "hook") -> str:
    """A webhook channel and a template on it; returns the template id. No quiet hours."""
    messaging_stub.UpsertChannel(
        messaging_pb2.Channel(workspace_id=workspace, name=name, type="webhook", config=to_struct({"url": url}))
    )
    messaging_stub.SetPolicy(messaging_pb2.Policy(workspace_id=workspace, quiet_start="00:00", quiet_end="00:00"))
    template = messaging_stub.CreateTemplate(
        messaging_pb2.Template(
            workspace_id=workspace,
            name=f"tpl-{uuid.uuid4().hex[:6]}",
            channel="webhook",
            content=messaging_pb2.Content(title="Hello", body="Order {{ vars.order_id | default('') }}"),
        )
    )
    return template.id


CREATE = """
mutation($name: String!, $definition: JSON!, $kind: String!) {
  createJourney(name: $name, definition: $definition, kind: $kind) { id status version }
}
"""
PUBLISH = """
mutation($id: ID!, $mode: String!, $nodeMap: JSON, $dryRun: Boolean!) {
  publishJourney(id: $id, mode: $mode, nodeMap: $nodeMap, dryRun: $dryRun) { version dryRun moves moved }
}
"""


def publish(stack, workspace: str, definition: dict, name: str = "journey", kind: str = "journey") -> str:
    created = ok(gql(stack, workspace, CREATE, {"name": name, "definition": definition, "kind": kind}))["createJourney"]
    ok(gql(stack, workspace, PUBLISH, {"id": created["id"], "mode": "finish", "nodeMap": None, "dryRun": False}))
    return created["id"]


def event(workspace: str, person: str, name: str, properties: dict | None = None, message_id: str | None = None,
          at: dt.datetime | None = None) -> tuple[str, str, identity_events.ResolvedEvent]:  # fmt: skip
    """A track event as identity puts it on events.resolved."""
    at = at or dt.datetime.now(dt.UTC)
    raw = identity_events.RawEvent(
        workspace_id=workspace,
        message_id=message_id or f"m-{uuid.uuid4().hex}",
        type="track",
        user_id=person,
        event=name,
        properties=to_struct(properties or {}),
        timestamp=to_timestamp(at),
        received_at=to_timestamp(at),
    )
    return (Topics.EVENTS_RESOLVED, person, identity_events.ResolvedEvent(event=raw, person_id=person, uid=1))


def send_events(stack, *events) -> None:
    produce(stack, list(events))


def runs_of(db, workspace: str, person: str) -> list[dict]:
    return list(db["runs"].find({"workspace": workspace, "person_id": person}).sort("entered_at", 1))


def wait_for_runs(db, workspace: str, person: str, n: int = 1, timeout: float = 20.0) -> list[dict]:
    return eventually(lambda: (r := runs_of(db, workspace, person)) and len(r) >= n and r, timeout=timeout)


def waiting_run(journey: str, workspace: str, person: str, due: dt.datetime) -> RunState:
    """A run at seq 1 waiting on a timer due at `due`, as the scheduler's tests store them directly."""
    return RunState(
        run_id=run_id(journey, person, "", 0), workspace_id=workspace, journey_id=journey, version=1,
        person_id=person, key="", seq=1, status="waiting", node="wait", entered_at=due - dt.timedelta(hours=1),
        wait=Wait(node="wait", due_at=due),
    )  # fmt: skip
