"""Analytics end to end: events reach chDB through Kafka (produced to events.resolved as identity
would, or sent through the collection API), and every model answers exactly on a known dataset
through the gateway; merges show at query time; bad input and other workspaces are refused."""

from __future__ import annotations

import datetime as dt

import grpc
import httpx
import pytest

from cdp.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from cdp.identity.v1 import events_pb2 as identity_events
from cdp.messaging.v1 import events_pb2 as messaging_events
from services.kit.kafka import Topics
from services.kit.protos import to_struct, to_timestamp
from tests.conftest import eventually, grpc_stub
from tests.helpers import claims_token, collect, create_workspace, graphql, new_id, produce

UTC = dt.UTC

TRENDS = """query($i: TrendsInput!) { trends(input: $i) {
  buckets series { event math breakdownValue values total } } }"""
FUNNEL = """query($i: FunnelInput!) { funnel(input: $i) { breakdownValue entered immature
  avgSecondsToConvert medianSecondsToConvert
  steps { event count conversion fromPrevious avgSecondsFromPrevious } } }"""
RETENTION = """query($i: RetentionInput!) { retentionMatrix(input: $i) { period
  rows { cohort breakdownValue size counts shares } } }"""
PATHS = """query($i: PathsInput!) { paths(input: $i) { totalPersons hiddenPaths hiddenPersons hiddenShare
  paths { steps persons share } } }"""


def resolved(ws: str, person: str, event: str, at: dt.datetime, props: dict | None = None, mid: str | None = None):
    # Person ids are unique across workspaces, as identity makes them: the profile service in the
    # same session keys profiles by them, and a short id reused in another workspace collides there.
    person = f"{person}@{ws}"
    raw = identity_events.RawEvent(
        workspace_id=ws,
        message_id=mid or new_id(),
        type="track",
        user_id=person,
        event=event,
        properties=to_struct(props or {}),
        timestamp=to_timestamp(at),
        received_at=to_timestamp(at),
    )
    return (Topics.EVENTS_RESOLVED, person, identity_events.ResolvedEvent(event=raw, person_id=person, uid=1))


def ask(stack, ws: str, query: str, variables: dict, **headers) -> dict:
    return graphql(stack.gateway_url, ws, query, variables, headers=headers or None)


def data(stack, ws: str, query: str, variables: dict) -> dict:
    body = ask(stack, ws, query, variables)
    assert "errors" not in body, body
    return body["data"]


def test_trends_count_exactly_by_local_day_across_a_dst_change_with_breakdown(suite, workspace_id):
    ws = workspace_id
    t = lambda hours: dt.datetime(2025, 3, 8, tzinfo=UTC) + dt.timedelta(hours=hours)  # noqa: E731
    # New York: clocks go forward on 2025-03-09 (UTC-5 before, UTC-4 after). Last year's data: no 120-day limit.
    dup = new_id()
    produce(
        suite,
        [
            resolved(ws, "p1", "Order Completed", t(12), {"revenue": 10, "channel": "ads"}, mid=dup),
            resolved(ws, "p1", "Order Completed", t(12), {"revenue": 10, "channel": "ads"}, mid=dup),  # redelivered
            # 04:30 UTC on the 9th is 23:30 on the 8th in New York; 05:30 UTC is 00:30 on the 9th.
            resolved(ws, "p2", "Order Completed", t(28.5), {"revenue": 5, "channel": "seo"}),
            resolved(ws, "p2", "Order Completed", t(29.5), {"revenue": 7, "channel": "seo"}),
            resolved(ws, "p3", "Order Completed", t(30), {"revenue": "3", "channel": "mail"}),
            resolved(ws, "p3", "Product Viewed", t(30), {"channel": "mail"}),
            # 04:30 UTC on the 10th is 00:30 on the 10th after the change (a fixed UTC-5 would say the 9th).
            resolved(ws, "p3", "Order Completed", t(52.5), {"revenue": 1, "channel": "seo"}),
        ],
    )
    variables = {
        "i": {
            "series": [
                {"event": "Order Completed"},
                {"event": "Order Completed", "math": "persons"},
                {"event": "Order Completed", "math": "sum", "property": "revenue"},
            ],
            "dateFrom": "2025-03-08",
            "dateTo": "2025-03-10",
            "timezone": "America/New_York",
            "formulas": ["C / A"],  # revenue per order
        }
    }
    result = eventually(
        lambda: (r := data(suite, ws, TRENDS, variables)["trends"]) and r["series"][0]["total"] == 5 and r, timeout=30
    )
    assert result["buckets"] == ["2025-03-08", "2025-03-09", "2025-03-10"]
    events, persons, revenue, per_order = result["series"]
    assert (per_order["event"], per_order["math"], per_order["values"]) == ("C / A", "formula", [7.5, 5, 1])
    assert events["values"] == [2, 2, 1]
    assert persons["values"] == [2, 2, 1]
    assert revenue["values"] == [15, 10, 1] and revenue["total"] == 26

    variables["i"]["series"] = [{"event": "Order Completed", "math": "persons"}]
    del variables["i"]["formulas"]
    variables["i"]["breakdown"] = {"property": "channel", "limit": 1}
    lines = data(suite, ws, TRENDS, variables)["trends"]["series"]
    assert [(s["breakdownValue"], s["values"]) for s in lines] == [("seo", [1, 1, 1]), ("$other", [1, 1, 0])]


def test_a_funnel_with_an_exclusion_and_a_held_property_and_its_drop_offs_saved_as_a_segment(suite, workspace_id):
    ws = workspace_id
    key = create_workspace(suite, ws)
    day = dt.datetime(2025, 6, 1, 10, tzinfo=UTC)

    def ev(user: str, event: str, minutes: float, **props) -> dict:
        at = (day + dt.timedelta(minutes=minutes)).isoformat()
        return {
            "type": "track",
            "userId": user,
            "event": event,
            "properties": props,
            "timestamp": at,
            "messageId": new_id(),
        }

    events = [
        # a converts; b views one product and buys another (held sku breaks the chain after step 1)
        ev("a", "Product Viewed", 0, sku="1"),
        ev("a", "Product Added", 5, sku="1"),
        ev("a", "Order Completed", 10, sku="1"),
        ev("b", "Product Viewed", 0, sku="1"),
        ev("b", "Product Added", 5, sku="2"),
        ev("b", "Order Completed", 10, sku="2"),
        # c removed a coupon between view and add: excluded from the funnel altogether
        ev("c", "Product Viewed", 0, sku="3"),
        ev("c", "Coupon Removed", 1),
        ev("c", "Product Added", 5, sku="3"),
        # d adds to cart after the one-hour window
        ev("d", "Product Viewed", 0, sku="4"),
        ev("d", "Product Added", 120, sku="4"),
        # f enters on the last day of the range and completes the next day: the range selects entries only
        ev("f", "Product Viewed", 13 * 60 + 50, sku="5"),
        ev("f", "Product Added", 14 * 60 + 10, sku="5"),
        ev("f", "Order Completed", 14 * 60 + 20, sku="5"),
        # g completed everything but entered before the range
        ev("g", "Product Viewed", -24 * 60, sku="6"),
        ev("g", "Product Added", -24 * 60 + 5, sku="6"),
    ]
    assert collect(suite, key, events).status_code == 200
    funnel = {
        "steps": [{"event": "Product Viewed"}, {"event": "Product Added"}, {"event": "Order Completed"}],
        "dateFrom": "2025-06-01",
        "dateTo": "2025-06-01",
        "windowSeconds": 3600,
        "exclusions": [{"event": "Coupon Removed", "fromStep": 0, "toStep": 1}],
        "holdConstant": "sku",
    }
    (result,) = eventually(
        lambda: (r := data(suite, ws, FUNNEL, {"i": funnel})["funnel"]) and r[0]["steps"][2]["count"] == 2 and r,
        timeout=40,
    )
    assert result["entered"] == 4  # a, b, d, f
    assert [s["count"] for s in result["steps"]] == [4, 2, 2]
    assert result["steps"][1]["fromPrevious"] == 0.5
    assert result["avgSecondsToConvert"] == (600 + 1800) / 2
    assert result["steps"][1]["avgSecondsFromPrevious"] == (300 + 1200) / 2

    # Without the held property b converts too (view sku 1, add sku 2, order sku 2).
    loose = {**funnel, "holdConstant": None}
    (result,) = data(suite, ws, FUNNEL, {"i": loose})["funnel"]
    assert [s["count"] for s in result["steps"]] == [4, 3, 3]

    saved = data(
        suite,
        ws,
        'mutation($f: FunnelInput!) { saveFunnelDropOffs(funnel: $f, step: 1, name: "viewed, never added") '
        "{ segmentId tag persons } }",
        {"f": funnel},
    )["saveFunnelDropOffs"]
    assert saved["persons"] == 2  # b and d
    size = "query($id: ID!) { segment(id: $id) { size name } }"
    eventually(lambda: data(suite, ws, size, {"id": saved["segmentId"]})["segment"]["size"] == 2, timeout=30)

    # The saved segment breaks a trend and a funnel down: only its members (b and d), under its name.
    by_segment = {"segments": [saved["segmentId"]]}
    views = {"series": [{"event": "Product Viewed", "math": "persons"}], "dateFrom": "2025-06-01",
             "dateTo": "2025-06-01", "breakdown": by_segment}  # fmt: skip
    (line,) = data(suite, ws, TRENDS, {"i": views})["trends"]["series"]
    assert line["breakdownValue"] == "viewed, never added" and line["values"] == [2]
    (by_funnel,) = data(suite, ws, FUNNEL, {"i": {**loose, "breakdown": by_segment}})["funnel"]
    assert by_funnel["breakdownValue"] == "viewed, never added"
    assert [s["count"] for s in by_funnel["steps"]] == [2, 1, 1]
    body = ask(suite, ws, TRENDS, {"i": {**views, "breakdown": {"segments": ["seg_nobody"]}}})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body


def test_retention_lifecycle_stickiness_and_paths_of_a_known_dataset(suite, workspace_id):
    ws = workspace_id
    day = lambda n, h=9: dt.datetime(2025, 1, 1 + n, h, tzinfo=UTC)  # noqa: E731
    rows = [
        resolved(ws, "p1", "App Opened", day(0)),
        resolved(ws, "p1", "App Opened", day(1)),
        resolved(ws, "p1", "App Opened", day(3)),
        resolved(ws, "p2", "App Opened", day(0)),
        resolved(ws, "p2", "App Opened", day(2)),
        resolved(ws, "p3", "App Opened", day(1)),
        # paths, on the 10th: repeats collapse, so p4 and p6 walk the same path
        *[
            resolved(ws, p, e, day(9, 10) + dt.timedelta(minutes=i))
            for p, seq in (
                ("p4", ["Home", "List", "List", "Detail", "Cart"]),
                ("p5", ["Home", "Detail"]),
                ("p6", ["Home", "List", "Detail", "Cart"]),
            )
            for i, e in enumerate(seq)
        ],
    ]
    produce(suite, rows)
    retention = {
        "startEvent": "App Opened",
        "returnEvent": "App Opened",
        "period": "day",
        "periods": 4,
        "dateFrom": "2025-01-01",
        "dateTo": "2025-01-02",
    }
    matrix = eventually(
        lambda: (
            (m := data(suite, ws, RETENTION, {"i": retention})["retentionMatrix"])
            and len(m["rows"]) == 2
            and m["rows"][0]["counts"][3] == 1
            and m
        ),
        timeout=30,
    )
    assert [(r["cohort"], r["size"], r["counts"]) for r in matrix["rows"]] == [
        ("2025-01-01", 2, [2, 1, 1, 1]),
        ("2025-01-02", 1, [1, 0, 0, 0]),
    ]
    recurring = {**retention, "kind": "recurring"}
    rows = data(suite, ws, RETENTION, {"i": recurring})["retentionMatrix"]["rows"]
    assert [(r["cohort"], r["size"], r["counts"]) for r in rows] == [
        ("2025-01-01", 2, [2, 1, 1, 1]),
        ("2025-01-02", 2, [2, 0, 1, 0]),
    ]

    days = {"event": "App Opened", "dateFrom": "2025-01-01", "dateTo": "2025-01-04"}
    lifecycle = data(
        suite,
        ws,
        "query($i: LifecycleInput!) { lifecycle(input: $i) { buckets new returning resurrecting dormant } }",
        {"i": days},
    )["lifecycle"]
    assert lifecycle == {
        "buckets": ["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-04"],
        "new": [2, 1, 0, 0],
        "returning": [0, 1, 0, 0],
        "resurrecting": [0, 0, 1, 1],
        "dormant": [0, 1, 2, 1],
    }
    sticky = data(suite, ws, "query($i: LifecycleInput!) { stickiness(input: $i) { persons } }", {"i": days})
    assert sticky["stickiness"]["persons"] == [1, 1, 1, 0]  # p3 on 1 day, p2 on 2, p1 on 3

    spread = data(
        suite,
        ws,
        "query($i: DistributionInput!) { distribution(input: $i) { persons buckets { times orMore persons } } }",
        {"i": {"event": "App Opened", "dateFrom": "2025-01-01", "dateTo": "2025-01-04", "maxTimes": 2}},
    )["distribution"]
    assert spread == {
        "persons": 3,
        "buckets": [{"times": 1, "orMore": False, "persons": 1}, {"times": 2, "orMore": True, "persons": 2}],
    }
    gap = data(
        suite,
        ws,
        "query($i: IntervalInput!) { eventInterval(input: $i) { persons converted avgSeconds minSeconds maxSeconds } }",
        {"i": {"fromEvent": "Home", "toEvent": "Cart", "dateFrom": "2025-01-10", "dateTo": "2025-01-10"}},
    )["eventInterval"]
    assert gap == {"persons": 3, "converted": 2, "avgSeconds": 210.0, "minSeconds": 180.0, "maxSeconds": 240.0}

    # A dashboard of two tiles: saved (checked, stored as JSON text), then computed side by side.
    made = data(
        suite,
        ws,
        'mutation($t: [DashboardTileInput!]!) { createDashboard(name: "daily", tiles: $t) { id } }',
        {
            "t": [
                {"title": "retention", "kind": "retention", "query": retention},
                {"kind": "stickiness", "query": {**days, "$where": "ignored, never an operator"}},
            ]
        },
    )["createDashboard"]
    board = data(
        suite, ws, "query($id: ID!) { dashboard(id: $id) { name tiles { title kind result } } }", {"id": made["id"]}
    )["dashboard"]
    assert board["name"] == "daily" and [t["kind"] for t in board["tiles"]] == ["retention", "stickiness"]
    assert board["tiles"][0]["result"]["rows"][0]["counts"] == [2, 1, 1, 1]
    assert board["tiles"][1]["result"]["persons"] == [1, 1, 1, 0]
    bad = ask(
        suite,
        ws,
        'mutation($t: [DashboardTileInput!]!) { createDashboard(name: "x", tiles: $t) { id } }',
        {"t": [{"kind": "funnel", "query": {"steps": [{"event": "A"}, {"event": "B"}], "dateTo": "2025-01-01"}}]},
    )
    assert bad["errors"][0]["extensions"]["field"] == "tiles[0].query.dateFrom", bad

    paths = {"startEvent": "Home", "dateFrom": "2025-01-10", "dateTo": "2025-01-10", "limit": 1}
    found = eventually(lambda: (p := data(suite, ws, PATHS, {"i": paths})["paths"]) and p["totalPersons"] == 3 and p)
    assert found["paths"] == [{"steps": ["Home", "List", "Detail", "Cart"], "persons": 2, "share": 2 / 3}]
    assert (found["hiddenPaths"], found["hiddenPersons"], found["hiddenShare"]) == (1, 1, 1 / 3)
    ending = data(suite, ws, PATHS, {"i": {**paths, "startEvent": None, "endEvent": "Detail", "limit": 5}})["paths"]
    assert sorted((p["steps"], p["persons"]) for p in ending["paths"]) == [
        (["Home", "Detail"], 1),
        (["Home", "List", "Detail"], 2),
    ]


def test_a_merge_shows_at_query_time_and_campaign_statuses_are_counted(suite, workspace_id):
    ws = workspace_id
    key = create_workspace(suite, ws)
    at = dt.datetime(2025, 5, 5, 8, tzinfo=UTC)
    first = [
        {"type": "track", "anonymousId": "phone", "event": "App Opened", "timestamp": at.isoformat()},
        {"type": "identify", "anonymousId": "laptop", "userId": "mei", "timestamp": at.isoformat()},
        {"type": "track", "userId": "mei", "event": "App Opened", "timestamp": at.isoformat()},
    ]
    assert collect(suite, key, first).status_code == 200
    variables = {
        "i": {
            "series": [{"event": "App Opened", "math": "persons"}],
            "dateFrom": "2025-05-05",
            "dateTo": "2025-05-05",
        }
    }

    def persons() -> float:
        return data(suite, ws, TRENDS, variables)["trends"]["series"][0]["values"][0]

    eventually(lambda: persons() == 2, timeout=30)
    # The phone logs in as mei: identity merges the two persons; the rows stay, the override joins them.
    collect(suite, key, [{"type": "identify", "anonymousId": "phone", "userId": "mei", "timestamp": at.isoformat()}])
    eventually(lambda: persons() == 1, timeout=30)
    # The person entity (federated: identity resolves it, analytics adds eventCounts) holds both devices' events.
    query = '{ person(identity: {type: "user_id", value: "mei"}) { eventCounts(days: 3660) { event count } } }'
    counts = {c["event"]: c["count"] for c in data(suite, ws, query, {})["person"]["eventCounts"]}
    assert counts["App Opened"] == 2

    campaign = new_id("c")
    statuses = [
        (
            Topics.MESSAGES_STATUS,
            "p",
            messaging_events.MessageStatus(
                workspace_id=ws,
                message_id=m,
                person_id=f"p@{ws}",
                status=s,
                campaign_id=campaign,
                at=to_timestamp(at),
                channel=c,
            ),
        )
        for m, s, c in (
            ("m1", "sent", "sms"),
            ("m1", "delivered", "sms"),
            ("m1", "delivered", "sms"),
            ("m2", "sent", "push"),
            ("m2", "failed", "push"),
        )
    ]
    # m3 went to a recipient who ordered within the 7 days; engagement events come as messaging emits them.
    statuses.append(
        (
            Topics.MESSAGES_STATUS,
            f"buyer@{ws}",
            messaging_events.MessageStatus(
                workspace_id=ws,
                message_id="m3",
                person_id=f"buyer@{ws}",
                status="sent",
                campaign_id=campaign,
                at=to_timestamp(at),
                channel="email",
            ),
        )
    )
    produce(suite, statuses)
    # Prices for two of the three channels: push is unpriced (counted at 0 and said so).
    costs = [{"channel": "sms", "cost": 0.05}, {"channel": "email", "cost": 0.01}]
    data(
        suite,
        ws,
        "mutation($c: [AnalyticsMessageCostInput!]!) { setMessageCosts(costs: $c) { channel } }",
        {"c": costs},
    )
    engagement = {"campaign_id": campaign, "message_id": "m3"}
    produce(
        suite,
        [
            resolved(ws, "buyer", "Message Opened", at + dt.timedelta(hours=1), engagement),
            resolved(ws, "buyer", "Message Clicked", at + dt.timedelta(hours=1), engagement),
            resolved(ws, "buyer", "Order Completed", at - dt.timedelta(days=1), {"revenue": 99}),  # before: no
            resolved(ws, "buyer", "Order Completed", at + dt.timedelta(days=2), {"revenue": 40}),
            resolved(ws, "buyer", "Order Completed", at + dt.timedelta(days=8), {"revenue": 70}),  # after: no
            resolved(ws, "p", "Order Completed", at + dt.timedelta(days=1), {"revenue": 5}),
        ],
    )
    query = "query($c: String) { campaignStatuses(campaignId: $c) { campaignId statuses { status messages } } }"
    expected = [
        {
            "campaignId": campaign,
            "statuses": [
                {"status": "delivered", "messages": 1},
                {"status": "failed", "messages": 1},
                {"status": "sent", "messages": 3},
            ],
        }
    ]
    eventually(lambda: data(suite, ws, query, {"c": campaign})["campaignStatuses"] == expected, timeout=30)
    query = """query($i: AnalyticsCampaignFunnelInput!) { campaignFunnel(input: $i) {
      sent delivered opened clicked convertedPersons conversions revenue
      messages { channel messages cost priced } cost costPerConverted returnOnSpend } }"""
    funnel = eventually(
        lambda: (
            (f := data(suite, ws, query, {"i": {"campaignId": campaign}})["campaignFunnel"])
            and f["convertedPersons"] == 2
            and f
        ),
        timeout=30,
    )
    # m1 delivered, m2 failed, m3 opened and clicked; p (m1, m2) and buyer each ordered within the window.
    cost = funnel.pop("cost")
    assert cost == pytest.approx(0.06)
    assert funnel.pop("costPerConverted") == pytest.approx(0.03)
    assert funnel.pop("returnOnSpend") == pytest.approx((45.0 - 0.06) / 0.06)
    assert funnel.pop("messages") == [
        {"channel": "email", "messages": 1, "cost": 0.01, "priced": True},
        {"channel": "push", "messages": 1, "cost": 0.0, "priced": False},
        {"channel": "sms", "messages": 1, "cost": 0.05, "priced": True},
    ]
    assert funnel == {
        "sent": 3,
        "delivered": 2,
        "opened": 1,
        "clicked": 1,
        "convertedPersons": 2,
        "conversions": 2,
        "revenue": 45.0,
    }


def test_bad_input_is_refused_with_the_field_named_over_graphql_and_grpc(suite, workspace_id):
    ws = workspace_id
    one_step = {"steps": [{"event": "A"}], "dateFrom": "2025-01-01", "dateTo": "2025-01-02"}
    cases = [
        (FUNNEL, one_step, "steps"),
        (FUNNEL, {**one_step, "steps": [{"event": "A"}] * 21}, "steps"),
        (FUNNEL, {**one_step, "steps": [{"event": "A"}, {"event": ""}]}, "steps[1].event"),
        (TRENDS, {"series": [{"event": "A"}], "dateFrom": "2025-01-02", "dateTo": "2025-01-01"}, "dateTo"),
        (
            TRENDS,
            {"series": [{"event": "A"}], "dateFrom": "2025-01-01", "dateTo": "2025-01-01", "timezone": "Mars/Base"},
            "timezone",
        ),
        (
            TRENDS,
            {"series": [{"event": "A", "math": "sum"}], "dateFrom": "2025-01-01", "dateTo": "2025-01-01"},
            "series[0].property",
        ),
        (
            RETENTION,
            {"startEvent": "A", "returnEvent": "B", "period": "year", "dateFrom": "2025-01-01", "dateTo": "2025-01-01"},
            "period",
        ),
        (PATHS, {"dateFrom": "2025-01-01", "dateTo": "2025-01-01", "depth": 1000}, "depth"),
        (
            TRENDS,
            {"series": [{"event": "A"}], "dateFrom": "2025-01-01", "dateTo": "2025-01-01", "formulas": ["A / B"]},
            "formulas[0]",
        ),
    ]
    for query, value, field in cases:
        body = ask(suite, ws, query, {"i": value})
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT", (field, body)
        assert error["extensions"]["field"] == field, (field, body)

    stub = grpc_stub(suite, "analytics", analytics_pb2_grpc.AnalyticsServiceStub)
    with pytest.raises(grpc.RpcError) as err:
        stub.Funnel(analytics_pb2.FunnelRequest(workspace_id=ws, steps=[analytics_pb2.FunnelStep(event="A")]))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and err.value.details().startswith("steps:")
    answer = stub.Trends(
        analytics_pb2.TrendsRequest(
            workspace_id=ws,
            series=[analytics_pb2.TrendsSeries(event="Nothing")],
            date_from="2025-01-01",
            date_to="2025-01-02",
        )
    )
    assert list(answer.buckets) == ["2025-01-01", "2025-01-02"] and list(answer.series[0].values) == [0, 0]


def test_a_caller_of_another_workspace_is_refused(suite, workspace_id):
    variables = {"i": {"series": [{"event": "A"}], "dateFrom": "2025-01-01", "dateTo": "2025-01-01"}}
    headers = {"authorization": f"Bearer {claims_token('ws_someone_else')}", "x-workspace-id": workspace_id}
    for url in (suite.gateway_url, suite.http_url("analytics") + "/graphql"):
        body = httpx.post(url, json={"query": TRENDS, "variables": variables}, headers=headers, timeout=30).json()
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN" and body.get("data") is None, (url, body)
    stub = grpc_stub(suite, "analytics", analytics_pb2_grpc.AnalyticsServiceStub)
    with pytest.raises(grpc.RpcError) as err:
        stub.Trends(
            analytics_pb2.TrendsRequest(workspace_id=workspace_id, series=[analytics_pb2.TrendsSeries(event="A")]),
            metadata=(("authorization", f"Bearer {claims_token('ws_someone_else')}"),),
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


AARRR = """query($i: AarrrInput!) { aarrr(input: $i) {
  current { newPersons orders gmv payingPersons arppu } previous { dateTo orders } } }"""
SQL = """query($s: String!) { sqlQuery(sql: $s) { columns { name type } rows truncated } }"""


def test_sql_analysis_and_aarrr_through_the_gateway_see_the_callers_workspace_only(suite, workspace_id):
    other = workspace_id + "_other"  # analytics keeps rows per workspace id as identity resolved them
    at = dt.datetime(2025, 6, 1, 12, tzinfo=UTC)
    produce(suite, [resolved(workspace_id, "s1", "Order Completed", at, {"revenue": 12}),
                    resolved(workspace_id, "s2", "Order Completed", at, {"revenue": 8}),
                    resolved(other, "s9", "Order Completed", at, {"revenue": 1000})])  # fmt: skip
    text = "SELECT count() AS n, sum(JSONExtractFloat(properties, 'revenue')) AS gmv FROM events"
    answer = lambda: data(suite, workspace_id, SQL, {"s": text})["sqlQuery"]  # noqa: E731
    result = eventually(lambda: (r := answer())["rows"] == [[2, 20]] and r, timeout=60)
    assert [c["name"] for c in result["columns"]] == ["n", "gmv"] and result["truncated"] is False
    body = ask(suite, workspace_id, SQL, {"s": "SELECT count() FROM system.tables"})
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and "system.tables" in error["message"], body
    # The AARRR overview of that day reads the same rows.
    aarrr = data(suite, workspace_id, AARRR, {"i": {"dateFrom": "2025-06-01", "dateTo": "2025-06-01"}})["aarrr"]
    assert aarrr["current"] == {"newPersons": 2, "orders": 2, "gmv": 20.0, "payingPersons": 2, "arppu": 10.0}
    assert aarrr["previous"]["dateTo"] == "2025-05-31" and aarrr["previous"]["orders"] == 0


def inserts(stack) -> tuple[float, float]:
    """(inserts, rows) into the events table so far, from analytics' /metrics."""
    text = httpx.get(stack.http_url("analytics") + "/metrics", timeout=10).text
    found = {}
    for line in text.splitlines():
        for name in ("cdp_analytics_insert_seconds_count", "cdp_analytics_rows_inserted_total"):
            if line.startswith(name + '{table="events"}'):
                found[name] = float(line.rsplit(" ", 1)[1])
    return found.get("cdp_analytics_insert_seconds_count", 0.0), found.get("cdp_analytics_rows_inserted_total", 0.0)


def test_ingest_writes_micro_batches_not_rows(suite, workspace_id):
    ws = workspace_id
    calls_before, rows_before = inserts(suite)
    at = dt.datetime(2024, 7, 1, tzinfo=UTC)
    produce(suite, [resolved(ws, f"p{i % 300}", "Page Viewed", at + dt.timedelta(seconds=i)) for i in range(3000)])
    variables = {"i": {"series": [{"event": "Page Viewed"}], "dateFrom": "2024-07-01", "dateTo": "2024-07-01"}}
    eventually(lambda: data(suite, ws, TRENDS, variables)["trends"]["series"][0]["total"] == 3000, timeout=60)
    calls, rows = inserts(suite)
    assert rows - rows_before >= 3000
    # A batch per poll of up to 10,000 rows (or 1 s) and partition: a handful of inserts, not one per
    # 200-record poll (15+), let alone one per record.
    assert calls - calls_before <= 12, (calls - calls_before, rows - rows_before)
