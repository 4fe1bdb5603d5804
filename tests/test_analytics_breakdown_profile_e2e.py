"""Breakdowns by what profile computes, end to end: orders sent through the collection API make
profile count them (computed.order_count) and apply its rule tag (repeat_buyer), an operator tags a
shopper through profile's API; analytics reads those announcements from profile.changed, and a
trend through the gateway (and over gRPC) groups by them. An unknown computed trait is refused."""

from __future__ import annotations

from cdp.analytics.v1 import analytics_pb2 as pb
from cdp.analytics.v1 import analytics_pb2_grpc
from tests.conftest import eventually, grpc_stub
from tests.helpers import collect, create_workspace, graphql, new_id

TRENDS = """query($i: TrendsInput!) { trends(input: $i) {
  buckets series { event math breakdownValue values total } } }"""
PERSON = 'query($v: String!) { person(identity: {type: "user_id", value: $v}) { id computed { orderCount } } }'
ASSIGN = """mutation($id: ID!) { assignTags(personIds: [$id], tags: [{name: "domestic_brand_preference"}]) {
  persons { id } } }"""


def order(user: str, minute: int) -> dict:
    return {
        "type": "track", "userId": user, "event": "Order Completed", "messageId": new_id(),
        "timestamp": f"2025-06-01T10:{minute:02d}:00Z", "properties": {"order_id": new_id("o"), "revenue": 10},
    }  # fmt: skip


def trend(by: dict) -> dict:
    return {"i": {"series": [{"event": "Order Completed"}], "dateFrom": "2025-06-01", "dateTo": "2025-06-01",
                  "breakdown": by}}  # fmt: skip


def test_a_trend_breaks_down_by_a_computed_trait_and_tags_profile_announced(suite, workspace_id):
    ws = workspace_id
    key = create_workspace(suite, ws)  # with the template tags (repeat_buyer: order_count >= 2)
    # u-a orders twice, u-b and u-c once each.
    assert collect(suite, key, [order("u-a", 1), order("u-a", 2), order("u-b", 3), order("u-c", 4)]).status_code == 200

    def lines(by: dict) -> list[tuple[str, list[float]]]:
        body = graphql(suite.gateway_url, ws, TRENDS, trend(by))
        assert "errors" not in body, body
        return [(s["breakdownValue"], s["values"]) for s in body["data"]["trends"]["series"]]

    def settled(by: dict, want: list, timeout: float) -> None:
        try:
            eventually(lambda: lines(by) == want, timeout=timeout)
        except AssertionError:
            assert lines(by) == want  # says what came instead

    by_count = {"computed": "order_count"}
    # Profile announces u-a's count twice (1, then 2): the latest is what groups.
    settled(by_count, [("1", [2]), ("2", [2])], 90)
    assert lines({**by_count, "limit": 1}) == [("1", [2]), ("$other", [2])]
    assert lines({"tag": "repeat_buyer"}) == [("", [2]), ("true", [2])]

    person = graphql(suite.gateway_url, ws, PERSON, {"v": "u-b"})["data"]["person"]
    assigned = graphql(suite.gateway_url, ws, ASSIGN, {"id": person["id"]})
    assert "errors" not in assigned, assigned
    settled({"tag": "domestic_brand_preference"}, [("", [3]), ("true", [1])], 60)

    # gRPC partners ask the same breakdown and get the same groups.
    stub = grpc_stub(suite, "analytics", analytics_pb2_grpc.AnalyticsServiceStub)
    request = pb.TrendsRequest(workspace_id=ws, series=[pb.TrendsSeries(event="Order Completed")],
                               date_from="2025-06-01", date_to="2025-06-01",
                               breakdown=pb.Breakdown(computed="order_count"))  # fmt: skip
    assert [(s.breakdown_value, list(s.values)) for s in stub.Trends(request).series] == [("1", [2]), ("2", [2])]


def test_an_unknown_computed_trait_is_refused_with_the_field_named(suite, workspace_id):
    body = graphql(suite.gateway_url, workspace_id, TRENDS, trend({"computed": "orders_total"}))
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", body
    assert error["extensions"]["field"] == "breakdown.computed", body
    assert "'orders_total' is not a computed trait" in error["message"], body
    assert body.get("data") is None, body
