"""A generated group-buy campaign whose evaluation figures are known by construction.

Each recipient's fate is drawn from a seeded generator (delivered, opened, clicked, visited,
joined, ordered within the window or after it, bought before the campaign, shared, and who
followed each share: new persons, persons who were there before, the sharer's own device, a
second level), and the truth is counted while drawing, never by reading the log back. Noise that
must not count sits beside it: a failed message, visits before the message, orders after the
window, a share after the window, another campaign, another workspace.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from tests.analytics_support import page, sent, track

WS, OTHER_WS = "g", "h"
CAMPAIGN = "groupbuy"
T0 = dt.datetime(2025, 5, 1, 10, tzinfo=dt.UTC)
WINDOW = dt.timedelta(days=7)
PRICES = (19.9, 39.0, 88.5)


@dataclass
class Truth:
    sent: int = 0
    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    visited: int = 0
    joined: int = 0
    converted_persons: int = 0
    conversions: int = 0
    revenue: float = 0.0
    buyers_before: int = 0
    returned: int = 0
    returned_orders: int = 0
    returned_gmv: float = 0.0
    repurchase_seconds: list[float] = field(default_factory=list)
    sharers: int = 0
    shares: int = 0
    invited: int = 0
    existing: int = 0
    same_device: int = 0
    level2_sharers: int = 0
    level2_shares: int = 0
    level2_invited: int = 0


def generate(recipients: int = 200, seed: int = 618) -> tuple[list, list, Truth]:
    """(events.resolved records, messages.status records, the truth) of one campaign."""
    rng = random.Random(seed)
    events, statuses, truth = [], [], Truth()

    def ev(person, name, at, props=None, device=None):
        events.append(track(WS, person, name, at, props, {"device": {"id": device}} if device else None))

    for i in range(recipients):
        person, sent_at = f"r{i}", T0 + dt.timedelta(minutes=i)
        if i % 20 == 19:  # the message failed: not a recipient, and what they do is no response
            statuses.append(sent(WS, person, CAMPAIGN, sent_at, status="failed"))
            ev(person, "Order Completed", sent_at + dt.timedelta(hours=3), {"revenue": 10.0})
            continue
        statuses.append(sent(WS, person, CAMPAIGN, sent_at))
        truth.sent += 1
        message = {"message_id": f"{CAMPAIGN}-{person}", "campaign_id": CAMPAIGN}
        delivered = rng.random() < 0.9
        opened = delivered and rng.random() < 0.5
        clicked = opened and rng.random() < 0.4
        if delivered:
            truth.delivered += 1
            # Delivery is known from the provider's status or from the engagement event, either way.
            if rng.random() < 0.5:
                statuses.append(sent(WS, person, CAMPAIGN, sent_at + dt.timedelta(seconds=5), status="delivered"))
            else:
                ev(person, "Message Delivered", sent_at + dt.timedelta(seconds=5), message)
        if opened:
            truth.opened += 1
            ev(person, "Message Opened", sent_at + dt.timedelta(minutes=30), message)
        if clicked:
            truth.clicked += 1
            ev(person, "Message Clicked", sent_at + dt.timedelta(minutes=31), message)
        if rng.random() < 0.2:
            events.append(page(WS, person, "Home", sent_at - dt.timedelta(days=1)))  # before: no response
        visited = rng.random() < (0.6 if clicked else 0.05)
        if visited:
            truth.visited += 1
            events.append(page(WS, person, "Group Buy", sent_at + dt.timedelta(hours=rng.randint(1, 72))))
            if rng.random() < 0.3:
                truth.joined += 1
                ev(person, "Signed Up", sent_at + dt.timedelta(hours=80))
        # Bought before the message (a returning buyer if they order again in the window).
        last_before = None
        if rng.random() < 0.2:
            truth.buyers_before += 1
            for days in sorted(rng.sample(range(5, 60), rng.randint(1, 2)), reverse=True):
                last_before = sent_at - dt.timedelta(days=days, hours=1)
                ev(person, "Order Completed", last_before, {"revenue": 50.0})
        orders = 0
        if visited and rng.random() < 0.5:
            orders = rng.randint(1, 2)
        first_after = None
        for k in range(orders):
            at = sent_at + dt.timedelta(hours=90 + 20 * k)
            price = rng.choice(PRICES)
            ev(person, "Order Completed", at, {"revenue": price})
            first_after = first_after or at
            truth.conversions += 1
            truth.revenue += price
            if last_before is not None:
                truth.returned_orders += 1
                truth.returned_gmv += price
        if orders:
            truth.converted_persons += 1
            if last_before is not None:
                truth.returned += 1
                truth.repurchase_seconds.append((first_after - last_before).total_seconds())
        if rng.random() < 0.1:
            ev(person, "Order Completed", sent_at + WINDOW + dt.timedelta(hours=1), {"revenue": 99.0})  # too late
        _shares(rng, ev, person, sent_at, truth, i)

    # Noise: another campaign's recipient who orders, and the same campaign id in another workspace.
    statuses.append(sent(WS, "x1", "other", T0))
    ev("x1", "Order Completed", T0 + dt.timedelta(hours=2), {"revenue": 500.0})
    statuses.append(sent(OTHER_WS, "r0", CAMPAIGN, T0))
    events.append(track(OTHER_WS, "r0", "Order Completed", T0 + dt.timedelta(hours=2), {"revenue": 500.0}))
    truth.revenue = round(truth.revenue, 2)
    truth.returned_gmv = round(truth.returned_gmv, 2)
    return events, statuses, truth


def _shares(rng, ev, person, sent_at, truth: Truth, i: int) -> None:
    """A recipient's shares and who followed them (level 1), and the level-2 shares of some invitees."""
    device = f"d-{person}"
    if rng.random() >= 0.15:
        if rng.random() < 0.05:  # a share only after the window: neither it nor its arrivals count
            late = f"late-{person}"
            ev(person, "Product Shared", sent_at + WINDOW + dt.timedelta(hours=2), {"share_id": late}, device)
            ev(f"nl-{person}", "Page Viewed", sent_at + WINDOW + dt.timedelta(hours=3), {"share_id": late})
        return
    truth.sharers += 1
    for s in range(rng.randint(1, 2)):
        sid, shared_at = f"s-{person}-{s}", sent_at + dt.timedelta(hours=1 + s)
        ev(person, "Product Shared", shared_at, {"share_id": sid}, device)
        truth.shares += 1
        for j in range(rng.randint(0, 3)):
            invitee, arrived = f"n-{person}-{s}-{j}", shared_at + dt.timedelta(hours=2, minutes=j)
            kind = rng.random()
            if kind < 0.15:  # was there before: existing
                ev(invitee, "Page Viewed", arrived - dt.timedelta(days=30))
                ev(invitee, "Page Viewed", arrived, {"share_id": sid})
                truth.existing += 1
            elif kind < 0.25:  # the sharer on another account, on their own device
                ev(invitee, "Page Viewed", arrived, {"share_id": sid}, device)
                truth.same_device += 1
            else:
                ev(invitee, "Page Viewed", arrived, {"share_id": sid}, f"d-{invitee}")
                truth.invited += 1
                if rng.random() < 0.3:  # shares on within their own window: level 2
                    sid2, at2 = f"s2-{invitee}", arrived + dt.timedelta(days=1)
                    ev(invitee, "Product Shared", at2, {"share_id": sid2}, f"d-{invitee}")
                    truth.level2_sharers += 1
                    truth.level2_shares += 1
                    followers = rng.randint(1, 2)
                    for f in range(followers):
                        ev(f"m-{invitee}-{f}", "Page Viewed", at2 + dt.timedelta(hours=1), {"share_id": sid2})
                    truth.level2_invited += followers
