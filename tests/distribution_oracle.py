"""Distribution in plain Python, from the documented semantics (README "Analytics", models/distribution.py
and the filter rules of sql.json_text/json_number): for each person (merges applied), the times they did
the event in the range with every filter true, persons with at least one counted by that number, those
with max_times or more in the last bucket.

Filters read a property as text (a string's value, a number's digits, '' when absent) for =, != and
contains, and as a number (a numeric string counts too) for > >= < <=, where an absent or non-numeric
property makes the filter false.
"""

from __future__ import annotations

from tests.oracle_log import Event


def as_text(props: dict, key: str) -> str:
    if key not in props:
        return ""
    value = props[key]
    return value if isinstance(value, str) else str(value)


def as_number(props: dict, key: str) -> float | None:
    if key not in props:
        return None
    try:
        return float(props[key])
    except ValueError:
        return None


def holds(props: dict, f: dict) -> bool:
    key, op, value = f["property"], f["op"], f["value"]
    if op == "=":
        return as_text(props, key) == value
    if op == "!=":
        return as_text(props, key) != value
    if op == "contains":
        return value in as_text(props, key)
    number = as_number(props, key)
    if number is None:
        return False
    bound = float(value)
    return {">": number > bound, ">=": number >= bound, "<": number < bound, "<=": number <= bound}[op]


def distribution(events: list[Event], event: str, filters: list[dict], max_times: int) -> dict:
    """`events`: the range's events, merges applied."""
    times: dict[str, int] = {}
    for e in events:
        if e.event == event and all(holds(e.properties, f) for f in filters):
            times[e.person] = times.get(e.person, 0) + 1
    counts = dict.fromkeys(range(1, max_times + 1), 0)
    for n in times.values():
        counts[min(n, max_times)] += 1
    return {
        "persons": len(times),
        "buckets": [{"times": k, "or_more": k == max_times, "persons": counts[k]} for k in counts],
    }


OTHER = "$other"


def top(persons_by_value: dict[str, set[str]], limit: int) -> dict[str, str]:
    """value -> its group: the top `limit` values by persons (ties by value) keep their name, the rest "$other"."""
    ranked = sorted(persons_by_value, key=lambda v: (-len(persons_by_value[v]), v))
    return {v: v if i < limit else OTHER for i, v in enumerate(ranked)}


def ordered(items: list[dict]) -> list[dict]:
    return sorted(items, key=lambda r: (r["breakdown_value"] == OTHER, -r["persons"], r["breakdown_value"]))


def distribution_by(events: list[Event], event: str, filters: list[dict], max_times: int, key: str, limit: int):
    """By an event property: a person's value is that of their first counted event (the smallest of the
    values of its instant when several share it); the values' distributions, top `limit` by persons plus
    "$other"."""
    counted = [e for e in events if e.event == event and all(holds(e.properties, f) for f in filters)]
    first: dict[str, tuple] = {}
    for e in counted:
        mark = (e.at, as_text(e.properties, key))
        first[e.person] = min(first.get(e.person, mark), mark)
    persons_by_value: dict[str, set[str]] = {}
    for person, (_, value) in first.items():
        persons_by_value.setdefault(value, set()).add(person)
    group = top(persons_by_value, limit)
    by_group: dict[str, list[Event]] = {}
    for e in counted:
        by_group.setdefault(group[first[e.person][1]], []).append(e)
    return ordered(
        [{"breakdown_value": g, **distribution(found, event, filters, max_times)} for g, found in by_group.items()]
    )
