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
