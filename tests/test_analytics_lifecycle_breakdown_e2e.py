"""Lifecycle and stickiness broken down by an event property, end to end: events produced to
events.resolved reach chDB and the gateway answers per value, top `limit` by persons plus $other,
the groups adding up to the figures over every person; gRPC answers the same."""

from __future__ import annotations

import datetime as dt

from cdp.analytics.v1 import analytics_pb2 as pb
from cdp.analytics.v1 import analytics_pb2_grpc
from tests.conftest import eventually, grpc_stub
from tests.helpers import produce
from tests.test_analytics import data, resolved

LIFECYCLE = """query($i: LifecycleInput!) { lifecycle(input: $i) { buckets new returning resurrecting dormant
  breakdowns { breakdownValue new returning resurrecting dormant } } }"""
STICKINESS = """query($i: LifecycleInput!) { stickiness(input: $i) { persons
  breakdowns { breakdownValue persons } } }"""


def test_lifecycle_and_stickiness_by_property_through_the_gateway(suite, workspace_id):
    ws = workspace_id
    day = lambda d, h=12: dt.datetime(2025, 3, d, h, tzinfo=dt.UTC)  # noqa: E731
    produce(
        suite,
        [
            # a's value is its first event's plan (pro), though it logs in on free the next day.
            resolved(ws, "a", "Login", day(1), {"plan": "pro"}),
            resolved(ws, "a", "Login", day(2), {"plan": "free"}),
            resolved(ws, "b", "Login", day(1), {"plan": "pro"}),
            resolved(ws, "c", "Login", day(2), {"plan": "free"}),
            resolved(ws, "c", "Login", day(3), {"plan": "free"}),
            resolved(ws, "d", "Login", day(3), {"plan": "team"}),
            # The day before the range: e is dormant on its first day, with the plan of that event.
            resolved(ws, "e", "Login", dt.datetime(2025, 2, 28, 12, tzinfo=dt.UTC), {"plan": "team"}),
        ],
    )
    query = {
        "event": "Login",
        "dateFrom": "2025-03-01",
        "dateTo": "2025-03-03",
        "breakdown": {"property": "plan", "limit": 2},
    }
    result = eventually(
        lambda: (r := data(suite, ws, LIFECYCLE, {"i": query})["lifecycle"]) and sum(r["new"]) == 4 and r,
        timeout=30,
    )
    assert (result["new"], result["returning"], result["resurrecting"], result["dormant"]) == (
        [2, 1, 1],
        [0, 1, 1],
        [0, 0, 0],
        [1, 1, 1],
    )
    # pro: a, b; team: d, e; free: c. Two persons each for pro and team (the tie goes by value), c is $other.
    assert result["breakdowns"] == [
        {
            "breakdownValue": "pro",
            "new": [2, 0, 0],
            "returning": [0, 1, 0],
            "resurrecting": [0, 0, 0],
            "dormant": [0, 1, 1],
        },
        {
            "breakdownValue": "team",
            "new": [0, 0, 1],
            "returning": [0, 0, 0],
            "resurrecting": [0, 0, 0],
            "dormant": [1, 0, 0],
        },
        {
            "breakdownValue": "$other",
            "new": [0, 1, 0],
            "returning": [0, 0, 1],
            "resurrecting": [0, 0, 0],
            "dormant": [0, 0, 0],
        },
    ]

    # Stickiness reads the range only: e is not there, so team has d alone and free (c) outranks it.
    sticky = data(suite, ws, STICKINESS, {"i": query})["stickiness"]
    assert sticky == {
        "persons": [2, 2, 0],
        "breakdowns": [
            {"breakdownValue": "pro", "persons": [1, 1, 0]},
            {"breakdownValue": "free", "persons": [0, 1, 0]},
            {"breakdownValue": "$other", "persons": [1, 0, 0]},
        ],
    }

    # Without a breakdown the answer is what it always was: no groups.
    del query["breakdown"]
    plain = data(suite, ws, LIFECYCLE, {"i": query})["lifecycle"]
    assert plain["breakdowns"] is None and plain["new"] == [2, 1, 1]

    # Partners ask over gRPC and get the same groups.
    stub = grpc_stub(suite, "analytics", analytics_pb2_grpc.AnalyticsServiceStub)
    request = pb.LifecycleRequest(
        workspace_id=ws, event="Login", date_from="2025-03-01", date_to="2025-03-03",
        breakdown=pb.Breakdown(property="plan", limit=2),
    )  # fmt: skip
    answer = stub.Lifecycle(request)
    assert [(g.breakdown_value, list(g.new), list(g.dormant)) for g in answer.breakdowns] == [
        ("pro", [2, 0, 0], [0, 1, 1]),
        ("team", [0, 0, 1], [1, 0, 0]),
        ("$other", [0, 1, 0], [0, 0, 0]),
    ]
    sticky = stub.Stickiness(request)
    assert [(g.breakdown_value, list(g.persons)) for g in sticky.breakdowns] == [
        ("pro", [1, 1, 0]),
        ("free", [0, 1, 0]),
        ("$other", [1, 0, 0]),
    ]
