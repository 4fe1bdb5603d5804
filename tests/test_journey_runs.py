"""Journeys against the real services: entries, waits, exactly one branch, exits, goals, versions.

Events are put on events.resolved as identity would; sends go through
messaging to a webhook sink in this process, so "sent once" counts real
requests.
"""

from __future__ import annotations

import time
import uuid

from cdp.journey.v1 import journey_pb2
from services.kit.protos import to_struct
from tests.conftest import eventually
from tests.journey_support import (  # noqa: F401 (module fixtures)
    PUBLISH,
    db_fixture,
    event,
    gql,
    journey_stub_fixture,
    journeys_fixture,
    messaging_stub_fixture,
    ok,
    publish,
    runs_of,
    send_events,
    wait_for_runs,
    webhook_channel,
)


def abandoned_checkout(template: str, timeout: str = "2s") -> dict:
    """Scenario 3's shape: a keyed run per order; no order with the same order_id in time -> a reminder."""
    return {
        "entry": {
            "event": {"name": "Checkout Started"},
            "policy": {"mode": "keyed", "key": "order_id", "max_active": 3},
        },
        "exit": [{"event": "Account Deleted"}],
        "goal": {"event": "Order Completed", "within": "7d"},
        "start": "wait_order",
        "nodes": {
            "wait_order": {
                "type": "wait_event",
                "event": "Order Completed",
                "match": ["order_id"],
                "timeout": timeout,
                "on_event": "bought",
                "on_timeout": "remind",
            },  # fmt: skip
            "remind": {"type": "send", "channel": "hook", "template": template, "next": "end"},
            "bought": {"type": "exit"},
            "end": {"type": "exit"},
        },
    }


def sent_to(sink, person: str) -> list:
    return [r for r in sink.received if r.body.get("personId") == person]


def test_an_abandoned_checkout_gets_one_reminder_and_a_completed_one_none(
    journeys, db, messaging_stub, sink, workspace_id
):
    template = webhook_channel(messaging_stub, workspace_id, sink.url + "/j1")
    publish(journeys, workspace_id, abandoned_checkout(template))
    send_events(
        journeys,
        event(workspace_id, "p-abandon", "Checkout Started", {"order_id": "o1"}),
        event(workspace_id, "p-buyer", "Checkout Started", {"order_id": "o2"}),
    )
    wait_for_runs(db, workspace_id, "p-buyer")
    send_events(journeys, event(workspace_id, "p-buyer", "Order Completed", {"order_id": "o2", "revenue": 99}))

    eventually(lambda: len(sent_to(sink, "p-abandon")) == 1, timeout=30)
    abandon = eventually(lambda: (r := runs_of(db, workspace_id, "p-abandon")) and r[0]["status"] == "done" and r)
    buyer = eventually(lambda: (r := runs_of(db, workspace_id, "p-buyer")) and r[0]["status"] != "waiting" and r)
    time.sleep(3)  # past the buyer's timeout: the timer found the run already moved
    assert sent_to(sink, "p-buyer") == []
    assert len(sent_to(sink, "p-abandon")) == 1
    assert abandon[0]["node"] == "end"
    assert buyer[0]["node"] == "bought" and buyer[0]["converted_at"] is not None
    assert buyer[0]["conversion_value"] == 99


def test_keyed_entries_one_run_per_order_and_a_replayed_event_enters_once(
    journeys, db, messaging_stub, sink, workspace_id
):
    template = webhook_channel(messaging_stub, workspace_id, sink.url + "/j2")
    publish(journeys, workspace_id, abandoned_checkout(template, timeout="1h"))
    first = event(workspace_id, "p-keyed", "Checkout Started", {"order_id": "a"}, message_id="m-a")
    send_events(journeys, first, first, event(workspace_id, "p-keyed", "Checkout Started", {"order_id": "b"}))
    runs = wait_for_runs(db, workspace_id, "p-keyed", 2)
    time.sleep(2)
    runs = runs_of(db, workspace_id, "p-keyed")
    assert sorted(r["key"] for r in runs) == ["a", "b"]
    assert all(r["status"] == "waiting" for r in runs)
    # A checkout without the key property enters nobody.
    send_events(journeys, event(workspace_id, "p-keyed", "Checkout Started", {}))
    time.sleep(2)
    assert len(runs_of(db, workspace_id, "p-keyed")) == 2


def test_an_exit_event_ends_a_long_wait_within_seconds(journeys, db, messaging_stub, sink, workspace_id):
    template = webhook_channel(messaging_stub, workspace_id, sink.url + "/j3")
    publish(journeys, workspace_id, abandoned_checkout(template, timeout="30d"))
    send_events(journeys, event(workspace_id, "p-exit", "Checkout Started", {"order_id": "x"}))
    wait_for_runs(db, workspace_id, "p-exit")
    began = time.monotonic()
    send_events(journeys, event(workspace_id, "p-exit", "Account Deleted"))
    run = eventually(
        lambda: (r := runs_of(db, workspace_id, "p-exit")) and r[0]["status"] == "exited" and r[0], timeout=15
    )
    assert time.monotonic() - began < 15
    assert "due_at" not in run  # the 30-day timer is gone, not merely ignored later
    assert run["end_reason"].startswith("exit")


def test_the_api_enters_a_person_once_per_request_and_lists_their_runs(
    journeys, db, journey_stub, messaging_stub, sink, workspace_id
):
    template = webhook_channel(messaging_stub, workspace_id, sink.url + "/j4")
    journey = publish(journeys, workspace_id, abandoned_checkout(template, timeout="1h"))
    ask = journey_pb2.EnterPersonRequest(
        workspace_id=workspace_id, journey_id=journey, person_id="p-api", key="o9",
        properties=to_struct({"order_id": "o9"}), request_id="req-1",
    )  # fmt: skip
    first = journey_stub.EnterPerson(ask)
    again = journey_stub.EnterPerson(ask)
    assert first.entered and first.run.status == "waiting" and first.run.node == "wait_order"
    assert not again.entered and again.run.id == first.run.id
    listed = journey_stub.ListRuns(journey_pb2.ListRunsRequest(workspace_id=workspace_id, person_id="p-api"))
    assert [r.id for r in listed.runs] == [first.run.id]
    person = ok(
        gql(
            journeys,
            workspace_id,
            '{ _entities(representations: [{__typename: "Person", id: "p-api"}]) { ... on Person { journeys { id status node key } } } }',
        )
    )
    assert person["_entities"][0]["journeys"] == [
        {"id": first.run.id, "status": "waiting", "node": "wait_order", "key": "o9"}
    ]


def test_a_bad_definition_is_refused_with_its_json_path_and_nothing_is_stored(journeys, db, workspace_id):
    bad = abandoned_checkout("t")
    bad["nodes"]["remind"]["next"] = "nowhere"
    answer = gql(
        journeys,
        workspace_id,
        """mutation($d: JSON!) { createJourney(name: "bad", definition: $d) { id } }""",
        {"d": bad},
    )
    error = answer["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "nodes.remind.next" in error["message"] + str(error["extensions"].get("field", ""))
    assert db["journeys"].count_documents({"workspace": workspace_id}) == 0


def test_publishing_a_new_version_moves_people_in_flight_through_the_node_map(
    journeys, db, messaging_stub, sink, workspace_id
):
    template = webhook_channel(messaging_stub, workspace_id, sink.url + "/j5")
    journey = publish(journeys, workspace_id, abandoned_checkout(template, timeout="1h"))
    send_events(
        journeys, *[event(workspace_id, f"p-mv{i}", "Checkout Started", {"order_id": f"o{i}"}) for i in range(3)]
    )
    eventually(lambda: db["runs"].count_documents({"journey_id": journey, "status": "waiting"}) == 3)
    v2 = abandoned_checkout(template, timeout="2h")
    v2["nodes"]["hold"] = v2["nodes"].pop("wait_order")
    v2["start"] = "hold"
    ok(
        gql(
            journeys,
            workspace_id,
            "mutation($id: ID!, $d: JSON!) { saveJourneyDraft(id: $id, definition: $d) { id } }",
            {"id": journey, "d": v2},
        )
    )
    dry = ok(
        gql(
            journeys,
            workspace_id,
            PUBLISH,
            {"id": journey, "mode": "move", "nodeMap": {"wait_order": "hold"}, "dryRun": True},
        )
    )
    assert dry["publishJourney"]["moves"] == {"hold": 3, "stay": 0}
    assert db["runs"].count_documents({"journey_id": journey, "version": 1}) == 3  # a dry run changes nothing
    done = ok(
        gql(
            journeys,
            workspace_id,
            PUBLISH,
            {"id": journey, "mode": "move", "nodeMap": {"wait_order": "hold"}, "dryRun": False},
        )
    )
    assert done["publishJourney"]["version"] == 2 and done["publishJourney"]["moved"] == 3
    moved = list(db["runs"].find({"journey_id": journey}))
    assert {(r["version"], r["node"], r["status"]) for r in moved} == {(2, "hold", "waiting")}
    # The first version is kept as it was.
    assert db["journey_versions"].find_one({"_id": f"{journey}:1"})["definition"]["start"] == "wait_order"


def test_per_step_counts_and_who_is_at_a_step(journeys, db, messaging_stub, sink, workspace_id):
    template = webhook_channel(messaging_stub, workspace_id, sink.url + "/j6")
    journey = publish(journeys, workspace_id, abandoned_checkout(template, timeout="1h"))
    send_events(journeys, *[event(workspace_id, f"p-c{i}", "Checkout Started", {"order_id": "o"}) for i in range(4)])
    eventually(lambda: db["runs"].count_documents({"journey_id": journey, "status": "waiting"}) == 4)
    send_events(journeys, event(workspace_id, "p-c0", "Order Completed", {"order_id": "o", "revenue": 10}))
    eventually(lambda: db["runs"].count_documents({"journey_id": journey, "status": "waiting"}) == 3)
    data = ok(
        gql(
            journeys,
            workspace_id,
            """query($id: ID!) { journey(id: $id) { stats { node entered waiting exited converted done } } }""",
            {"id": journey},
        )
    )
    stats = {s["node"]: s for s in data["journey"]["stats"]}
    assert stats["wait_order"]["entered"] == 4 and stats["wait_order"]["waiting"] == 3
    assert stats["bought"]["entered"] == 1
    assert sum(s["converted"] for s in stats.values()) == 1
    page = ok(
        gql(
            journeys,
            workspace_id,
            """query($id: ID!) { journeyStepPeople(id: $id, node: "wait_order", limit: 2) { runs { personId } nextAfter } }""",
            {"id": journey},
        )
    )
    first = page["journeyStepPeople"]
    assert len(first["runs"]) == 2 and first["nextAfter"]
    rest = ok(
        gql(
            journeys,
            workspace_id,
            """query($id: ID!, $a: String) { journeyStepPeople(id: $id, node: "wait_order", after: $a, limit: 2) { runs { personId } nextAfter } }""",
            {"id": journey, "a": first["nextAfter"]},
        )
    )
    people = {r["personId"] for r in first["runs"] + rest["journeyStepPeople"]["runs"]}
    assert people == {"p-c1", "p-c2", "p-c3"}


def test_another_workspace_sees_none_of_it(journeys, db, messaging_stub, sink, workspace_id):
    template = webhook_channel(messaging_stub, workspace_id, sink.url + "/j7")
    journey = publish(journeys, workspace_id, abandoned_checkout(template, timeout="1h"))
    other = f"ws_{uuid.uuid4().hex[:12]}"
    assert ok(gql(journeys, other, "query($id: ID!) { journey(id: $id) { id } }", {"id": journey}))["journey"] is None
    refused = gql(journeys, other, "mutation($id: ID!) { pauseJourney(id: $id) { id } }", {"id": journey})
    assert refused["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert db["journeys"].find_one({"_id": journey})["status"] == "active"
