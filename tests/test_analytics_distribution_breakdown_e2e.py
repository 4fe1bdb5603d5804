"""Distribution and interval by an event property, end to end: events produced to events.resolved as
identity would reach chDB through Kafka, and the gateway answers per value (top N plus "$other") beside
the unchanged figures of the whole, gRPC partners the same; a breakdown by product items is refused."""

from __future__ import annotations

import datetime as dt

from cdp.analytics.v1 import analytics_pb2 as pb
from cdp.analytics.v1 import analytics_pb2_grpc
from tests.conftest import eventually, grpc_stub
from tests.helpers import produce
from tests.test_analytics import ask, data, resolved

DISTRIBUTION = """query($i: DistributionInput!) { distribution(input: $i) { persons buckets { times orMore persons }
  breakdowns { breakdownValue persons buckets { times orMore persons } } } }"""
INTERVAL = """query($i: IntervalInput!) { eventInterval(input: $i) { persons converted
  breakdowns { breakdownValue persons converted avgSeconds minSeconds maxSeconds } } }"""


def buckets(one: int, more: int) -> list[dict]:
    return [{"times": 1, "orMore": False, "persons": one}, {"times": 2, "orMore": True, "persons": more}]


def test_a_distribution_and_an_interval_break_down_by_a_property(suite, workspace_id):
    ws = workspace_id
    at = lambda minutes: dt.datetime(2025, 2, 3, 9, tzinfo=dt.UTC) + dt.timedelta(minutes=minutes)  # noqa: E731
    produce(
        suite,
        [
            # p1 and p2 first open from ads, p3 from seo, p4 from mail: a person's value is their first event's.
            resolved(ws, "p1", "App Opened", at(0), {"source": "ads"}),
            resolved(ws, "p1", "App Opened", at(5), {"source": "seo"}),
            resolved(ws, "p1", "Signed Up", at(8)),
            resolved(ws, "p2", "App Opened", at(1), {"source": "ads"}),
            resolved(ws, "p3", "App Opened", at(2), {"source": "seo"}),
            resolved(ws, "p3", "App Opened", at(3), {"source": "seo"}),
            resolved(ws, "p3", "App Opened", at(4), {"source": "ads"}),
            resolved(ws, "p3", "Signed Up", at(6)),
            resolved(ws, "p4", "App Opened", at(7), {"source": "mail"}),
        ],
    )
    days = {"dateFrom": "2025-02-03", "dateTo": "2025-02-03"}
    ask_for = {"i": {"event": "App Opened", "maxTimes": 2, **days, "breakdown": {"property": "source", "limit": 1}}}
    found = eventually(
        lambda: (d := data(suite, ws, DISTRIBUTION, ask_for)["distribution"]) and d["persons"] == 4 and d,
        timeout=60,
    )
    assert found == {
        "persons": 4,
        "buckets": buckets(2, 2),
        "breakdowns": [
            {"breakdownValue": "ads", "persons": 2, "buckets": buckets(1, 1)},
            {"breakdownValue": "$other", "persons": 2, "buckets": buckets(1, 1)},
        ],
    }
    # Without a breakdown the answer is as before, with no per-value list.
    plain = {"i": {"event": "App Opened", "maxTimes": 2, **days}}
    assert data(suite, ws, DISTRIBUTION, plain)["distribution"] == {**found, "breakdowns": None}

    by_source = {"fromEvent": "App Opened", "toEvent": "Signed Up", **days, "breakdown": {"property": "source"}}
    gap = data(suite, ws, INTERVAL, {"i": by_source})["eventInterval"]
    assert gap == {
        "persons": 4,
        "converted": 2,
        "breakdowns": [
            {"breakdownValue": "ads", "persons": 2, "converted": 1, "avgSeconds": 480.0, "minSeconds": 480.0,
             "maxSeconds": 480.0},
            {"breakdownValue": "mail", "persons": 1, "converted": 0, "avgSeconds": None, "minSeconds": None,
             "maxSeconds": None},
            {"breakdownValue": "seo", "persons": 1, "converted": 1, "avgSeconds": 240.0, "minSeconds": 240.0,
             "maxSeconds": 240.0},
        ],
    }  # fmt: skip

    stub = grpc_stub(suite, "analytics", analytics_pb2_grpc.AnalyticsServiceStub)
    by = pb.Breakdown(property="source", limit=1)
    over_grpc = stub.Distribution(
        pb.DistributionRequest(workspace_id=ws, event="App Opened", date_from="2025-02-03", date_to="2025-02-03",
                               max_times=2, breakdown=by)
    )  # fmt: skip
    assert [(b.breakdown_value, b.persons, [k.persons for k in b.buckets]) for b in over_grpc.breakdowns] == [
        ("ads", 2, [1, 1]),
        ("$other", 2, [1, 1]),
    ]
    interval = stub.Interval(
        pb.IntervalRequest(workspace_id=ws, from_event="App Opened", to_event="Signed Up", date_from="2025-02-03",
                           date_to="2025-02-03", breakdown=by)
    )  # fmt: skip
    assert [(b.breakdown_value, b.converted, b.HasField("avg_seconds")) for b in interval.breakdowns] == [
        ("ads", 1, True),
        ("$other", 1, True),
    ]

    body = ask(suite, ws, DISTRIBUTION, {"i": {**plain["i"], "breakdown": {"product": "sku"}}})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
