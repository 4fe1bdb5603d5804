"""Paths in plain Python, from the documented semantics (README "Analytics", models/paths.py): each
person's events of the range in time order (events at the same instant by their nodes' names),
excluded events dropped, a page shown as "$page <name>", repeats collapsed; from the person's first
start event (persons without one have no path) and the first `depth` nodes, or, with an end event,
up to the first end after the start (past the start itself, so a start that is also the end looks
for the next visit) and the `depth` nodes that lead to it (persons who never reach it have no path).
Paths are ranked by persons (then by their steps); the first `limit` are shown, the rest add up to
the hidden ones, and shares are of all persons with a path.
"""

from __future__ import annotations

from collections import Counter

from tests.oracle_log import Event


def node(e: Event) -> str:
    return f"{e.event} {e.name}" if e.name else e.event


def person_path(
    events: list[Event], start: str, end: str, depth: int, exclude: tuple[str, ...]
) -> tuple[str, ...] | None:
    nodes = [node(e) for e in sorted(events, key=lambda e: (e.at, node(e))) if e.event not in exclude]
    collapsed = [n for i, n in enumerate(nodes) if i == 0 or n != nodes[i - 1]]
    if start:
        if start not in collapsed:
            return None
        collapsed = collapsed[collapsed.index(start) :]
    if end:
        after = 1 if start else 0
        ends = [i for i in range(after, len(collapsed)) if collapsed[i] == end]
        if not ends:
            return None
        path = collapsed[: ends[0] + 1][-depth:]
    else:
        path = collapsed[:depth]
    return tuple(path) or None


def paths(events: list[Event], start: str, end: str, depth: int, limit: int, exclude: tuple[str, ...]) -> dict:
    """`events`: the range's events, merges applied."""
    by_person: dict[str, list[Event]] = {}
    for e in events:
        by_person.setdefault(e.person, []).append(e)
    counts = Counter()
    for person_events in by_person.values():
        path = person_path(person_events, start, end, depth, exclude)
        if path is not None:
            counts[path] += 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    total = sum(counts.values())
    shown, rest = ranked[:limit], ranked[limit:]
    hidden = sum(n for _, n in rest)
    return {
        "total_persons": total,
        "paths": [{"steps": list(p), "persons": n, "share": n / total} for p, n in shown],
        "hidden_paths": len(rest),
        "hidden_persons": hidden,
        "hidden_share": hidden / total if total else 0.0,
    }


def paths_by(
    events: list[Event], key: str, groups: int, start: str, end: str, depth: int, limit: int, exclude: tuple[str, ...]
) -> list[dict]:
    """Paths per value of an event property: a person's value is the property as their first event of
    the range that is not excluded carries it (the smallest value at one instant; '' when absent);
    groups ranked by persons with a path (then by value), the first `groups` shown, the rest as "$other"."""
    by_person: dict[str, list[Event]] = {}
    for e in events:
        by_person.setdefault(e.person, []).append(e)
    value_of, counted = {}, Counter()
    for person, person_events in by_person.items():
        if person_path(person_events, start, end, depth, exclude) is None:
            continue
        kept = [e for e in person_events if e.event not in exclude]
        first = min(e.at for e in kept)
        value_of[person] = min(str(e.properties.get(key, "")) for e in kept if e.at == first)
        counted[value_of[person]] += 1
    ranked = [v for v, _ in sorted(counted.items(), key=lambda kv: (-kv[1], kv[0]))]
    group = {v: (v if i < groups else "$other") for i, v in enumerate(ranked)}
    out = []
    for g in dict.fromkeys(group.values()):
        members = {p for p, v in value_of.items() if group[v] == g}
        found = paths([e for e in events if e.person in members], start, end, depth, limit, exclude)
        out.append({"breakdown_value": g, **found})
    return sorted(out, key=lambda b: (b["breakdown_value"] == "$other", -b["total_persons"], b["breakdown_value"]))
