"""How events and trait writes change a profile: pure functions, no I/O.

A profile document is {traits: {...}, trait_stamps: {...}, computed: {...},
api_traits: {...}}. Each function returns the `$set`/`$unset` paths to write
and the list of (path, before, after) changes to announce on profile.changed,
so the store and the announcement can never disagree.

Traits are last-writer-wins registers: every trait keeps a stamp {at, by} of
the write that set (or unset) it. An identify event writes at its own
timestamp, the API (UpsertTraits) at the clock's time; a write wins when
(at, rank) >= the stamp's, rank API > event, so a later arrival wins a tie of
the same kind. Because of that rule, and because the computed counters only
add, take min or take max, a profile does not depend on the order its events
arrived in: `recompute` (a fold of `apply_event` over the stored events, then
the recorded API writes) gives what applying them one by one gave. Merge and
unmerge are built on that: a combined or restored profile is a recompute.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

ORDER_COMPLETED = "Order Completed"
ORDER_REFUNDED = "Order Refunded"
_MISSING = object()


@dataclass
class Update:
    set: dict[str, Any] = field(default_factory=dict)
    unset: list[str] = field(default_factory=list)
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)

    def put(self, path: str, before: Any, after: Any) -> None:
        if before == after:
            return
        self.set[path] = after
        self.changes.append((path, before, after))

    def drop(self, path: str, before: Any) -> None:
        if before is _MISSING or before is None:
            return
        self.unset.append(path)
        self.changes.append((path, before, None))

    def keep(self, path: str, value: Any) -> None:
        """Write bookkeeping (stamps, recorded API writes) that is not announced."""
        self.set[path] = value


def order_revenue(properties: dict[str, Any]) -> float:
    """Segment e-commerce spec: `revenue`, else `total`; strings of digits accepted."""
    for key in ("revenue", "total"):
        value = properties.get(key)
        if isinstance(value, bool) or value is None:
            continue
        try:
            return round(float(value), 2)
        except (TypeError, ValueError):
            continue
    return 0.0


def apply_traits(
    profile: dict,
    set_: dict[str, Any] | None = None,
    set_once: dict[str, Any] | None = None,
    unset: list[str] | None = None,
    update: Update | None = None,
) -> Update:
    """Plain set / set-once / unset semantics on a traits dict, without stamps.

    The service writes traits through `apply_api_traits` and `apply_event`,
    which add newest-wins stamps on top of these semantics.
    """
    update = update or Update()
    traits = profile.get("traits") or {}
    for key, value in (set_ or {}).items():
        update.put(f"traits.{key}", traits.get(key), value)
    for key, value in (set_once or {}).items():
        if key not in traits:
            update.put(f"traits.{key}", None, value)
    for key in unset or []:
        update.drop(f"traits.{key}", traits.get(key, _MISSING))
    return update


# -- trait stamps -------------------------------------------------------------
EVENT, API = "event", "api"
_RANK = {EVENT: 0, API: 1}


def _wins(profile: dict, key: str, at: dt.datetime, by: str) -> bool:
    """Whether a write of trait `key` at `at` by `by` beats the write that set it last.

    Newest wins; on the same instant an API write beats an event (an operator's
    explicit value over a client's), and within one kind the later arrival wins.
    A trait without a stamp (written before stamps existed) loses to any write.
    """
    stamp = (profile.get("trait_stamps") or {}).get(key)
    if stamp is None:
        return True
    return (at, _RANK[by]) >= (stamp["at"], _RANK[stamp["by"]])


def _write_trait(profile: dict, key: str, value: Any, at: dt.datetime, by: str, update: Update) -> None:
    """A set (value) or an unset (_MISSING) of one trait, if it is the newest write.

    A null value unsets: profile.changed already says "absent" with null, so a
    stored null would be indistinguishable downstream from no value at all.
    """
    if not _wins(profile, key, at, by):
        return
    if value is None:
        value = _MISSING
    before = (profile.get("traits") or {}).get(key, _MISSING)
    if value is _MISSING:
        update.drop(f"traits.{key}", before)
    else:
        update.put(f"traits.{key}", None if before is _MISSING else before, value)
    # Stamp even an unchanged value or an unset: an older late write must still lose.
    update.keep(f"trait_stamps.{key}", {"at": at, "by": by})


def apply_api_traits(
    profile: dict,
    at: dt.datetime,
    set_: dict[str, Any] | None = None,
    set_once: dict[str, Any] | None = None,
    unset: list[str] | None = None,
) -> Update:
    """UpsertTraits at the clock's time `at`, recorded in `api_traits` for recomputes.

    set_once applies only while the trait is absent; when it applies it is
    recorded as a plain set, so that a recompute replays what happened rather
    than deciding again against a different history.
    """
    update = Update()
    traits = profile.get("traits") or {}
    recorded = profile.get("api_traits") or {}
    writes: dict[str, Any] = dict(set_ or {})
    for key, value in (set_once or {}).items():
        if key not in traits and key not in writes:
            writes[key] = value
    for key in unset or []:
        writes[key] = _MISSING
    for key, value in writes.items():
        _write_trait(profile, key, value, at, API, update)
        # One record per trait: the newest API write dominates the older ones.
        if key not in recorded or at >= recorded[key]["at"]:
            update.keep(
                f"api_traits.{key}",
                {"at": at, "unset": True} if value is _MISSING or value is None else {"at": at, "value": value},
            )
    return update


def acquisition_channel(event: dict) -> str:
    """Where the person came from: the utm source of the event (Segment puts it in context.campaign)."""
    campaign = (event.get("context") or {}).get("campaign") or {}
    for value in (campaign.get("source"), (event.get("properties") or {}).get("utm_source")):
        if isinstance(value, str) and value.strip():
            return value.strip()[:128]
    return "direct"


def order_categories(properties: dict[str, Any]) -> set[str]:
    """Categories of an order: products[].category and a top-level category (Segment e-commerce spec)."""
    out = set()
    products = properties.get("products")
    for product in products if isinstance(products, list) else []:
        if isinstance(product, dict) and isinstance(product.get("category"), str):
            out.add(product["category"].strip()[:128])
    if isinstance(properties.get("category"), str):
        out.add(properties["category"].strip()[:128])
    out.discard("")
    return out


MAX_CATEGORIES = 200


def apply_event(profile: dict, event: dict, traits: dict[str, Any] | None = None) -> Update:
    """Apply one resolved event: identify traits, activity, orders and refunds.

    `traits` are the identify traits after the schema check (default: the event's own).
    """
    update = Update()
    computed = profile.get("computed") or {}
    at: dt.datetime = event["timestamp"]

    if event["type"] == "identify":
        for key, value in (event.get("traits") or {} if traits is None else traits).items():
            _write_trait(profile, key, value, at, EVENT, update)

    update.put("computed.event_count", computed.get("event_count", 0), computed.get("event_count", 0) + 1)
    last_active = computed.get("last_active_at")
    if last_active is None or at > last_active:
        update.put("computed.last_active_at", last_active, at)
    first_seen = computed.get("first_seen_at")
    if first_seen is None or at < first_seen:
        # First touch: the channel of the earliest event (a tie keeps the one applied first).
        update.put("computed.first_seen_at", first_seen, at)
        update.put("computed.acquisition_channel", computed.get("acquisition_channel"), acquisition_channel(event))

    properties = event.get("properties") or {}
    if event["type"] == "track" and event.get("event") == ORDER_COMPLETED:
        count = computed.get("order_count", 0) + 1
        revenue = round(computed.get("revenue", 0.0) + order_revenue(properties), 2)
        update.put("computed.order_count", computed.get("order_count", 0), count)
        update.put("computed.revenue", computed.get("revenue", 0.0), revenue)
        update.put("computed.average_order_value", computed.get("average_order_value"), round(revenue / count, 2))
        first, last = computed.get("first_order_at"), computed.get("last_order_at")
        if first is None or at < first:
            update.put("computed.first_order_at", first, at)
        if last is None or at > last:
            update.put("computed.last_order_at", last, at)
        categories = computed.get("categories") or []
        merged = sorted(set(categories) | order_categories(properties))[:MAX_CATEGORIES]
        update.put("computed.categories", categories or None, merged or None)
        if properties.get("coupon"):
            coupons = computed.get("coupon_order_count", 0)
            update.put("computed.coupon_order_count", coupons or None, coupons + 1)
        _put_ltv(computed, revenue, computed.get("refunded_amount", 0.0), update)
    elif event["type"] == "track" and event.get("event") == ORDER_REFUNDED:
        refunds = computed.get("refund_count", 0) + 1
        refunded = round(computed.get("refunded_amount", 0.0) + order_revenue(properties), 2)
        update.put("computed.refund_count", computed.get("refund_count"), refunds)
        update.put("computed.refunded_amount", computed.get("refunded_amount"), refunded)
        _put_ltv(computed, computed.get("revenue", 0.0), refunded, update)
    return update


def _put_ltv(computed: dict, revenue: float, refunded: float, update: Update) -> None:
    update.put("computed.ltv", computed.get("ltv"), round(revenue - refunded, 2))


# -- recompute (merge, unmerge) ---------------------------------------------------
# The sections a recompute rebuilds; the announced ones are what profile.changed carries.
SECTIONS = ("traits", "trait_stamps", "computed")
ANNOUNCED = ("traits", "computed")


def event_order(event: dict) -> tuple:
    """Time, then arrival (`seq`, given by the store per person), then id: a total order.

    Within one person `seq` is the arrival order, so a recompute breaks timestamp
    ties the way applying the events one by one did.
    """
    return (event["timestamp"], event.get("seq", 0), event.get("message_id", ""))


def apply_update(profile: dict, update: Update) -> dict:
    """Apply an Update to an in-memory profile the way MongoDB applies it to the document."""
    for path, value in update.set.items():
        section, _, key = path.partition(".")
        if key:
            profile.setdefault(section, {})[key] = value
        else:
            profile[section] = value
    for path in update.unset:
        section, _, key = path.partition(".")
        if key:
            (profile.get(section) or {}).pop(key, None)
        else:
            profile.pop(section, None)
    return profile


def combine_api_traits(recorded: list[dict]) -> dict[str, dict]:
    """Several persons' recorded API writes as one: per trait the newest, earlier lists first on ties."""
    out: dict[str, dict] = {}
    for writes in recorded:
        for key, write in (writes or {}).items():
            if key not in out or write["at"] > out[key]["at"]:
                out[key] = write
    return out


_SUMS = ("event_count", "order_count", "refund_count", "coupon_order_count")
_MONEY = ("revenue", "refunded_amount")


def combine(parts: list[dict | None]) -> dict:
    """Several event-derived states as one: the merge rules, as a function.

    Newest trait wins (by stamp; the earlier part on a tie), counters and money
    add, first/last times take min/max, categories unite, the acquisition
    channel is the one of the earliest first event. Used to start a recompute
    from the archives that retention folded pruned events into.
    """
    out: dict = {}
    stamps: dict[str, dict] = {}
    traits: dict[str, Any] = {}
    computed: dict[str, Any] = {}
    for part in [p for p in parts if p]:
        for key, stamp in (part.get("trait_stamps") or {}).items():
            if key not in stamps or (stamp["at"], _RANK[stamp["by"]]) > (stamps[key]["at"], _RANK[stamps[key]["by"]]):
                stamps[key] = stamp
                if key in (part.get("traits") or {}):
                    traits[key] = part["traits"][key]
                else:
                    traits.pop(key, None)
        c = part.get("computed") or {}
        for name in _SUMS:
            if name in c:
                computed[name] = computed.get(name, 0) + c[name]
        for name in _MONEY:
            if name in c:
                computed[name] = round(computed.get(name, 0.0) + c[name], 2)
        for name, pick in (("first_order_at", min), ("last_order_at", max), ("last_active_at", max)):
            if c.get(name) is not None:
                computed[name] = pick(computed[name], c[name]) if name in computed else c[name]
        if c.get("first_seen_at") is not None and (
            "first_seen_at" not in computed or c["first_seen_at"] < computed["first_seen_at"]
        ):
            computed["first_seen_at"] = c["first_seen_at"]
            computed["acquisition_channel"] = c.get("acquisition_channel", "direct")
        if c.get("categories"):
            computed["categories"] = sorted(set(computed.get("categories") or []) | set(c["categories"]))
    if computed.get("order_count"):
        computed["average_order_value"] = round(computed.get("revenue", 0.0) / computed["order_count"], 2)
    if computed.get("order_count") or computed.get("refund_count"):
        computed["ltv"] = round(computed.get("revenue", 0.0) - computed.get("refunded_amount", 0.0), 2)
    for name, value in (("traits", traits), ("trait_stamps", stamps), ("computed", computed)):
        if value:
            out[name] = value
    return out


def recompute(
    events: list[dict], api_traits: dict[str, dict] | None = None, archives: list[dict | None] | None = None
) -> dict:
    """The profile that these events and recorded API writes make, from nothing (or from archives).

    Returns {traits, trait_stamps, computed} (sections only when non-empty).
    `archives` are the states retention folded pruned events into (older than
    every stored event): the fold starts from their combination.
    """
    profile: dict = copy.deepcopy(combine(archives or []))
    for event in sorted(events, key=event_order):
        apply_update(profile, apply_event(profile, event))
    for key, write in sorted((api_traits or {}).items()):
        value = _MISSING if write.get("unset") else write.get("value")
        update = Update()
        _write_trait(profile, key, value, write["at"], API, update)
        apply_update(profile, update)
    return {k: v for k, v in profile.items() if k in SECTIONS and v}


def diff(before: dict | None, after: dict | None) -> Update:
    """What turns profile `before` into `after`, announced field by field.

    The announced sections are traits, computed and tags (in their announced
    form); stamps are bookkeeping and are written whole by the caller.
    """
    from services.profile.tags import announced

    update = Update()
    for section in ANNOUNCED:
        old = (before or {}).get(section) or {}
        new = (after or {}).get(section) or {}
        for key in sorted(old.keys() | new.keys()):
            if key in new:
                update.put(f"{section}.{key}", old.get(key), new[key])
            else:
                update.drop(f"{section}.{key}", old.get(key, _MISSING))
    old_tags, new_tags = (before or {}).get("tags") or {}, (after or {}).get("tags") or {}
    for name in sorted(old_tags.keys() | new_tags.keys()):
        if old_tags.get(name) != new_tags.get(name):
            update.changes.append((f"tags.{name}", announced(old_tags.get(name)), announced(new_tags.get(name))))
    return update
