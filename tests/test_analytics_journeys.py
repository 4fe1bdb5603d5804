"""Journey evaluation in analytics against the journey service itself: a published journey with an
A/B experiment and a holdout, people entering through events.resolved, orders and opt-outs; the
analytics rows (journey.steps, messages.status, events) must give the journey service's own step
counters and experiment results, and the statistics module's numbers; a replay of journey.steps
inserts nothing twice; cost per channel gives the ROI; forget deletes the steps; another workspace
sees nothing and bad input is refused with the field named."""

from __future__ import annotations

import math
import uuid

import grpc
import pytest

from cdp.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from cdp.identity.v1 import events_pb2 as identity_events
from cdp.journey.v1 import journey_pb2
from services.kit import experiment_stats as stats
from services.kit.auth import Scope
from services.kit.kafka import Topics
from tests.conftest import eventually, grpc_stub
from tests.helpers import claims_token, graphql, mongo_db, produce, read_topic
from tests.journey_support import (  # noqa: F401 (module fixtures)
    db_fixture,
    event,
    journeys_fixture,
    messaging_stub_fixture,
    publish,
    webhook_channel,
)

EVALUATION = """query($i: AnalyticsJourneyEvaluationInput!) { journeyEvaluation(input: $i) {
  journeyId
  versions { version variant entered waiting done exited converted conversionValue }
  steps { version node variant entered waiting done exited converted conversionValue }
  funnel { variant step sent delivered opened clicked visited joined orderedPersons orders revenue }
  experiment { node winner
    arms { name n conversions rate rateInterval { low high } revenuePerPerson }
    comparisons { arm against lift difference pValue sequentialPValue chanceToBeat revenueDifference
                  revenuePValue sampleRatioPValue significant }
    holdout { arm against lift difference pValue revenueDifference sampleRatioPValue } }
  cost { cost treatedValue holdoutValueScaled incrementalValue roi messages { channel messages cost priced } } } }"""
STATS = "query($id: ID!) { journey(id: $id) { stats { node entered waiting exited done converted } } }"
RESULTS = "query($id: ID!) { experimentResults(journeyId: $id) }"
SET_COSTS = "mutation($c: [AnalyticsMessageCostInput!]!) { setMessageCosts(costs: $c) { channel cost } }"
PRICE = 0.05


def ok(body: dict) -> dict:
    assert "errors" not in body, body
    return body["data"]


def evaluation(suite, ws: str, journey: str, **extra) -> dict:
    variables = {"i": {"journeyId": journey, "node": "ab", "holdoutPct": 25, **extra}}
    return ok(graphql(suite.gateway_url, ws, EVALUATION, variables))["journeyEvaluation"]


def test_journey_evaluation_equals_the_journey_service_and_the_statistics_module(
    suite, journeys, db, messaging_stub, sink, workspace_id
):
    ws = workspace_id
    template = webhook_channel(messaging_stub, ws, f"{sink.url}/{ws}/ab")
    definition = {
        "entry": {"event": {"name": "Promo Viewed"}},
        "exit": [{"event": "Opted Out"}],
        "goal": {"event": "Order Completed", "within": "7d"},
        "holdout_pct": 25,
        "start": "ab",
        "nodes": {
            "ab": {"type": "experiment", "variants": [{"name": "A", "next": "send"}, {"name": "B", "next": "send"}]},
            "send": {"type": "send", "channel": "hook", "template": template, "next": "pause"},
            "pause": {"type": "wait", "duration": "1d"},
        },
    }
    journey = publish(journeys, ws, definition)
    people = [f"jp{i}@{ws}" for i in range(48)]
    produce(suite, [event(ws, p, "Promo Viewed") for p in people])
    eventually(lambda: db["runs"].count_documents({"journey_id": journey, "status": "waiting"}) == 48, timeout=90)
    runs = {r["person_id"]: r for r in db["runs"].find({"journey_id": journey})}
    held = sorted(p for p, r in runs.items() if r["holdout"])
    arm = {p: r["variants"]["ab"] for p, r in runs.items() if not r["holdout"]}
    assert held and {"A", "B"} <= set(arm.values())
    eventually(lambda: {r.body["personId"] for r in sink.at(f"/{ws}/ab")} == set(arm), timeout=60)
    # One recipient clicks (the engagement event messaging emits): a click proves the open and the delivery.
    clicker = next(iter(arm))
    clicked = db["messages"].find_one({"workspace": ws, "person_id": clicker})
    click = {"message_id": clicked["_id"], "campaign_id": clicked["campaign_id"]}
    produce(suite, [event(ws, clicker, "Message Clicked", click)])

    # B sells better; two of the holdout buy anyway; three treated people opt out.
    buyers = [p for p in arm if arm[p] == "B"][::2] + [p for p in arm if arm[p] == "A"][::4] + held[:2]
    leavers = [p for p in arm if p not in buyers][:3]
    produce(suite, [event(ws, p, "Order Completed", {"order_id": f"o-{p}", "revenue": 30.0}) for p in buyers])
    produce(suite, [event(ws, p, "Opted Out") for p in leavers])
    # The clicker opens the app (a visit) and the first buyer signs up (a join), within the window.
    joiner = buyers[0]
    produce(suite, [event(ws, clicker, "Application Opened"), event(ws, joiner, "Signed Up")])
    eventually(
        lambda: (
            db["runs"].count_documents({"journey_id": journey, "converted_at": {"$ne": None}}) == len(buyers)
            and db["runs"].count_documents({"journey_id": journey, "status": "exited"}) == len(leavers)
        ),
        timeout=90,
    )
    ok(graphql(suite.gateway_url, ws, SET_COSTS, {"c": [{"channel": "hook", "cost": PRICE}]}))
    weights = [{"arm": "A", "weight": 1}, {"arm": "B", "weight": 1}]

    def settled():
        found = evaluation(suite, ws, journey, weights=weights)
        totals = {k: sum(v[k] for v in found["versions"]) for k in ("entered", "converted", "exited")}
        sent = sum(f["sent"] for f in found["funnel"])
        ordered = sum(f["orderedPersons"] for f in found["funnel"])
        expected = {"entered": 48, "converted": len(buyers), "exited": len(leavers)}
        clicks = sum(f["clicked"] for f in found["funnel"])
        visits = sum(f["visited"] for f in found["funnel"]), sum(f["joined"] for f in found["funnel"])
        return (
            totals == expected and sent == len(arm) and ordered == len(buyers) - 2 and clicks == 1
            and visits == (1, 1) and found
        )  # fmt: skip

    found = eventually(settled, timeout=90)

    # The journey service's own counters, step by step (its per-variant split is ours alone).
    own = ok(graphql(suite.gateway_url, ws, STATS, {"id": journey}))["journey"]["stats"]
    own = {s["node"]: s for s in own}
    assert own["ab"]["entered"] == sum(v["entered"] for v in found["versions"]) == 48
    ours: dict[str, dict[str, int]] = {}
    for step in found["steps"]:
        t = ours.setdefault(step["node"], {"entered": 0, "waiting": 0, "exited": 0, "done": 0, "converted": 0})
        for key in t:
            t[key] += step[key]
    for node, counted in ours.items():
        assert counted == {k: own[node][k] for k in counted}, (node, counted, own[node])
    assert ours["pause"]["waiting"] == 48 - len(leavers)
    # Every run passed the experiment, its send and the wait; per arm, the arm's runs.
    assert {node: ours[node]["entered"] for node in ("ab", "send", "pause")} == {"ab": 48, "send": 48, "pause": 48}
    assert {s["variant"]: s["entered"] for s in found["steps"] if s["node"] == "send"} == {
        **{f"ab={a}": sum(1 for p in arm if arm[p] == a) for a in ("A", "B")}, "holdout": len(held)}
    assert [(f["variant"], f["opened"], f["delivered"]) for f in found["funnel"] if f["clicked"]] == [
        (f"ab={arm[clicker]}", 1, 1)
    ]
    # Every message went out on the way to "pause"; per variant, one message per treated person.
    assert {(f["variant"], f["step"]) for f in found["funnel"]} == {("ab=A", "pause"), ("ab=B", "pause")}
    for f in found["funnel"]:
        members = [p for p in arm if f"ab={arm[p]}" == f["variant"]]
        assert f["sent"] == len(members) and f["orderedPersons"] == len([p for p in members if p in buyers])
        assert (f["visited"], f["joined"]) == (int(clicker in members), int(joiner in members))
    value = {v["variant"]: v["conversionValue"] for v in found["versions"]}
    assert value["holdout"] == 60.0 and math.isclose(sum(value.values()), 30.0 * len(buyers))

    # The experiment: the journey service's results (its first look) and the statistics module's.
    theirs = ok(graphql(suite.gateway_url, ws, RESULTS, {"id": journey}))["experimentResults"]
    experiment = found["experiment"]
    assert [(a["name"], a["n"], a["conversions"]) for a in experiment["arms"]] == [
        (a["name"], a["n"], a["conversions"]) for a in theirs["arms"]
    ]
    for mine, their in zip(experiment["arms"], theirs["arms"], strict=True):
        assert math.isclose(mine["rate"], their["rate"]) and math.isclose(
            mine["revenuePerPerson"], their["revenuePerPerson"]
        )
        assert math.isclose(mine["rateInterval"]["low"], their["rateInterval"]["low"])
    (mine,), (their,) = experiment["comparisons"], theirs["comparisons"]
    for key in ("lift", "difference", "pValue", "sequentialPValue", "chanceToBeat", "sampleRatioPValue"):
        assert math.isclose(mine[key], their[key], rel_tol=1e-9, abs_tol=1e-12), (key, mine, their)
    assert experiment["winner"] == theirs["winner"]
    assert math.isclose(experiment["holdout"]["pValue"], theirs["holdout"]["pValue"], rel_tol=1e-9)

    def arm_of(name: str) -> stats.Arm:
        members = [p for p in arm if arm[p] == name] if name != "holdout" else held
        bought = [p for p in members if p in buyers]
        return stats.Arm(len(members), len(bought), 30.0 * len(bought), 900.0 * len(bought))

    module = stats.compare(arm_of("A"), arm_of("B"), weights=(1.0, 1.0))
    assert math.isclose(mine["pValue"], module.p_value, rel_tol=1e-12)
    assert math.isclose(mine["revenueDifference"], module.revenue.difference, rel_tol=1e-12)
    assert math.isclose(mine["sampleRatioPValue"], module.srm.p_value, rel_tol=1e-12)

    # One version: this journey has only its first.
    first = evaluation(suite, ws, journey, weights=weights, version=1)
    assert (first["versions"], first["funnel"]) == (found["versions"], found["funnel"])
    none = evaluation(suite, ws, journey, version=2)
    assert none["versions"] == none["steps"] == none["funnel"] == [] and none["cost"]["messages"] == []

    # Partners get the same over gRPC.
    stub = grpc_stub(suite, "analytics", analytics_pb2_grpc.AnalyticsServiceStub)
    weighted = [analytics_pb2.ArmWeight(arm=w["arm"], weight=w["weight"]) for w in weights]
    request = analytics_pb2.JourneyEvaluationRequest(
        workspace_id=ws, journey_id=journey, node="ab", weights=weighted, holdout_pct=25
    )
    answer = stub.JourneyEvaluation(request)
    assert [(v.variant, v.entered, v.converted) for v in answer.versions] == [
        (v["variant"], v["entered"], v["converted"]) for v in found["versions"]
    ]
    assert math.isclose(answer.experiment.comparisons[0].p_value, mine["pValue"], rel_tol=1e-12)
    assert answer.cost.HasField("roi") and math.isclose(answer.cost.roi, found["cost"]["roi"], rel_tol=1e-12)

    # Cost and ROI: every treated person got one message on "hook".
    cost = found["cost"]
    assert cost["messages"] == [{"channel": "hook", "messages": len(arm), "cost": len(arm) * PRICE, "priced": True}]
    treated_value = 30.0 * len([p for p in buyers if p in arm])
    scaled = 60.0 / len(held) * len(arm)
    assert math.isclose(cost["treatedValue"], treated_value) and math.isclose(cost["holdoutValueScaled"], scaled)
    assert math.isclose(cost["roi"], (treated_value - scaled) / (len(arm) * PRICE))
    assert mongo_db(suite)["audit"].find_one({"workspace": ws, "action": "analytics.message_costs"})["outcome"] == "ok"

    # A replay of journey.steps inserts nothing twice; a sentinel after it, on the same key, says it was read.
    announced = 48 * 2 + len(buyers) + len(leavers)  # entered and waiting each, converted, exited
    mine_only = lambda found: [m for m in found if m.workspace_id == ws]  # noqa: E731
    replayed = mine_only(
        read_topic(suite, Topics.JOURNEY_STEPS, journey_pb2.RunStepped, 30, lambda f: len(mine_only(f)) >= announced)
    )
    assert len(replayed) == announced
    sentinel = journey_pb2.RunStepped()
    sentinel.CopyFrom(replayed[0])
    sentinel.journey_id, sentinel.run_id = "sentinel", "sentinel-run"
    produce(suite, [(Topics.JOURNEY_STEPS, "replay", m) for m in [*replayed, sentinel]])
    eventually(lambda: evaluation(suite, ws, "sentinel")["versions"], timeout=60)
    again = evaluation(suite, ws, journey, weights=weights)
    assert (again["versions"], again["steps"], again["funnel"]) == (found["versions"], found["steps"], found["funnel"])

    # Another workspace sees nothing of it.
    other = evaluation(suite, f"ws_{uuid.uuid4().hex[:12]}", journey)
    assert other["versions"] == [] and other["funnel"] == [] and other["experiment"]["arms"] == []

    # Forgetting a buyer deletes their steps: one run fewer.
    gone = buyers[0]
    produce(suite, [(Topics.PERSON_FORGOTTEN, gone, identity_events.PersonForgotten(workspace_id=ws, person_id=gone))])
    eventually(lambda: sum(v["entered"] for v in evaluation(suite, ws, journey)["versions"]) == 47, timeout=60)


def test_bad_journey_evaluation_input_and_costs_are_refused_with_the_field_named(suite, workspace_id):
    ws = workspace_id
    cases = [
        (EVALUATION, {"i": {"journeyId": ""}}, "journeyId"),
        (EVALUATION, {"i": {"journeyId": "j", "windowDays": 0}}, "windowDays"),
        (EVALUATION, {"i": {"journeyId": "j", "version": 0}}, "version"),
        (EVALUATION, {"i": {"journeyId": "j", "holdoutPct": 100}}, "holdoutPct"),
        (EVALUATION, {"i": {"journeyId": "j", "weights": [{"arm": "holdout", "weight": 1}]}}, "weights[0].arm"),
        (EVALUATION, {"i": {"journeyId": "j", "weights": [{"arm": "A", "weight": -1}]}}, "weights[0].weight"),
        (SET_COSTS, {"c": [{"channel": "sms", "cost": -1}]}, "costs[0].cost"),
        (SET_COSTS, {"c": [{"channel": "$where", "cost": 1}]}, "costs[0].channel"),
        (SET_COSTS, {"c": [{"channel": "sms", "cost": 1}, {"channel": "sms", "cost": 2}]}, "costs[1].channel"),
    ]
    for query, variables, field in cases:
        body = graphql(suite.gateway_url, ws, query, variables)
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT", (field, body)
        assert error["extensions"]["field"] == field, (field, body)
    costs = ok(graphql(suite.gateway_url, ws, "{ messageCosts { channel cost } }"))["messageCosts"]
    assert costs == [], "a refused list changed nothing"
    # Setting costs is an admin operation: a write credential is refused, and nothing is stored.
    headers = {"authorization": f"Bearer {claims_token(ws, {Scope.READ, Scope.WRITE})}"}
    body = graphql(suite.gateway_url, ws, SET_COSTS, {"c": [{"channel": "sms", "cost": 1}]}, headers=headers)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert ok(graphql(suite.gateway_url, ws, "{ messageCosts { channel cost } }"))["messageCosts"] == []

    stub = grpc_stub(suite, "analytics", analytics_pb2_grpc.AnalyticsServiceStub)
    bad = analytics_pb2.SetMessageCostsRequest(
        workspace_id=ws, costs=[analytics_pb2.MessageCost(channel="sms", cost=-1)]
    )
    with pytest.raises(grpc.RpcError) as err:
        stub.SetMessageCosts(bad)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and err.value.details().startswith("costs[0].cost")
    with pytest.raises(grpc.RpcError) as err:
        stub.JourneyEvaluation(analytics_pb2.JourneyEvaluationRequest(workspace_id=ws, journey_id="j", version=-1))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and err.value.details().startswith("version")
    good = analytics_pb2.SetMessageCostsRequest(
        workspace_id=ws, costs=[analytics_pb2.MessageCost(channel="sms", cost=0.03)]
    )
    token = (("authorization", f"Bearer {claims_token(ws, {Scope.READ, Scope.WRITE})}"),)
    with pytest.raises(grpc.RpcError) as err:
        stub.SetMessageCosts(good, metadata=token)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert list(stub.SetMessageCosts(good).costs) == [analytics_pb2.MessageCost(channel="sms", cost=0.03)]
    assert ok(graphql(suite.gateway_url, ws, "{ messageCosts { channel cost } }"))["messageCosts"] == [
        {"channel": "sms", "cost": 0.03}
    ]
