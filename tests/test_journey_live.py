"""Journey behaviour that only pure tests covered, now against the running services.

Pause and resume hold and release due timers, archive ends every live run, gRPC
GetRun answers its own workspace only, leaving a segment ends a wait at once, a
"best channel" send falls back when messaging skips the first channel, and an
update-profile step reaches the profile service.
"""

from __future__ import annotations

import datetime as dt
import time

import grpc
import pytest

from cdp.journey.v1 import journey_pb2
from cdp.messaging.v1 import messaging_pb2
from cdp.profile.v1 import profile_pb2, profile_pb2_grpc
from services.kit.protos import to_struct
from tests.conftest import eventually, grpc_stub
from tests.journey_support import (  # noqa: F401 (module fixtures)
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
from tests.test_journey_entries import identify, membership


def waits_then_sends(template: str, wait: str = "3s", **extra) -> dict:
    return {
        "entry": {"event": {"name": "Go"}, "policy": {"mode": "once"}},
        "start": "wait",
        "nodes": {
            "wait": {"type": "wait", "duration": wait, "next": "send"},
            "send": {"type": "send", "channel": "hook", "template": template, "next": "end"},
            "end": {"type": "exit"},
        },
        **extra,
    }


def to(sink, path: str, person: str) -> list:
    return [r for r in sink.at(path) if r.body.get("personId") == person]


def journey_mutation(stack, workspace: str, name: str, journey: str) -> dict:
    return ok(gql(stack, workspace, f"mutation($id: ID!) {{ {name}(id: $id) {{ id status }} }}", {"id": journey}))[name]


def test_pause_holds_due_timers_resume_releases_them_and_archive_ends_every_live_run(
    journeys, db, messaging_stub, sink, workspace_id
):
    template = webhook_channel(messaging_stub, workspace_id, sink.url + "/pause")
    journey = publish(journeys, workspace_id, waits_then_sends(template))
    send_events(journeys, event(workspace_id, "p-held", "Go"))
    (run,) = wait_for_runs(db, workspace_id, "p-held")
    assert journey_mutation(journeys, workspace_id, "pauseJourney", journey)["status"] == "paused"
    # Past its due time while paused: the timer is not taken.
    time.sleep(max(0.0, (run["due_at"].replace(tzinfo=dt.UTC) - dt.datetime.now(dt.UTC)).total_seconds()) + 5)
    (held,) = runs_of(db, workspace_id, "p-held")
    assert held["status"] == "waiting" and held["node"] == "wait" and to(sink, "/pause", "p-held") == []

    assert journey_mutation(journeys, workspace_id, "resumeJourney", journey)["status"] == "active"
    eventually(lambda: runs_of(db, workspace_id, "p-held")[0]["status"] == "done", timeout=30)
    eventually(lambda: len(to(sink, "/pause", "p-held")) == 1, timeout=30)

    # Archived: a run still waiting is ended at once, its timer gone, and it sends nothing.
    send_events(journeys, event(workspace_id, "p-archived", "Go"))
    wait_for_runs(db, workspace_id, "p-archived")
    assert journey_mutation(journeys, workspace_id, "archiveJourney", journey)["status"] == "archived"
    (ended,) = runs_of(db, workspace_id, "p-archived")
    assert ended["status"] not in ("active", "waiting") and "due_at" not in ended
    time.sleep(5)
    assert to(sink, "/pause", "p-archived") == []
    assert len(to(sink, "/pause", "p-held")) == 1


def test_get_run_answers_its_own_workspace_only(journeys, db, journey_stub, messaging_stub, sink, workspace_id):
    template = webhook_channel(messaging_stub, workspace_id, sink.url + "/getrun")
    journey = publish(journeys, workspace_id, waits_then_sends(template, wait="1h"))
    send_events(journeys, event(workspace_id, "p-get", "Go"))
    (stored,) = wait_for_runs(db, workspace_id, "p-get")
    run = journey_stub.GetRun(journey_pb2.GetRunRequest(workspace_id=workspace_id, run_id=stored["_id"]))
    assert (run.id, run.journey_id, run.person_id, run.status, run.node) == (
        stored["_id"], journey, "p-get", "waiting", "wait"
    )  # fmt: skip
    with pytest.raises(grpc.RpcError) as refused:
        journey_stub.GetRun(journey_pb2.GetRunRequest(workspace_id="ws_someone_else", run_id=stored["_id"]))
    assert refused.value.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED)


def test_leaving_a_segment_ends_a_long_wait_within_seconds(journeys, db, messaging_stub, sink, workspace_id):
    template = webhook_channel(messaging_stub, workspace_id, sink.url + "/segexit")
    publish(journeys, workspace_id, waits_then_sends(template, wait="30d", exit=[{"segment_exit": "seg-vip"}]))
    send_events(journeys, event(workspace_id, "p-left", "Go"))
    wait_for_runs(db, workspace_id, "p-left")
    began = time.monotonic()
    send_events(journeys, membership(workspace_id, "p-left", "seg-vip", "exit", dt.datetime.now(dt.UTC)))
    run = eventually(lambda: (r := runs_of(db, workspace_id, "p-left")[0])["status"] == "exited" and r, timeout=15)
    assert time.monotonic() - began < 15
    assert "due_at" not in run  # the 30-day timer is gone, not merely ignored later
    # Leaving another segment ends nothing.
    send_events(journeys, event(workspace_id, "p-stays", "Go"))
    wait_for_runs(db, workspace_id, "p-stays")
    send_events(journeys, membership(workspace_id, "p-stays", "seg-other", "exit", dt.datetime.now(dt.UTC)))
    time.sleep(3)
    assert runs_of(db, workspace_id, "p-stays")[0]["status"] == "waiting"


def test_a_best_channel_send_falls_back_when_messaging_skips_the_first(
    journeys, db, messaging_stub, sink, workspace_id
):
    template = webhook_channel(messaging_stub, workspace_id, sink.url + "/fallback")
    # An SMS channel first, with its own SMS template: these people have no phone trait, so
    # messaging skips it ("no address") and the webhook channel's template goes out instead.
    messaging_stub.UpsertChannel(
        messaging_pb2.Channel(
            workspace_id=workspace_id, name="text", type="sms",
            config=to_struct({"endpoint": sink.url + "/sms", "api_key": "k", "sender": "SHOP"}),
        )
    )  # fmt: skip
    sms_template = messaging_stub.CreateTemplate(
        messaging_pb2.Template(
            workspace_id=workspace_id, name="sms-reminder", channel="sms", content=messaging_pb2.Content(body="Hi")
        )
    ).id
    definition = {
        "entry": {"event": {"name": "Go"}, "policy": {"mode": "once"}},
        "start": "send",
        "nodes": {
            "send": {"type": "send", "channel": "best", "channels": ["text", "hook"], "template": template,
                     "templates": {"text": sms_template}},
        },
    }  # fmt: skip
    publish(journeys, workspace_id, definition)
    send_events(journeys, event(workspace_id, "p-nophone", "Go"))
    try:
        eventually(lambda: len(to(sink, "/fallback", "p-nophone")) == 1, timeout=30)
    except AssertionError:
        messages = list(db["messages"].find({"workspace": workspace_id}))
        raise AssertionError((runs_of(db, workspace_id, "p-nophone"), messages)) from None
    # The partner can get the call before messaging records it as sent: wait for the record.
    eventually(
        lambda: db["messages"].find_one({"workspace": workspace_id, "person_id": "p-nophone", "channel": "hook",
                                         "status": {"$in": ["sent", "delivered"]}}),
        timeout=15,
    )  # fmt: skip
    by_channel = {m["channel"]: m for m in db["messages"].find({"workspace": workspace_id, "person_id": "p-nophone"})}
    assert by_channel["text"]["status"] == "skipped" and "no address" in by_channel["text"]["status_reason"]
    assert by_channel["text"]["template_id"] == sms_template and by_channel["hook"]["template_id"] == template
    assert by_channel["hook"]["status"] in ("sent", "delivered")
    assert sink.at("/sms/sms/send") == []
    time.sleep(2)
    assert len(to(sink, "/fallback", "p-nophone")) == 1


def test_an_update_profile_step_reaches_the_profile_service(journeys, db, workspace_id):
    profile_stub = grpc_stub(journeys, "profile", profile_pb2_grpc.ProfileServiceStub)
    profile_stub.DefineTag(
        profile_pb2.TagDefinition(
            workspace_id=workspace_id, name="journey_vip", category="campaign", source="own", value_kind="enumerated"
        )
    )
    send_events(journeys, identify(workspace_id, "p-upd", 7, {"name": "Lin"}))
    eventually(lambda: db["profiles"].find_one({"workspace": workspace_id, "_id": "p-upd"}), timeout=30)
    definition = {
        "entry": {"event": {"name": "Go"}, "policy": {"mode": "once"}},
        "start": "mark",
        "nodes": {
            "mark": {"type": "update_profile", "traits": {"tier": "gold"},
                     "tags": [{"name": "journey_vip", "value": "yes"}]},
        },
    }  # fmt: skip
    publish(journeys, workspace_id, definition)
    send_events(journeys, event(workspace_id, "p-upd", "Go"))

    def marked():
        profile = db["profiles"].find_one({"workspace": workspace_id, "_id": "p-upd"}) or {}
        tag = (profile.get("tags") or {}).get("journey_vip") or {}
        return (profile.get("traits") or {}).get("tier") == "gold" and tag.get("value") == "yes" and profile

    profile = eventually(marked, timeout=30)
    assert profile["traits"]["name"] == "Lin"  # the rest of the profile is kept


def test_a_webhook_step_calls_the_partner_once_with_its_body(journeys, db, messaging_stub, sink, workspace_id):
    webhook_channel(messaging_stub, workspace_id, sink.url + "/partner", name="partner")
    definition = {
        "entry": {"event": {"name": "Go"}, "policy": {"mode": "once"}},
        "start": "call",
        "nodes": {"call": {"type": "webhook", "channel": "partner", "body": {"coupon": "SNACK10", "points": 20}}},
    }
    publish(journeys, workspace_id, definition)
    send_events(journeys, event(workspace_id, "p-partner", "Go"))
    (call,) = eventually(lambda: to(sink, "/partner", "p-partner"), timeout=30)
    assert call.body["content"]["data"] == {"coupon": "SNACK10", "points": 20}
    assert call.headers["idempotency-key"].startswith("j:")
    time.sleep(2)
    assert len(to(sink, "/partner", "p-partner")) == 1


def test_leaving_a_segment_enters_a_journey_on_exit(journeys, db, messaging_stub, sink, workspace_id):
    template = webhook_channel(messaging_stub, workspace_id, sink.url + "/winback")
    definition = {
        "entry": {"segment": "seg-active", "on": "exit", "debounce_seconds": 0},
        "start": "send",
        "nodes": {"send": {"type": "send", "channel": "hook", "template": template}},
    }
    publish(journeys, workspace_id, definition)
    now = dt.datetime.now(dt.UTC)
    send_events(journeys, membership(workspace_id, "p-lapsed", "seg-active", "enter", now))
    time.sleep(3)
    assert runs_of(db, workspace_id, "p-lapsed") == [], "entering the segment is not the trigger"
    send_events(journeys, membership(workspace_id, "p-lapsed", "seg-active", "exit", now + dt.timedelta(seconds=5)))
    eventually(lambda: len(to(sink, "/winback", "p-lapsed")) == 1, timeout=30)
    assert [r["status"] for r in runs_of(db, workspace_id, "p-lapsed")] == ["done"]
