"""Paths broken down by an event property, end to end: events produced to events.resolved reach chDB, and the
gateway answers each group's paths among its persons (top `limit` groups plus $other) beside everyone's;
gRPC answers the same; by product is refused."""

from __future__ import annotations

import datetime as dt

from cdp.analytics.v1 import analytics_pb2 as pb
from cdp.analytics.v1 import analytics_pb2_grpc
from tests.conftest import eventually, grpc_stub
from tests.helpers import produce
from tests.test_analytics import ask, data, resolved

PATHS = """query($i: PathsInput!) { paths(input: $i) { totalPersons paths { steps persons }
  breakdowns { breakdownValue totalPersons hiddenPersons paths { steps persons share } } } }"""


def test_paths_by_property_through_the_gateway_and_grpc(suite, workspace_id):
    ws = workspace_id
    at = lambda m: dt.datetime(2025, 4, 2, 9, m, tzinfo=dt.UTC)  # noqa: E731
    walks = {
        # a person's group is the plan on their first event of the range
        "a": ("pro", ["Home", "List", "Cart"]),
        "b": ("pro", ["Home", "Cart"]),
        "c": ("free", ["Home", "List", "Cart"]),
        "d": ("team", ["Home", "List"]),
    }
    produce(
        suite,
        [
            resolved(ws, p, e, at(i), {"plan": plan} if i == 0 else {"plan": "other"})
            for p, (plan, steps) in walks.items()
            for i, e in enumerate(steps)
        ],
    )
    doc = {
        "startEvent": "Home",
        "dateFrom": "2025-04-02",
        "dateTo": "2025-04-02",
        "breakdown": {"property": "plan", "limit": 1},
    }
    found = eventually(
        lambda: (p := data(suite, ws, PATHS, {"i": doc})["paths"]) and p["totalPersons"] == 4 and p, timeout=30
    )
    assert sorted((p["steps"], p["persons"]) for p in found["paths"]) == [
        (["Home", "Cart"], 1),
        (["Home", "List"], 1),
        (["Home", "List", "Cart"], 2),
    ]
    # pro (2 persons) is the top group; free and team fold into $other.
    assert [(b["breakdownValue"], b["totalPersons"]) for b in found["breakdowns"]] == [("pro", 2), ("$other", 2)]
    pro, other = found["breakdowns"]
    assert sorted((p["steps"], p["persons"], p["share"]) for p in pro["paths"]) == [
        (["Home", "Cart"], 1, 0.5),
        (["Home", "List", "Cart"], 1, 0.5),
    ]
    assert sorted((p["steps"], p["persons"]) for p in other["paths"]) == [
        (["Home", "List"], 1),
        (["Home", "List", "Cart"], 1),
    ]

    stub = grpc_stub(suite, "analytics", analytics_pb2_grpc.AnalyticsServiceStub)
    reply = stub.Paths(
        pb.PathsRequest(
            workspace_id=ws,
            start_event="Home",
            date_from="2025-04-02",
            date_to="2025-04-02",
            breakdown=pb.Breakdown(property="plan", limit=1),
        )
    )
    assert [(b.breakdown_value, b.total_persons) for b in reply.breakdowns] == [("pro", 2), ("$other", 2)]

    bad = ask(suite, ws, PATHS, {"i": {**doc, "breakdown": {"product": "sku"}}})
    assert bad["errors"][0]["extensions"]["field"] == "breakdown.product", bad
