"""What follows from a profile's counters, its tag assignments and the time (pure, no I/O).

`settle` runs after every change to a profile (event, API write, merge,
unmerge, tag assignment) and in the scheduled sweep; it brings the derived
parts up to date at `now`:
- the time-dependent computed traits (RFM scores and group, lifecycle stage);
- the effective tags: the person's API assignments (own_tags, plus the ones
  persons merged into it brought along, merged_tags; higher confidence wins)
  that have not expired, and the computed tags whose rules hold;
- `next_sweep_at`, the earliest moment at which time alone changes any of that
  (a tag expiry, a lifecycle or RFM boundary), which is what the sweep queries.
Expired API assignments are removed from own_tags too, so they do not return.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from services.kit.errors import InvalidInput
from services.profile.changes import _MISSING, Update
from services.profile.standing import Thresholds, next_change, standing
from services.profile.tags import TagDefinition, announced, live, parse_rule, rule_value, stronger

log = logging.getLogger(__name__)


@dataclass
class Rules:
    """A workspace's settings as settle needs them, parsed once."""

    thresholds: Thresholds = field(default_factory=Thresholds)
    # name -> (definition, parsed rule) for definitions that have a rule.
    computed_tags: dict[str, tuple[TagDefinition, list]] = field(default_factory=dict)

    @classmethod
    def of(cls, thresholds: Thresholds, definitions: list[TagDefinition]) -> "Rules":
        compiled = {}
        for d in definitions:
            if not d.rule:
                continue
            try:
                compiled[d.name] = (d, parse_rule(d.rule, d.value_kind))
            except InvalidInput as exc:
                # A stored rule the language no longer accepts (the migration logs it) must not
                # stop every profile of the workspace from settling: that tag stays unevaluated.
                log.warning("tag rule does not parse", extra={"tag": d.name, "problem": exc.message})
        return cls(thresholds, compiled)


def own_assignments(profile: dict) -> dict[str, dict]:
    """API assignments of the person and of those merged into it, the stronger one per tag."""
    out = dict(profile.get("own_tags") or {})
    for name, value in (profile.get("merged_tags") or {}).items():
        out[name] = stronger(out.get(name), value)
    return out


def settle(profile: dict, now: dt.datetime, rules: Rules, update: Update | None = None) -> Update:
    """Bring the derived parts of an in-memory profile (already updated) up to date at `now`."""
    update = update or Update()
    computed = profile.get("computed") or {}
    # A profile without events (a winner created by a merge of nothing) has no standing yet.
    values = standing(computed, now, rules.thresholds) if computed else {}
    for name, value in values.items():
        before = computed.get(name, _MISSING)
        if value is None:
            update.drop(f"computed.{name}", before)
        else:
            update.put(f"computed.{name}", None if before is _MISSING else before, value)
    view = {**profile, "computed": {**computed, **{k: v for k, v in values.items() if v is not None}}}
    for name in [k for k, v in values.items() if v is None]:
        view["computed"].pop(name, None)

    effective: dict[str, dict] = {}
    expiries: list[dt.datetime] = []
    for name, assigned in own_assignments(profile).items():
        if name in rules.computed_tags:
            continue  # a rule took the tag over after it was assigned: the rule decides
        if live(assigned, now):
            effective[name] = assigned
            if assigned.get("expires_at"):
                expiries.append(assigned["expires_at"])
        else:
            for section in ("own_tags", "merged_tags"):
                if name in (profile.get(section) or {}):
                    update.unset.append(f"{section}.{name}")
    current = profile.get("tags") or {}
    for name, (definition, terms) in rules.computed_tags.items():
        value = rule_value(terms, definition.value_kind, view)
        if value is None:
            continue
        previous = current.get(name)
        keep_since = previous and previous.get("source") == "computed" and previous.get("value") == value
        effective[name] = {
            "value": value,
            "confidence": 1.0,
            "source": "computed",
            "assigned_at": previous["assigned_at"] if keep_since else now,
            "expires_at": None,
        }
    for name in sorted(current.keys() | effective.keys()):
        before, after = current.get(name), effective.get(name)
        if before == after:
            continue
        if after is None:
            update.unset.append(f"tags.{name}")
        else:
            update.set[f"tags.{name}"] = after
        update.changes.append((f"tags.{name}", announced(before), announced(after)))

    moments = [m for m in [next_change(computed, now, rules.thresholds), *expiries] if m is not None and m > now]
    next_at = min(moments) if moments else None
    if next_at != profile.get("next_sweep_at"):
        if next_at is None:
            update.unset.append("next_sweep_at")
        else:
            update.set["next_sweep_at"] = next_at
    return update
