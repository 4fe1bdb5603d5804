"""Quiet hours, frequency caps, rate limits, templates and signed links, with an injected clock.

Pure rules are tested directly; caps and the GCRA limiter run against the real
Redis the stack fixture starts. Time is a FixedClock, so "the person's
Tuesday 23:30 in New York" is a test input, not a wait.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis

from services.kit.clock import FixedClock
from services.kit.errors import InvalidInput
from services.kit.signing import Keyring
from services.messaging.delivery import RetryPolicy
from services.messaging.limits import CapCheck, FrequencyCaps, RateLimiter
from services.messaging.links import Links, Signer
from services.messaging.messages import Content
from services.messaging.policy import Cap, Policy, local_days, quiet_until, validate_policy
from services.messaging.providers import retry_after_seconds
from services.messaging.templates import context_of, render, validate_template

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
UTC = dt.UTC


def at(y, mo, d, h, mi=0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, tzinfo=UTC)


# -- quiet hours ---------------------------------------------------------------
def test_quiet_hours_are_the_persons_night_not_utcs():
    clock = FixedClock(at(2026, 6, 1, 15, 0))  # 23:00 in Shanghai, 11:00 in New York
    assert quiet_until(clock.now(), SHANGHAI, "22:00", "08:00") == at(2026, 6, 2, 0, 0)  # 08:00 Shanghai
    assert quiet_until(clock.now(), NEW_YORK, "22:00", "08:00") is None
    clock.advance(hours=12)  # 03:00 UTC: 11:00 Shanghai, 23:00 New York
    assert quiet_until(clock.now(), SHANGHAI, "22:00", "08:00") is None
    assert quiet_until(clock.now(), NEW_YORK, "22:00", "08:00") == at(2026, 6, 2, 12, 0)  # 08:00 EDT


def test_quiet_window_edges_and_early_morning():
    # 07:59 Shanghai is still quiet and ends the same day; 08:00 is not quiet; 22:00 is.
    assert quiet_until(at(2026, 6, 1, 23, 59), SHANGHAI, "22:00", "08:00") == at(2026, 6, 2, 0, 0)
    assert quiet_until(at(2026, 6, 2, 0, 0), SHANGHAI, "22:00", "08:00") is None
    assert quiet_until(at(2026, 6, 2, 14, 0), SHANGHAI, "22:00", "08:00") == at(2026, 6, 3, 0, 0)
    # A window that does not wrap midnight, and one switched off.
    assert quiet_until(at(2026, 6, 2, 5, 0), SHANGHAI, "12:00", "14:00") == at(2026, 6, 2, 6, 0)
    assert quiet_until(at(2026, 6, 2, 5, 0), SHANGHAI, "00:00", "00:00") is None


def test_quiet_hours_end_at_local_eight_across_a_dst_change():
    # New York leaves DST on 2026-11-01 at 02:00 local: the night is 11 hours long in UTC terms.
    start = at(2026, 11, 1, 2, 30)  # 22:30 EDT on Oct 31
    until = quiet_until(start, NEW_YORK, "22:00", "08:00")
    assert until.astimezone(NEW_YORK).hour == 8 and until == at(2026, 11, 1, 13, 0)


def test_local_days_follow_the_persons_calendar():
    now = at(2026, 6, 1, 20, 0)  # 04:00 on June 2 in Shanghai, 16:00 on June 1 in New York
    assert local_days(now, SHANGHAI, 2) == ["2026-06-02", "2026-06-01"]
    assert local_days(now, NEW_YORK, 1) == ["2026-06-01"]


def test_bad_policy_names_the_field():
    with pytest.raises(InvalidInput) as err:
        validate_policy(Policy(quiet_start="25:00"))
    assert err.value.field == "quiet_start"
    with pytest.raises(InvalidInput) as err:
        validate_policy(Policy(default_timezone="Mars/Olympus"))
    assert err.value.field == "default_timezone"
    with pytest.raises(InvalidInput) as err:
        validate_policy(Policy(caps=(Cap("push", "marketing", 2, 0),)))
    assert err.value.field == "caps[0].days"


# -- frequency caps (real Redis) -----------------------------------------------
@pytest.fixture
def redis_url(stack) -> str:
    return stack.redis_url


def run(coro):
    return asyncio.run(coro)


def test_cap_counts_the_persons_calendar_day_across_time_zones(redis_url):
    async def scenario():
        redis = aioredis.from_url(redis_url)
        caps = FrequencyCaps(redis)
        ws = f"ws_{uuid.uuid4().hex[:8]}"
        two_a_day = [Cap("push", "marketing", 2, 1)]
        # 15:30 UTC: 23:30 in Shanghai (late on June 1), 11:30 in New York (June 1).
        clock = FixedClock(at(2026, 6, 1, 15, 30))

        async def allowed(person, tz, mid):
            v = await caps.check(ws, person, "push", "marketing", mid, two_a_day, clock.now(), tz)
            return v.allowed

        assert await allowed("sh", SHANGHAI, "m1") and await allowed("sh", SHANGHAI, "m2")
        assert not await allowed("sh", SHANGHAI, "m3"), "third marketing push of the Shanghai day"
        assert await allowed("sh", SHANGHAI, "m2"), "a redelivered message is not counted twice"
        assert await allowed("ny", NEW_YORK, "n1") and await allowed("ny", NEW_YORK, "n2")
        # One hour later it is June 2 in Shanghai (new day) but still June 1 in New York.
        clock.advance(hours=1)
        assert await allowed("sh", SHANGHAI, "m4")
        assert not await allowed("ny", NEW_YORK, "n3")
        # A message that was not sent gives its place back.
        await caps.release(ws, "ny", "push", "marketing", "n2", two_a_day, clock.now(), NEW_YORK)
        assert await allowed("ny", NEW_YORK, "n3")
        await redis.aclose()

    run(scenario())


def test_a_batch_of_caps_counts_like_one_message_after_another(redis_url):
    async def scenario():
        redis = aioredis.from_url(redis_url)
        caps = FrequencyCaps(redis)
        ws = f"ws_{uuid.uuid4().hex[:8]}"
        one_a_day, two_a_week = Cap("push", "marketing", 1, 1), Cap("push", "", 2, 7)
        now = at(2026, 6, 1, 4, 0)

        def check(person, mid, *which):
            return CapCheck(ws, person, "push", "marketing", mid, list(which), SHANGHAI)

        verdicts = await caps.check_many(
            [check("a", "a1", one_a_day), check("a", "a2", one_a_day), check("b", "b1", one_a_day)], now
        )
        assert [v.allowed for v in verdicts] == [True, False, True], "a's second message meets her first"
        assert verdicts[1].cap == one_a_day

        # Refused by its second cap: counted in neither, so it takes nobody's place.
        await caps.check_many([check("c", "c1", two_a_week), check("c", "c2", two_a_week)], now)
        (refused,) = await caps.check_many([check("c", "c3", one_a_day, two_a_week)], now)
        assert not refused.allowed and refused.cap == two_a_week
        (fits,) = await caps.check_many([check("c", "c4", one_a_day)], now)
        assert fits.allowed, "c3 did not use up the daily cap"
        await redis.aclose()

    run(scenario())


def test_a_redelivered_message_is_counted_nowhere_new_so_it_gives_no_place_back(redis_url):
    async def scenario():
        redis = aioredis.from_url(redis_url)
        caps = FrequencyCaps(redis)
        ws = f"ws_{uuid.uuid4().hex[:8]}"
        daily, weekly = Cap("push", "marketing", 2, 1), Cap("push", "", 3, 7)
        now = at(2026, 6, 1, 4, 0)

        def check(mid, *which):
            return CapCheck(ws, "p", "push", "marketing", mid, list(which), SHANGHAI)

        (first,) = await caps.check_many([check("m1", daily)], now)
        assert first.allowed and first.counted == [daily]
        # The same message again (its outbound record redelivered after it was sent), now also
        # under a weekly cap: the daily place is its old one, only the weekly one is new.
        (again,) = await caps.check_many([check("m1", daily, weekly)], now)
        assert again.allowed and again.counted == [weekly]
        # The delivery of the redelivered record finds it sent (its claim misses) and gives back
        # what it counted: the weekly place only. m1 keeps its daily place.
        await caps.release_many([check("m1", *again.counted)], now)
        verdicts = await caps.check_many([check("m2", daily, weekly), check("m3", daily, weekly)], now)
        assert [v.allowed for v in verdicts] == [True, False], "m1 still holds one of the two daily places"
        await redis.aclose()

    run(scenario())


def test_gcra_grants_a_batch_up_to_its_burst_then_one_cell_per_interval(redis_url):
    async def scenario():
        redis = aioredis.from_url(redis_url)
        limiter = RateLimiter(redis)
        key = f"ws_{uuid.uuid4().hex[:8]}:hook:webhook"
        granted, wait = await limiter.acquire_many(key, rate=100, burst=10, wanted=50)
        started = time.monotonic()
        assert granted == 10 and 0 < wait <= 0.011, (granted, wait)
        await asyncio.sleep(0.05)
        granted, _ = await limiter.acquire_many(key, rate=100, burst=10, wanted=50)
        # One cell per 10 ms since the burst was spent (the sleep may run long on a busy machine).
        assert abs(granted - min(10.0, (time.monotonic() - started) * 100)) <= 3, granted
        assert await limiter.acquire(key, 100, 10) > 0, "the schedule is used up"
        # Idle time is not saved up beyond the burst: a second later there are 10 cells, not 100.
        await asyncio.sleep(1.0)
        assert (await limiter.acquire_many(key, rate=100, burst=10, wanted=50))[0] == 10
        await redis.aclose()

    run(scenario())


def test_weekly_cap_spans_seven_local_days(redis_url):
    async def scenario():
        redis = aioredis.from_url(redis_url)
        caps = FrequencyCaps(redis)
        ws = f"ws_{uuid.uuid4().hex[:8]}"
        weekly = [Cap("sms", "", 1, 7)]
        clock = FixedClock(at(2026, 6, 1, 2, 0))
        check = caps.check
        assert (await check(ws, "p", "sms", "marketing", "a", weekly, clock.now(), SHANGHAI)).allowed
        clock.advance(days=6)
        verdict = await check(ws, "p", "sms", "marketing", "b", weekly, clock.now(), SHANGHAI)
        assert not verdict.allowed and verdict.cap == weekly[0]
        clock.advance(days=1)
        assert (await check(ws, "p", "sms", "marketing", "c", weekly, clock.now(), SHANGHAI)).allowed
        await redis.aclose()

    run(scenario())


# -- GCRA (real Redis, Redis's own clock) ---------------------------------------
def test_gcra_allows_the_burst_then_spaces_requests(redis_url):
    async def scenario():
        redis = aioredis.from_url(redis_url)
        limiter = RateLimiter(redis)
        key = f"ws_{uuid.uuid4().hex[:8]}:sms:sms"
        waits = [await limiter.acquire(key, 10.0, 5) for _ in range(6)]
        await redis.aclose()
        return waits

    waits = run(scenario())
    assert waits[:5] == [0, 0, 0, 0, 0], "the burst goes at once"
    assert 0.05 < waits[5] <= 0.1, "the sixth waits about one interval (100 ms at 10/s)"


# -- retries ---------------------------------------------------------------------
def test_backoff_grows_with_jitter_and_honours_retry_after():
    policy = RetryPolicy(max_attempts=8, base=1.0, cap=30.0)
    for attempt, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (6, 30.0), (9, 30.0)):
        delays = {policy.delay(attempt, None) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1, "jittered"
    assert 7.0 <= policy.delay(1, 7.0) <= 8.0
    now = at(2026, 6, 1, 12, 0)
    assert retry_after_seconds("12", now) == 12.0
    assert retry_after_seconds("Mon, 01 Jun 2026 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("soon", now) is None


# -- templates -----------------------------------------------------------------
def test_unknown_variable_fails_validation_with_its_name():
    with pytest.raises(InvalidInput) as err:
        validate_template("t", "push", Content(title="Hi {{ nickname }}", body="x"))
    assert "nickname" in err.value.message and err.value.field == "content.title"
    with pytest.raises(InvalidInput) as err:
        validate_template("t", "email", Content(subject="{% if %}", body="x"))
    assert err.value.field == "content.subject"
    with pytest.raises(InvalidInput) as err:
        validate_template("t", "email", Content(body="no subject"))
    assert err.value.field == "content.subject"


def test_template_renders_chinese_text_from_traits_and_computed_values():
    content = Content(
        title="{{ traits.name }}，您的专属优惠",
        body=(
            "您已下单 {{ computed.order_count }} 次，累计消费 ¥{{ '%.2f' | format(computed.revenue) }}。"
            "{{ vars.coupon }}"
        ),
        deep_link="app://coupon/{{ vars.coupon }}",
    )
    validate_template("618", "push", content)
    profile = {"traits": {"name": "李华"}, "computed": {"order_count": 3, "revenue": 1288.5}}
    out = render(content, context_of("p1", profile, {"coupon": "FRUIT10"}))
    assert out.title == "李华，您的专属优惠"
    assert out.body == "您已下单 3 次，累计消费 ¥1288.50。FRUIT10"
    assert out.deep_link == "app://coupon/FRUIT10"


def test_missing_trait_at_render_names_it_and_sandbox_blocks_internals():
    with pytest.raises(InvalidInput) as err:
        render(Content(title="Hi {{ traits.nickname }}"), context_of("p1", {"traits": {}}, {}))
    assert "nickname" in err.value.message
    with pytest.raises(InvalidInput):
        render(Content(body="{{ vars.__class__.__mro__ }}"), context_of("p1", None, {}))


# -- signed links ----------------------------------------------------------------
def test_link_tokens_are_signed_and_cannot_be_edited():
    clock = FixedClock(dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    signer = Signer(Keyring.parse("a-test-secret-of-enough-length-32+"), clock)
    links = Links(signer, "http://cdp.example")
    url = links.unsubscribe("ws", "m1", "p1", "sms", "marketing")
    token = url.rsplit("/", 1)[1]
    payload = signer.verify(token)
    assert {k: payload[k] for k in ("k", "w", "m", "p", "ch", "g")} == {
        "k": "u",
        "w": "ws",
        "m": "m1",
        "p": "p1",
        "ch": "sms",
        "g": "marketing",
    }
    body, mac = token.split(".")
    other = Signer(Keyring.parse("another-secret-of-enough-len-32+++"), clock)
    forged = other.sign({"k": "u", "w": "ws", "m": "m1", "p": "p2"})
    for bad in (forged, body + "." + mac[:-2] + "AA", "garbage"):
        with pytest.raises(InvalidInput):
            signer.verify(bad)
    html = links.track_html('<a href="https://shop.example/fruit">买</a>', "ws", "m1")
    assert "https://shop.example/fruit" not in html and "/t/c/" in html and "/t/o/" in html
