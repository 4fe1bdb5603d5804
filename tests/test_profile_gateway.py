"""Profile's part of the federated graph, through Hive Gateway, fed by the collection API."""

from __future__ import annotations

from tests.conftest import eventually
from tests.helpers import collect, create_workspace, graphql, new_id

PERSON = """
query($value: String!) {
  person(identity: {type: "user_id", value: $value}) {
    id
    tags { name value source confidence }
    computed { orderCount ltv lifecycleStage acquisitionChannel categories rfmGroup }
    events(first: 2, type: "Order Completed") { nodes { event properties } hasNextPage }
  }
  tagDefinitions { name displayNameZh }
}
"""


def test_tags_computed_and_events_of_a_shopper_through_the_gateway(suite, workspace_id):
    key = create_workspace(suite, workspace_id)
    campaign = {"campaign": {"source": "douyin", "medium": "cpc"}}
    events = [
        {"type": "page", "anonymousId": "dev-1", "messageId": new_id(), "context": campaign},
        {"type": "identify", "anonymousId": "dev-1", "userId": "u-1", "messageId": new_id(), "traits": {"vip": True}},
    ]
    for n, (revenue, category) in enumerate([(700, "beauty"), (450, "fitness"), (30, "snacks")]):
        events.append(
            {
                "type": "track",
                "anonymousId": "dev-1",
                "userId": "u-1",
                "event": "Order Completed",
                "messageId": new_id(),
                "properties": {"order_id": f"o{n}", "revenue": revenue, "products": [{"category": category}]},
            }
        )
    assert collect(suite, key, events).status_code == 200

    def person():
        data = graphql(suite.gateway_url, workspace_id, PERSON, {"value": "u-1"})
        assert "errors" not in data, data
        p = data["data"]["person"]
        return data if p and p["computed"]["orderCount"] == 3 else None

    data = eventually(person, timeout=60)
    p = data["data"]["person"]
    assert p["computed"]["ltv"] == 1180 and p["computed"]["acquisitionChannel"] == "douyin"
    assert p["computed"]["lifecycleStage"] == "growing" and p["computed"]["rfmGroup"] == "important_value"
    assert sorted(p["computed"]["categories"]) == ["beauty", "fitness", "snacks"]
    tags = {t["name"]: t for t in p["tags"]}
    assert {"high_spender", "fitness", "repeat_buyer", "rfm_group"} <= tags.keys()
    assert tags["rfm_group"]["value"] == "important_value" and tags["high_spender"]["source"] == "computed"
    assert len(p["events"]["nodes"]) == 2 and p["events"]["hasNextPage"]
    assert {"name": "fitness", "displayNameZh": "运动健身"} in data["data"]["tagDefinitions"]

    assigned = graphql(
        suite.gateway_url,
        workspace_id,
        """mutation($id: ID!) {
          assignTags(personIds: [$id], tags: [{name: "domestic_brand_preference", confidence: 0.8}]) {
            persons { id tags { name confidence } }
          }
        }""",
        {"id": p["id"]},
    )
    assert "errors" not in assigned, assigned
    got = {t["name"]: t["confidence"] for t in assigned["data"]["assignTags"]["persons"][0]["tags"]}
    assert got["domestic_brand_preference"] == 0.8
