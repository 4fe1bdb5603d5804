"""Publishing a new version: what happens to the people in flight on older ones.

Two modes:
- "finish": everyone in flight stays on the version they entered with and finishes there.
- "move": runs waiting at a node of the node map ({old node id: new node id}) move to the new
  version at the mapped node; runs at a node the map does not name stay and finish on their
  version (counted under "stay" in the dry run). So a partial map is allowed and explicit.

A map's targets must exist in the new version and be nodes a run can rest at: a wait, a
wait_event or an exit (a moved run is written as it is, without running instant steps, so a
send target would never send). Given the old definition, the map's keys must be its wait nodes.

A moved run keeps its id, key, entry properties, variants and holdout; its version, node and
seq + 1 change, and its wait is recomputed for the new node: a duration wait or an event
timeout ends at the earlier of the old timer and now + the new duration (moving never makes
anyone wait longer than the new node says, nor longer than they already would have); a
time-of-day wait takes the next such local time; an exit node ends the run as done.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.journey import definition as d
from services.journey.engine import wait_due
from services.journey.model import RunState, Wait
from services.kit.errors import InvalidInput

MODES = ("finish", "move")
STAY = "stay"
TARGET_TYPES = ("wait", "wait_event", "exit")


@dataclass(frozen=True)
class Plan:
    mode: str
    node_map: dict[str, str] = field(default_factory=dict)

    @property
    def moves_people(self) -> bool:
        return self.mode == "move" and bool(self.node_map)


def _fail(path: str, problem: str) -> InvalidInput:
    return InvalidInput(f"{path}: {problem}", path)


def plan(mode: str, node_map: Mapping[str, str] | None, new: d.Definition, old: d.Definition | None = None) -> Plan:
    """Validate a publish's migration; InvalidInput names `mode` or `node_map.<old node>`."""
    if mode not in MODES:
        raise _fail("mode", "expected finish or move")
    node_map = dict(node_map or {})
    if mode == "finish":
        if node_map:
            raise _fail("node_map", "people finish on their version in this mode; give no node map (or move)")
        return Plan(mode)
    if not node_map:
        raise _fail("node_map", "moving needs a node map {old node: new node}")
    if len(node_map) > d.MAX_NODES:
        raise _fail("node_map", f"at most {d.MAX_NODES} entries")
    for source, target in node_map.items():
        path = f"node_map.{source}"
        if not isinstance(source, str) or not d.NODE_ID.match(source):
            raise _fail("node_map", f"{source!r} is not a node id")
        if old is not None:
            if source not in old.nodes:
                raise _fail(path, f"the old version has no node {source!r}")
            if old.nodes[source].type not in d.WAITING_TYPES:
                raise _fail(path, f"nobody rests at {source!r} (a {old.nodes[source].type} step); map wait nodes")
        if not isinstance(target, str) or target not in new.nodes:
            raise _fail(path, f"the new version has no node {target!r}")
        if new.nodes[target].type not in TARGET_TYPES:
            raise _fail(path, f"{target!r} is a {new.nodes[target].type} step; map to a wait, wait_event or exit")
    return Plan(mode, node_map)


def dry_run(p: Plan, waiting_by_old_node: Mapping[str, int], not_waiting: int = 0) -> dict[str, int]:
    """Where the runs in flight would go: {new node: count, "stay": runs that finish on their version}.

    `waiting_by_old_node` counts the runs waiting at each node; `not_waiting` the runs in flight that
    are not waiting (in the middle of a step), which `move` leaves on their version like an unmapped node.
    """
    out: dict[str, int] = {STAY: not_waiting}
    for node, n in waiting_by_old_node.items():
        target = p.node_map.get(node) if p.mode == "move" else None
        key = target if target is not None else STAY
        out[key] = out.get(key, 0) + n
    return out


def move(
    state: RunState, new: d.Definition, p: Plan, now: dt.datetime, *, version: int, timezone: str = "UTC"
) -> RunState | None:
    """The run as it continues on `version` of the journey, or None when it stays on its own.

    `timezone` is the zone a time-of-day wait is computed in (the person's, else the workspace's).
    """
    if not p.moves_people or state.status != "waiting" or state.version >= version:
        return None
    target = p.node_map.get(state.node)
    if target is None or target not in new.nodes:
        return None
    node = new.nodes[target]
    moved = dataclasses.replace(state, version=version, seq=state.seq + 1, node=target, variants=dict(state.variants))
    old_due = state.wait.due_at if state.wait is not None else None

    def capped(due: dt.datetime) -> dt.datetime:
        return min(old_due, due) if old_due is not None else due

    if isinstance(node, d.WaitNode):
        due = capped(node.duration + now) if node.duration is not None else wait_due(node, now, timezone)
        return dataclasses.replace(moved, status="waiting", wait=Wait(node=target, due_at=due))
    if isinstance(node, d.WaitEventNode):
        match = {prop: state.entry.get(prop) for prop in node.match}
        wait = Wait(node=target, due_at=capped(now + node.timeout), event=node.event, match=match)
        return dataclasses.replace(moved, status="waiting", wait=wait)
    return dataclasses.replace(
        moved, status="done", wait=None, ended_at=now, end_reason=f"moved to exit node {target} of version {version}"
    )
