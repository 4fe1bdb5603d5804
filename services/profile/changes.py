"""How events and trait writes change a profile: pure functions, no I/O.

A profile document is {traits: {...}, trait_stamps: {...}, computed: {...},
order_history: [...], api_traits: {...}}. Each function returns the `$set`/`$unset` paths to write
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

from services.kit.catalog import COMPUTED, of_update
from services.profile import reorder
from services.profile.folds import DERIVED, EVENT_FOLDS, KEEP, Seen, order_categories
from services.profile.tags import announced

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


def apply_event(profile: dict, event: dict, traits: dict[str, Any] | None = None) -> Update:
    """Apply one resolved event: identify traits, activity, orders and refunds.

    `traits` are the identify traits after the schema check (default: the event's own).
    """
    update = Update()
    if event["type"] == "identify":
        at: dt.datetime = event["timestamp"]
        for key, value in (event.get("traits") or {} if traits is None else traits).items():
            _write_trait(profile, key, value, at, EVENT, update)
    seen = Seen(event)
    history = profile.get(ORDER_HISTORY) or []
    if seen.is_order and (categories := order_categories(seen.properties)):
        recorded = reorder.record(history, categories, seen.at)
        if recorded != history:
            update.keep(ORDER_HISTORY, recorded)
            history = recorded
    before = profile.get("computed") or {}
    after = fold_event(before, seen, history)
    for name in COMPUTED:
        if name in after:
            update.put(f"computed.{name}", before.get(name), after[name])
        else:
            update.drop(f"computed.{name}", before.get(name, _MISSING))
    return update


def fold_event(before: dict, seen: Seen, history: reorder.History | None = None) -> dict:
    """The computed section after one event: the catalog's event folds, then its derived traits.

    `history` is the profile's order history after the event (reorder.py).
    """
    after = dict(before)
    for trait in of_update("event"):
        value = EVENT_FOLDS[trait.name](before, seen)
        if value is not KEEP:
            after[trait.name] = value
    _derive(after, history or [])
    return after


def _derive(computed: dict, history: reorder.History) -> None:
    for trait in of_update("derived"):
        value = DERIVED[trait.name](computed, history)
        if value is None:
            computed.pop(trait.name, None)
        else:
            computed[trait.name] = value


# -- recompute (merge, unmerge) ---------------------------------------------------
# The sections a recompute rebuilds; the announced ones are what profile.changed carries.
# `order_history` is bookkeeping the derived reorder traits are read from (reorder.py), never announced.
ORDER_HISTORY = "order_history"
SECTIONS = ("traits", "trait_stamps", "computed", ORDER_HISTORY)
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


def combine(parts: list[dict | None]) -> dict:
    """Several event-derived states as one: the merge rules, as a function.

    Newest trait wins (by stamp; the earlier part on a tie); each computed trait
    combines the way the catalog's `merge` says (sums add, first/last times take
    min/max, lists unite, `with:<trait>` follows the part whose <trait> wins, the
    earlier part on a tie), order histories unite, then derived traits are recomputed. Used to start a
    recompute from the archives that retention folded pruned events into.
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
        _combine_computed(computed, part.get("computed") or {})
    history = reorder.union(p.get(ORDER_HISTORY) for p in parts if p)
    _derive(computed, history)
    sections = (("traits", traits), ("trait_stamps", stamps), ("computed", computed), (ORDER_HISTORY, history))
    for name, value in sections:
        if value:
            out[name] = value
    return out


_PICK = {"min": min, "max": max}


def _replaces(merge: str, current: Any, offered: Any) -> bool:
    """Does a part's value replace the current one under a min/max merge (ties keep the current)."""
    if offered is None:
        return False
    if current is None:
        return True
    return offered < current if merge == "min" else offered > current


def _combine_computed(into: dict, part: dict) -> None:
    # Decide the `with:` followers against the leaders' values before the leaders move.
    followed = {
        t.name: _replaces(COMPUTED[t.merge[5:]].merge, into.get(t.merge[5:]), part.get(t.merge[5:]))
        for t in COMPUTED.values()
        if t.merge.startswith("with:")
    }
    for trait in COMPUTED.values():
        name, merge, value = trait.name, trait.merge, part.get(trait.name)
        if merge in ("derived", "standing"):
            continue
        if merge.startswith("with:"):
            if followed[name] and value is not None:
                into[name] = value
        elif value is None:
            continue
        elif merge == "sum":
            into[name] = into.get(name, 0) + value
        elif merge == "sum_money":
            into[name] = round(into.get(name, 0.0) + value, 2)
        elif merge in _PICK:
            into[name] = _PICK[merge](into[name], value) if name in into else value
        elif merge == "union" and value:
            into[name] = sorted(set(into.get(name) or []) | set(value))


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
