"""Campaign evaluation against a generated campaign whose figures are known by construction
(tests/campaign_truth.py): the response funnel, referral spread and returning buyers."""

from __future__ import annotations

import pytest
import pytest_asyncio

from tests import campaign_truth as gen
from tests.analytics_support import loaded

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def generated(tmp_path_factory):
    events, statuses, truth = gen.generate()
    analytics = await loaded(tmp_path_factory.mktemp("chdb-golden"), events, [], gen.T0.replace(month=7), statuses)
    yield analytics, truth
    analytics.engine.close()


async def test_the_response_funnel_equals_the_truth(generated):
    analytics, truth = generated
    out = await analytics.campaign_funnel(gen.WS, {"campaign_id": gen.CAMPAIGN})
    got = {k: out[k] for k in ("sent", "delivered", "opened", "clicked", "visited", "joined")}
    assert got == {
        "sent": truth.sent, "delivered": truth.delivered, "opened": truth.opened, "clicked": truth.clicked,
        "visited": truth.visited, "joined": truth.joined,
    }  # fmt: skip
    assert (out["converted_persons"], out["conversions"]) == (truth.converted_persons, truth.conversions)
    assert round(out["revenue"], 2) == truth.revenue
    # The generator made a funnel worth checking: every stage narrower than the one before, none empty.
    assert truth.sent > truth.delivered > truth.opened > truth.clicked > 0
    assert truth.visited > truth.converted_persons > 0 and truth.joined > 0


async def test_the_referral_spread_equals_the_truth(generated):
    analytics, truth = generated
    referral = (await analytics.campaign_spread(gen.WS, {"campaign_id": gen.CAMPAIGN}))["referral"]
    levels = [{"level": 1, "sharers": truth.sharers, "shares": truth.shares, "invited": truth.invited}]
    if truth.level2_sharers:
        second = {"sharers": truth.level2_sharers, "shares": truth.level2_shares, "invited": truth.level2_invited}
        levels.append({"level": 2, **second})
    assert referral == {
        "recipients": truth.sent, "sharers": truth.sharers, "shares": truth.shares, "invited": truth.invited,
        "k_factor": round(truth.invited / truth.sent, 4),
        "invited_all_levels": truth.invited + truth.level2_invited, "depth": len(levels), "levels": levels,
        "existing": truth.existing, "same_device": truth.same_device,
    }  # fmt: skip
    assert truth.existing and truth.same_device and truth.level2_invited  # each rule had something to decide


async def test_returning_buyers_equal_the_truth(generated):
    analytics, truth = generated
    returning = (await analytics.campaign_spread(gen.WS, {"campaign_id": gen.CAMPAIGN}))["returning"]
    seconds = truth.repurchase_seconds
    assert returning == {
        "buyers_before": truth.buyers_before, "returned": truth.returned, "orders": truth.returned_orders,
        "gmv": truth.returned_gmv, "aov": round(truth.returned_gmv / truth.returned_orders, 2),
        "repurchase_days": round(sum(seconds) / len(seconds) / 86400, 2),
    }  # fmt: skip
    assert truth.buyers_before > truth.returned > 0
