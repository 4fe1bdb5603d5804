"""The users' scenarios (shared DESIGN.md section 6) end to end: the official Segment SDK sends the
events, everything else goes through Hive Gateway, and messages reach sinks in this process.

1. 618 fresh food: a campaign to VIP women 25-34 with a 10% holdout; repurchase per group, lift and interval.
2. Snack mall: a push 24 hours after an order; a reminder 3 days before a snack pack usually runs out.
3. Mother and baby: an abandoned checkout, keyed by order; a reminder on the channel the person responds to.
4. Churned recall: an SMS campaign to people inactive for 180 days, throttled, with a holdout; its funnel.
5. Cross-border: an A/B test of two creatives, the winner reported with its significance.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
import zoneinfo

import httpx
import pytest
from segment.analytics import Client

from services.journey.holdouts import DEFAULT_TIMEZONE
from services.kit import experiment_stats
from tests.conftest import eventually
from tests.helpers import create_workspace, graphql, mongo_db

CHANNEL = "mutation($n: String!, $u: String!) { upsertWebhookChannel(name: $n, url: $u) { name } }"
POLICY = 'mutation { setMessagingPolicy(input: {quietStart: "00:00", quietEnd: "00:00"}) { quietStart } }'
TEMPLATE = """mutation($name: String!, $channel: String!, $title: String!) {
  createTemplate(input: {name: $name, channel: $channel, content: {title: $title, body: "{{ traits.name | default('') }}"}}) { id } }"""
CREATE = "mutation($n: String!, $d: JSON!) { createJourney(name: $n, definition: $d) { id } }"
PUBLISH = "mutation($id: ID!) { publishJourney(id: $id) { version } }"
CAMPAIGN = "mutation($i: CampaignInput!) { createCampaign(input: $i) { id } }"
STATUS = "query($id: ID!) { campaignStatus(id: $id) { state audience handed sent skipped failed cancelled pending holdout } }"
RESULTS = "query($id: ID!) { experimentResults(journeyId: $id) }"


def ok(answer: dict) -> dict:
    assert not answer.get("errors"), answer.get("errors")
    return answer["data"]


class Shop:
    """One workspace seen through the gateway, fed by the official SDK."""

    def __init__(self, suite, sink) -> None:
        self.suite, self.sink = suite, sink
        self.ws = f"ws_{uuid.uuid4().hex[:12]}"
        key = create_workspace(suite, self.ws)
        self.sdk = Client(
            write_key=key, host=suite.http_url("identity"), sync_mode=True, max_retries=2, upload_size=100
        )
        self.errors: list = []
        self.sdk.on_error = lambda error, items: self.errors.append(error)
        self.q(POLICY)

    def q(self, query: str, variables: dict | None = None) -> dict:
        return ok(graphql(self.suite.gateway_url, self.ws, query, variables))

    def channel(self, name: str, path: str) -> None:
        self.q(CHANNEL, {"n": name, "u": f"{self.sink.url}/{self.ws}/{path}"})

    def template(self, channel_type: str, title: str) -> str:
        return self.q(TEMPLATE, {"name": f"{title}-{uuid.uuid4().hex[:6]}", "channel": channel_type, "title": title})[
            "createTemplate"
        ]["id"]

    def flush(self) -> None:
        self.sdk.flush()
        assert self.errors == []

    def person_id(self, user: str) -> str:
        query = 'query($v: String!) { person(identity: {type: "user_id", value: $v}) { id } }'
        return eventually(lambda: (p := self.q(query, {"v": user})["person"]) and p["id"], timeout=60)

    def segment(self, name: str, rule: str, size: int) -> str:
        known = "query($r: String!) { previewSegment(rule: $r) { count } }"
        eventually(lambda: "errors" not in graphql(self.suite.gateway_url, self.ws, known, {"r": rule}), timeout=60)
        created = self.q(
            "mutation($n: String!, $r: String!) { createSegment(name: $n, rule: $r) { id } }", {"n": name, "r": rule}
        )
        sid = created["createSegment"]["id"]
        size_q = "query($id: ID!) { segment(id: $id) { size } }"
        eventually(lambda: self.q(size_q, {"id": sid})["segment"]["size"] == size, timeout=120)
        return sid

    def received(self, path: str) -> list:
        return self.sink.at(f"/{self.ws}/{path}")

    def finished(self, campaign: str, timeout: float = 120) -> dict:
        return eventually(
            lambda: (
                (s := self.q(STATUS, {"id": campaign})["campaignStatus"])["state"] == "finished"
                and s["pending"] == 0
                and s
            ),
            timeout=timeout,
        )


@pytest.fixture
def shop(suite, sink):
    return Shop(suite, sink)


def test_618_campaign_to_vip_women_with_a_holdout_measures_repurchase_per_group(shop):
    women = [f"vip-{i}" for i in range(60)]
    for user in women:
        shop.sdk.identify(user, {"gender": "female", "age_band": "25-34", "vip": True, "name": user})
    shop.sdk.identify("other-1", {"gender": "male", "age_band": "25-34", "vip": True})
    shop.flush()
    segment = shop.segment(
        "VIP women 25-34", 'traits.gender = "female" AND traits.age_band = "25-34" AND traits.vip = true', 60
    )
    shop.channel("push", "push")
    template = shop.template("webhook", "进口水果限时拼团")
    campaign = shop.q(CAMPAIGN, {"i": {"name": "618 进口水果拼团", "segmentId": segment, "channel": "push", "templateId": template,
                                       "holdoutPct": 10, "goalEvent": "Order Completed", "goalWithin": "7d"}})["createCampaign"]["id"]  # fmt: skip
    shop.q(PUBLISH, {"id": campaign})
    status = shop.finished(campaign)
    assert (
        status["audience"] == 60 and status["sent"] + status["skipped"] + status["failed"] + status["cancelled"] == 60
    )
    assert status["holdout"] > 0 and len(shop.received("push")) == 60 - status["holdout"]

    # Repurchase within 7 days: every third person orders, treated or held out.
    buyers = women[::3]
    for user in buyers:
        shop.sdk.track(user, "Order Completed", {"order_id": f"618-{user}", "revenue": 128.0, "currency": "CNY"})
    shop.flush()
    db = mongo_db(shop.suite)
    eventually(
        lambda: db["runs"].count_documents({"journey_id": campaign, "converted_at": {"$ne": None}}) == len(buyers),
        timeout=60,
    )
    results = shop.q(RESULTS, {"id": campaign})["experimentResults"]
    arms = {a["name"]: a for a in results["arms"]}
    assert arms["holdout"]["n"] == status["holdout"] and arms["treated"]["n"] == 60 - status["holdout"]
    assert arms["holdout"]["conversions"] + arms["treated"]["conversions"] == len(buyers)
    # Each group's repurchase rate and the lift against the holdout, from the truth of who was held
    # out and who ordered, by the shared statistics module.
    held = {r["person_id"] for r in db["runs"].find({"journey_id": campaign, "holdout": True})}
    bought = {shop.person_id(u) for u in buyers}
    n_held, n_treated = len(held), 60 - len(held)
    c_held, c_treated = len(bought & held), len(bought - held)
    assert (arms["holdout"]["conversions"], arms["treated"]["conversions"]) == (c_held, c_treated)
    assert arms["treated"]["rate"] == pytest.approx(c_treated / n_treated)
    assert arms["holdout"]["rate"] == pytest.approx(c_held / n_held)
    lift = experiment_stats.relative_lift(c_treated, n_treated, c_held, n_held)
    holdout = results["holdout"]
    assert holdout["against"] == "holdout" and holdout["sequentialPValue"] <= 1
    if lift.ci is None:  # no conversions in a group: no interval to give
        assert holdout["liftInterval"] is None and holdout["lift"] == lift.estimate
    else:
        assert holdout["lift"] == pytest.approx(lift.estimate)
        assert holdout["liftInterval"] == pytest.approx(experiment_stats.interval_doc(lift.ci))
        assert holdout["liftInterval"]["low"] <= holdout["lift"] <= holdout["liftInterval"]["high"]


def test_snack_mall_push_a_day_after_an_order_and_a_reminder_before_the_pack_runs_out(shop):
    shop.channel("push", "push")
    template = shop.template("webhook", "组合零食券")
    # "A first order": the entry filter reads the event only, so the branch after the day asks the
    # profile (the order is counted by then; a shopper who ordered again within the day gets no
    # first-order coupons either).
    after_order = {
        "entry": {"event": {"name": "Order Completed"}, "policy": {"mode": "once"}},
        "start": "wait_day",
        "nodes": {
            "wait_day": {"type": "wait", "duration": "24h", "next": "first"},
            "first": {"type": "branch", "rule": "computed.order_count = 1", "yes": "push", "no": "end"},
            "push": {"type": "send", "channel": "push", "template": template, "next": "end"},
            "end": {"type": "exit"},
        },
    }
    journey = shop.q(CREATE, {"n": "首单后24小时", "d": after_order})["createJourney"]["id"]
    shop.q(PUBLISH, {"id": journey})
    # Three snack orders ten days apart: a usual interval of 10 days.
    now = dt.datetime.now(dt.UTC)
    for days_ago in (20, 10, 0):
        shop.sdk.track("snacker", "Order Completed", {"order_id": f"s-{days_ago}", "revenue": 39.0,
                       "products": [{"product_id": "pack", "category": "snacks", "price": 39.0}]},
                       timestamp=now - dt.timedelta(days=days_ago))  # fmt: skip
    shop.flush()
    person = shop.person_id("snacker")
    db = mongo_db(shop.suite)
    run = eventually(lambda: db["runs"].find_one({"journey_id": journey, "person_id": person}), timeout=60)
    # Only the fresh order entered (imported history of 10 and 20 days ago starts nothing), and its
    # push is due 24 hours after it.
    assert db["runs"].count_documents({"journey_id": journey}) == 1
    assert run["status"] == "waiting" and run["node"] == "wait_day"
    assert abs((run["due_at"] - run["entered_at"]).total_seconds() - 24 * 3600) < 5

    # A first-time buyer enters too; then the day passes (the two timers moved to now, as the
    # scheduler would find them tomorrow): only the first-time buyer gets the coupons.
    shop.sdk.track("newbie", "Order Completed", {"order_id": "n-1", "revenue": 19.0,
                   "products": [{"product_id": "pack", "category": "snacks", "price": 19.0}]})  # fmt: skip
    shop.flush()
    newbie = shop.person_id("newbie")
    eventually(lambda: db["runs"].find_one({"journey_id": journey, "person_id": newbie}), timeout=60)
    counted = {person: 3, newbie: 1}
    eventually(
        lambda: all(
            ((db["profiles"].find_one({"workspace": shop.ws, "_id": p}) or {}).get("computed") or {}).get("order_count")
            == n
            for p, n in counted.items()
        ),
        timeout=60,
    )
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    db["runs"].update_many(
        {"journey_id": journey, "status": "waiting"}, {"$set": {"due_at": past, "wait.due_at": past}}
    )
    ended = eventually(
        lambda: (
            [r for r in db["runs"].find({"journey_id": journey}) if r["status"] not in ("waiting", "active")]
            if db["runs"].count_documents({"journey_id": journey, "status": {"$in": ["waiting", "active"]}}) == 0
            else None
        ),
        timeout=60,
    )
    assert len(ended) == 2
    pushed = eventually(lambda: shop.received("push"), timeout=30)
    assert {r.body["personId"] for r in pushed} == {newbie}
    time.sleep(2)
    assert len(shop.received("push")) == 1, "the repeat buyer got nothing"

    # The preview plays the path on a simulated clock: the first-time buyer's push a day later.
    steps = shop.q('query($id: ID!, $p: ID!) { previewJourney(id: $id, personId: $p, horizonDays: 3) { at node kind } }',
                   {"id": journey, "p": newbie})["previewJourney"]  # fmt: skip
    sends = [s for s in steps if s["node"] == "push"]
    assert sends and sends[0]["kind"] in ("send", "sent")

    reminder = {
        "entry": {"date_trait": "computed.next_order_at", "offset": "-3d", "at": "10:00"},
        "start": "remind",
        "nodes": {
            "remind": {"type": "send", "channel": "push", "template": template, "next": "end"},
            "end": {"type": "exit"},
        },
    }
    journey2 = shop.q(CREATE, {"n": "零食补货提醒", "d": reminder})["createJourney"]["id"]
    shop.q(PUBLISH, {"id": journey2})
    shop.sdk.track("snacker", "Product Viewed", {"product_id": "pack"})  # any change re-announces the profile
    shop.sdk.track("snacker", "Order Completed", {"order_id": "s-now2", "revenue": 39.0,
                   "products": [{"product_id": "pack", "category": "snacks", "price": 39.0}]})  # fmt: skip
    shop.flush()
    zone = zoneinfo.ZoneInfo(DEFAULT_TIMEZONE)

    def settled():
        # The profile folds the four orders in its own time and re-announces next_order_at at each
        # step; the timer follows the last announcement, so both are read until they agree.
        profile = db["profiles"].find_one({"workspace": shop.ws, "_id": person}) or {}
        computed = profile.get("computed") or {}
        timer = db["entry_timers"].find_one({"journey_id": journey2, "person_id": person})
        if computed.get("order_count") != 4 or computed.get("next_order_at") is None or timer is None:
            return None
        # Three days before, on the local calendar: the workspace's zone (the person has none), so the
        # UTC date differs whenever the test runs after 16:00 UTC.
        wanted = (computed["next_order_at"].astimezone(zone) - dt.timedelta(days=3)).date()
        return timer if timer["due"].astimezone(zone).date() == wanted else None

    timer = eventually(settled, timeout=60)
    assert timer["due"].astimezone(zone).time() == dt.time(10, 0)

    # Those three days before come (the timer moved to now, as the scheduler would find it then): the
    # snacker enters the reminder journey and gets the reminder, once.
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    db["entry_timers"].update_one({"_id": timer["_id"]}, {"$set": {"due": past, "fire_at": past}})
    eventually(lambda: db["runs"].find_one({"journey_id": journey2, "person_id": person, "status": "done"}), 60)
    eventually(lambda: [r for r in shop.received("push") if r.body["personId"] == person], timeout=30)
    time.sleep(2)
    assert [r.body["personId"] for r in shop.received("push")].count(person) == 1
    assert db["entry_timers"].find_one({"_id": timer["_id"]}) is None


def test_mother_and_baby_abandoned_checkout_reminds_on_the_channel_the_person_responds_to(shop):
    shop.channel("push", "push")
    shop.channel("sms", "sms")
    push_tpl, sms_tpl = shop.template("webhook", "宝贝还在购物车"), shop.template("webhook", "宝贝还在购物车")
    # History: a push to mum failed (her token is stale), an sms reached her.
    shop.sdk.identify("mum", {"name": "mum"})
    shop.sdk.identify("dad", {"name": "dad"})
    shop.flush()
    mum = shop.person_id("mum")
    shop.q(
        'mutation($p: ID!) { sendMessage(input: {personId: $p, channel: "sms", idempotencyKey: "hist-sms", content: {title: "hi"}}) { id } }',
        {"p": mum},
    )
    shop.q(CHANNEL, {"n": "push", "u": f"{shop.sink.url}/fail/{shop.ws}"})  # the sink answers 500 under /fail
    shop.q(
        'mutation($p: ID!) { sendMessage(input: {personId: $p, channel: "push", idempotencyKey: "hist-push", content: {title: "hi"}, category: "transactional"}) { id } }',
        {"p": mum},
    )
    eventually(lambda: len(shop.sink.at(f"/fail/{shop.ws}")) >= 1 and len(shop.received("sms")) == 1, timeout=60)
    shop.channel("push", "push")
    time.sleep(2)  # the failed push settles as failed
    definition = {
        "entry": {
            "event": {"name": "Checkout Started"},
            "policy": {"mode": "keyed", "key": "order_id", "max_active": 3},
        },
        "exit": [{"event": "Order Completed", "match": ["order_id"]}],
        "start": "wait_order",
        "nodes": {
            "wait_order": {
                "type": "wait_event",
                "event": "Order Completed",
                "match": ["order_id"],
                "timeout": "3s",
                "on_event": "end",
                "on_timeout": "remind",
            },  # fmt: skip
            "remind": {
                "type": "send",
                "channel": "best",
                "channels": ["push", "sms"],
                "template": sms_tpl,
                "next": "end",
            },
            "end": {"type": "exit"},
        },
    }
    del push_tpl
    journey = shop.q(CREATE, {"n": "母婴弃单挽回", "d": definition})["createJourney"]["id"]
    shop.q(PUBLISH, {"id": journey})
    shop.sdk.track("mum", "Checkout Started", {"order_id": "mb-1", "revenue": 299.0})
    shop.sdk.track("dad", "Checkout Started", {"order_id": "mb-2", "revenue": 88.0})
    shop.sdk.track("dad", "Order Completed", {"order_id": "mb-2", "revenue": 88.0})
    shop.flush()
    dad = shop.person_id("dad")
    db = mongo_db(shop.suite)
    try:
        eventually(lambda: len(shop.received("sms")) == 2, timeout=60)
    except AssertionError:
        raise AssertionError(
            (
                list(db["runs"].find({"journey_id": journey})),
                list(db["messages"].find({"workspace": shop.ws})),
                [r.path for r in shop.sink.received if shop.ws in r.path],
            )
        ) from None  # mum's reminder came by sms, her better channel
    time.sleep(4)
    db = mongo_db(shop.suite)
    assert db["runs"].find_one({"journey_id": journey, "person_id": dad})["status"] in ("exited", "done")
    assert [r.body["personId"] for r in shop.received("sms")].count(dad) == 0
    assert shop.received("push") == []


def test_churned_recall_sms_campaign_is_throttled_holds_some_out_and_its_funnel_counts(shop):
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=200)
    for i in range(40):
        shop.sdk.identify(f"old-{i}", {"phone": f"+86138000{i:05d}"}, timestamp=long_ago)
        shop.sdk.track(f"old-{i}", "Product Viewed", {"product_id": "gift"}, timestamp=long_ago)
    shop.sdk.identify("active", {"phone": "+8613900000000"})
    shop.flush()
    horizon = (dt.datetime.now(dt.UTC) - dt.timedelta(days=180)).strftime("%Y-%m-%d")
    segment = shop.segment("180 天未活跃", f'computed.last_active_at < "{horizon}"', 40)
    shop.q('mutation($c: JSON!) { upsertChannel(name: "sms", type: "sms", config: $c) { name } }',
           {"c": {"endpoint": f"{shop.sink.url}/{shop.ws}/sms", "api_key": "k", "sender": "SHOP"}})  # fmt: skip
    template = shop.template("sms", "送你一份免费好礼，点击小程序领取")
    started = time.monotonic()
    campaign = shop.q(CAMPAIGN, {"i": {"name": "沉睡召回", "segmentId": segment, "channel": "sms", "templateId": template,
                                       "ratePerSecond": 10, "holdoutPct": 10, "goalEvent": "Order Completed"}})["createCampaign"]["id"]  # fmt: skip
    shop.q(PUBLISH, {"id": campaign})
    status = shop.finished(campaign)
    took = time.monotonic() - started
    assert (
        status["audience"] == 40 and status["sent"] + status["skipped"] + status["failed"] + status["cancelled"] == 40
    )
    # Throttled to 10 people a second: 40 people enter in four chunks a second apart, not in one burst
    # (the launcher's time alone would not show it: it also spans the snapshot and the segment's wait).
    entered = sorted(r["entered_at"] for r in mongo_db(shop.suite)["runs"].find({"journey_id": campaign}))
    assert len(entered) == 40
    assert (entered[-1] - entered[0]).total_seconds() >= 2.5, (entered[0], entered[-1])
    assert took >= 2.5
    eventually(
        lambda: len(shop.received("sms/sms/send")) == 40 - status["holdout"], timeout=30
    )  # POST <endpoint>/sms/send
    launch = shop.q("query($id: ID!) { campaignStatus(id: $id) { launchId } }", {"id": campaign})["campaignStatus"][
        "launchId"
    ]
    # The response funnel of the campaign: sent -> delivered -> clicked -> converted, countable per launch.
    stats = shop.q(
        "query($c: String!) { messageStats(campaignId: $c) { sent delivered clicked converted } }", {"c": launch}
    )
    assert stats["messageStats"]["sent"] == 40 - status["holdout"]
    # The holdout was reached by nobody.
    held = {r["person_id"] for r in mongo_db(shop.suite)["runs"].find({"journey_id": campaign, "holdout": True})}
    messaged = {m["person_id"] for m in mongo_db(shop.suite)["messages"].find({"workspace": shop.ws})}
    assert len(held) == status["holdout"] and not held & messaged and len(messaged) == 40 - len(held)
    # The SMS provider confirms delivery of all but three (its receipts, to the URL each message carried).
    texts = shop.received("sms/sms/send")
    for text in texts[3:]:
        answer = httpx.post(text.body["receiptUrl"], json={"messageId": text.body["reference"], "status": "delivered"})
        assert answer.status_code < 300, answer.text
    funnel = eventually(
        lambda: (
            (
                s := shop.q(
                    "query($c: String!) { messageStats(campaignId: $c) { sent delivered clicked converted } }",
                    {"c": launch},
                )["messageStats"]
            )["delivered"]
            == len(texts) - 3
            and s
        ),
        timeout=30,
    )
    assert funnel["sent"] == 40 - status["holdout"] and funnel["clicked"] == 0


def test_cross_border_ab_test_of_two_creatives_reports_the_winner_with_its_significance(shop):
    users = [f"cb-{i}" for i in range(160)]
    for user in users:
        shop.sdk.identify(user, {"country": "SG", "name": user})
    shop.flush()
    segment = shop.segment("SG shoppers", 'traits.country = "SG"', 160)
    shop.channel("push", "push")
    a, b = shop.template("webhook", "Creative A"), shop.template("webhook", "Creative B")
    campaign = shop.q(CAMPAIGN, {"i": {"name": "creative test", "segmentId": segment, "channel": "push", "templateId": a,
                                       "goalEvent": "Order Completed",
                                       "variants": [{"name": "A", "weight": 1, "templateId": a}, {"name": "B", "weight": 1, "templateId": b}]}})["createCampaign"]["id"]  # fmt: skip
    shop.q(PUBLISH, {"id": campaign})
    shop.finished(campaign)
    db = mongo_db(shop.suite)
    runs = list(db["runs"].find({"journey_id": campaign}))
    by_variant = {}
    for run in runs:
        by_variant.setdefault(next(iter(run["variants"].values())), []).append(run["person_id"])
    assert set(by_variant) == {"A", "B"} and 50 <= len(by_variant["A"]) <= 110
    # B's creative sells: 60% of B's people order, 5% of A's.
    persons = {shop.person_id(u): u for u in users}
    buyers = by_variant["B"][: int(len(by_variant["B"]) * 0.6)] + by_variant["A"][: max(1, len(by_variant["A"]) // 20)]
    for person in buyers:
        shop.sdk.track(persons[person], "Order Completed", {"order_id": f"cb-{person}", "revenue": 50.0})
    shop.flush()
    eventually(
        lambda: db["runs"].count_documents({"journey_id": campaign, "converted_at": {"$ne": None}}) == len(buyers),
        timeout=90,
    )
    results = shop.q(RESULTS, {"id": campaign})["experimentResults"]
    (versus,) = results["comparisons"]
    assert versus["arm"] == "B" and versus["against"] == "A"
    assert versus["significant"] and versus["sequentialPValue"] < 0.05 and versus["lift"] > 1, results["comparisons"]
    assert results["winner"] == "B"
    assert not versus["sampleRatioMismatch"]
