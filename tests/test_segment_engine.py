"""Counts and one-person checks from the bitmaps equal a brute-force evaluation of the AST.

Real Redis; random people with text, numeric (bit-sliced), negative, list and
time attributes, tags with confidence, and behaviour on random days.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest
import redis.asyncio as aioredis

from services.kit.rules import parse
from services.segment import encoding as enc
from services.segment.bitmaps import BitmapIndex
from tests.segment_truth import holds

TODAY = dt.date(2026, 6, 18)  # a Thursday: windows mix week roll-ups and single days
BIG = (1 << enc.SHARD_BITS) + 3

RULES = [
    'traits.gender = "female" AND traits.age BETWEEN 25 AND 34 AND computed.revenue >= 1000 '
    'AND NOT computed.lifecycle_stage = "churned"',
    "traits.age >= 30",
    "traits.age < 18 OR traits.age > 60",
    "traits.score > -3.5",
    "traits.score <= -1",
    "traits.score = 2.25",
    "traits.balance BETWEEN -1000 AND 5000.5",
    "computed.revenue > 123.45",
    "computed.revenue < 50",
    "computed.revenue = 0",
    "computed.order_count >= 3",
    'computed.first_order_at >= "2026-03-01T00:00:00Z"',
    'computed.rfm_group = "重要价值"',
    'computed.categories = "fruit"',
    "traits.email EXISTS AND NOT traits.vip = true",
    'traits.city NOT IN ["上海", "北京"]',
    'traits.gender != "male"',
    "tags.fitness",
    "tags.fitness WITH CONFIDENCE >= 0.7",
    'tags.brand = "domestic" WITH CONFIDENCE >= 0.5',
    'DID "Order Completed" IN LAST 30 DAYS',
    'DID "Order Completed" AT LEAST 3 TIMES IN LAST 30 DAYS',
    'DID "Order Completed" AT LEAST 2 TIMES IN LAST 9 DAYS',
    'DID NOT "App Opened" IN LAST 7 DAYS',
    'DID "Order Completed" WHERE category = "fruit" IN LAST 60 DAYS',
    '(tags.fitness OR traits.vip = true) AND NOT (DID "App Opened" IN LAST 3 DAYS OR traits.age >= 50)',
]


def people(n: int, seed: int = 3) -> dict[int, dict]:
    rng = random.Random(seed)
    out = {}
    uids = rng.sample(range(1, 3000), n // 2) + [BIG + i for i in rng.sample(range(2000), n - n // 2)]
    for uid in uids:
        attrs = {
            "traits.gender": rng.choice(["female", "male", None]),
            "traits.age": rng.choice([None, rng.randint(14, 80)]),
            "traits.score": rng.choice([None, round(rng.uniform(-10, 10), 2), 2.25, -1]),
            "traits.balance": rng.choice([None, round(rng.uniform(-5000, 20000), 2)]),
            "traits.city": rng.choice(["上海", "北京", "深圳", None]),
            "traits.email": rng.choice([None, f"p{uid}@x.cn"]),
            "traits.vip": rng.choice([True, False, None]),
            "computed.revenue": rng.choice([None, 0, round(rng.lognormvariate(5, 1.5), 2), 123.45, 1000]),
            "computed.order_count": rng.choice([None, rng.randint(0, 9)]),
            "computed.first_order_at": rng.choice(
                [None, (dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=rng.randint(0, 4000))).isoformat()]
            ),
            "computed.rfm_group": rng.choice(["important_value", "general_keep", None]),
            "computed.lifecycle_stage": rng.choice(["new", "loyal", "churned", None]),
            "computed.categories": rng.choice([None, ["fruit", "snack"], ["snack"], []]),
            "tags.fitness": rng.choice([None, {"value": "true", "confidence": rng.choice([0.3, 0.69, 0.7, 0.95, 1])}]),
            "tags.brand": rng.choice(
                [None, {"value": rng.choice(["domestic", "imported"]), "confidence": rng.random()}]
            ),
        }
        events = {}
        for _ in range(rng.randint(0, 6)):
            day = TODAY - dt.timedelta(days=rng.randint(0, 70))
            event = rng.choice(["Order Completed", "App Opened"])
            props = {"category": rng.choice(["fruit", "snack"])} if event == "Order Completed" else {}
            for key in enc.event_keys_of(event, props):
                events[(key, day)] = events.get((key, day), 0) + 1
        out[uid] = {"attrs": {k: v for k, v in attrs.items()}, "events": events}
    return out


async def load(index: BitmapIndex, ws: str, persons: dict[int, dict]) -> None:
    for uid, person in persons.items():
        await index.apply(ws, uid, person["attrs"], person_id=f"p{uid}")
        counts = []
        for (key, day), c in person["events"].items():
            week = enc.monday(day)
            week_total = sum(n for (k, d), n in person["events"].items() if k == key and enc.monday(d) == week)
            counts.append((f"e:{key}:d:{day:%Y%m%d}", c, enc.expires_at(TODAY + dt.timedelta(days=3650))))
            counts.append((f"e:{key}:w:{week:%Y%m%d}", week_total, enc.expires_at(TODAY + dt.timedelta(days=3650))))
        if counts:
            await index.record_activity(ws, uid, counts, at_ms=1)


@pytest.fixture
async def loaded(stack, workspace_id):
    index = BitmapIndex(aioredis.from_url(stack.redis_url))
    persons = people(400)
    await load(index, workspace_id, persons)
    yield index, persons
    await index.redis.aclose()


@pytest.mark.parametrize("rule", RULES)
async def test_count_and_membership_equal_brute_force(loaded, workspace_id, rule):
    index, persons = loaded
    node = parse(rule)
    truth = {uid for uid, p in persons.items() if holds(node, p, TODAY)}
    assert await index.count(workspace_id, node, TODAY) == len(truth)
    sample = list(persons)[:60]
    flags = await index.matches(workspace_id, sample[0], [node], TODAY)
    program = await index.compile(workspace_id, node, TODAY)
    for uid in sample:
        (flag,) = await index.evaluate_bits(workspace_id, uid, [program])
        assert flag == (uid in truth), uid
    assert flags == [sample[0] in truth]


async def test_a_value_change_clears_the_old_bits_even_on_replay(stack, workspace_id):
    index = BitmapIndex(aioredis.from_url(stack.redis_url))
    ws = workspace_id
    await index.apply(ws, 7, {"traits.tier": "silver", "computed.revenue": 5000.5, "traits.age": 30})
    await index.apply(ws, 7, {"traits.tier": "gold", "computed.revenue": 12.0, "traits.age": 31.5})
    await index.apply(ws, 7, {"traits.tier": "gold", "computed.revenue": 12.0, "traits.age": 31.5})
    assert await index.count(ws, parse('traits.tier = "silver"')) == 0
    assert await index.count(ws, parse('traits.tier = "gold"')) == 1
    assert await index.count(ws, parse("computed.revenue >= 5000")) == 0
    assert await index.count(ws, parse("computed.revenue BETWEEN 11.99 AND 12")) == 1
    assert await index.count(ws, parse("traits.age = 30")) == 0
    assert await index.count(ws, parse("traits.age BETWEEN 31 AND 32")) == 1
    await index.apply(ws, 7, {"traits.tier": None, "computed.revenue": None})
    assert await index.count(ws, parse("traits.tier EXISTS OR computed.revenue >= 0")) == 0
    assert await index.count(ws, parse("NOT traits.tier EXISTS")) == 1
    await index.redis.aclose()


async def test_free_text_traits_index_only_exists_past_the_cap(stack, workspace_id):
    ws = workspace_id
    index = BitmapIndex(aioredis.from_url(stack.redis_url), max_values=5)
    for uid in range(1, 9):
        await index.apply(ws, uid, {"traits.email": f"p{uid}@x.cn", "traits.city": ["上海", "北京"][uid % 2]})
    assert await index.count(ws, parse("traits.email EXISTS")) == 8
    assert await index.count(ws, parse('traits.city = "上海"')) == 4
    with pytest.raises(Exception, match="too many distinct values"):
        await index.count(ws, parse('traits.email = "p1@x.cn"'))
    # Only the first five values ever got a bitmap.
    keys = [k async for k in index.redis.scan_iter(match=f"cdp:{{{ws}:0}}:v:traits.email:*")]
    assert len(keys) == 5
    await index.redis.aclose()
