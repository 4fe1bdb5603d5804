"""The journey engine: one pure step of one run.

`advance(definition, state, trigger, facts, now)` moves a run through instant
steps (send, branch, split, experiment, update_profile, webhook) until it
waits (wait, wait_event), reaches an exit node, or a step without a `next`
(done). It returns the next state (seq + 1), the nodes entered and the
effects; the caller writes the state by compare-and-set on the old seq and
queues the effects in the same transaction. A trigger that does not apply
(an event the wait does not match, a timer of a run not waiting on one, an
ended run) returns the state unchanged with `changed=False`.

Replays decide the same: a random split hashes (journey, node, run id); an
experiment takes the person's recorded variant, else a salted hash of the
person into 10,000 buckets (recorded by an Assign effect); idempotency keys
are (journey, version, run, node, seq). Holdout runs take the same path but
produce no Send or CallWebhook (nothing reaches the person); their profile
updates and experiment paths still happen, and no Assign is recorded for
them (they were not exposed).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from services.journey import definition as d
from services.journey.localtime import next_time_of_day, zone
from services.journey.model import (
    ENDED,
    Assign,
    CallWebhook,
    Effect,
    Entered,
    EventArrived,
    Facts,
    RunState,
    Send,
    Step,
    TimerDue,
    Trigger,
    UpdateProfile,
    Wait,
)
from services.kit import experiment_stats, rules

# -- assignment by hash: the shared statistics module's, so analysis and assignment agree ----------


def assign(salt: str, unit_id: str, arms: Sequence[tuple[str, float]]) -> str:
    """The arm whose contiguous bucket range (proportional to the weights, in order) holds the unit."""
    chosen = experiment_stats.assign(salt, unit_id, arms)
    return chosen if chosen is not None else arms[-1][0]


def idempotency_key(state: RunState, node: str, seq: int) -> str:
    return f"j:{state.journey_id}:{state.version}:{state.run_id}:{node}:{seq}"


def best_channels(candidates: Sequence[str], scores: dict[str, float]) -> list[str]:
    """Candidates by the person's history, best first; ties and unknown channels (score 0) keep the listed order.

    A channel that failed for this person (negative score) falls behind one never tried.
    """
    order = {c: i for i, c in enumerate(candidates)}
    return sorted(candidates, key=lambda c: (-scores.get(c, 0.0), order[c]))


# -- one advance ----------------------------------------------------------------------------------


@dataclass
class _Walk:
    definition: d.Definition
    state: RunState
    facts: Facts
    now: dt.datetime
    seq: int
    variants: dict[str, str]
    visited: list[str] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)

    def key(self, node: str) -> str:
        return idempotency_key(self.state, node, self.seq)


# A handler returns the next node id (None: the path ends here), or a finished RunState.
Outcome = str | None | RunState


def _send(w: _Walk, n: d.SendNode) -> Outcome:
    if not w.state.holdout:
        channels = best_channels(n.channels, w.facts.channel_scores) if n.channel == "best" else [n.channel]
        category = n.category or w.definition.category
        w.effects.append(
            Send(
                n.id, channels[0], n.template, w.key(n.id), tuple(channels[1:]), category,
                templates=dict(n.templates),
            )
        )  # fmt: skip
    return n.next


def _branch(w: _Walk, n: d.BranchNode) -> Outcome:
    person = rules.Person(w.facts.profile, did=w.facts.did, in_segment=w.facts.in_segment)
    return n.yes if rules.holds(n.rule, person) else n.no


def _split(w: _Walk, n: d.SplitNode) -> Outcome:
    paths = [(str(i), p.weight) for i, p in enumerate(n.paths)]
    return n.paths[int(assign(f"split:{w.state.journey_id}:{n.id}", w.state.run_id, paths))].next


def _experiment(w: _Walk, n: d.ExperimentNode) -> Outcome:
    arms = {a.name: a for a in n.arms()}
    chosen = w.variants.get(n.id)
    if chosen not in arms:
        key = n.experiment_key(w.state.journey_id)
        recorded = w.facts.assignments.get(key)
        if recorded in arms:
            chosen = recorded
        else:
            chosen = assign(key, w.state.person_id, [(a.name, a.weight) for a in n.arms()])
            if not w.state.holdout:
                w.effects.append(Assign(key, chosen))
        w.variants[n.id] = chosen
    return arms[chosen].next


def _update_profile(w: _Walk, n: d.UpdateProfileNode) -> Outcome:
    w.effects.append(UpdateProfile(n.id, dict(n.traits), n.tags, w.key(n.id)))
    return n.next


def _webhook(w: _Walk, n: d.WebhookNode) -> Outcome:
    if not w.state.holdout:
        w.effects.append(CallWebhook(n.id, n.channel, dict(n.body), w.key(n.id)))
    return n.next


def _waiting(w: _Walk, wait: Wait) -> RunState:
    return dataclasses.replace(w.state, seq=w.seq, status="waiting", node=wait.node, wait=wait, variants=w.variants)


def _wait(w: _Walk, n: d.WaitNode) -> Outcome:
    return _waiting(w, Wait(node=n.id, due_at=wait_due(n, w.now, w.facts.timezone)))


def _wait_event(w: _Walk, n: d.WaitEventNode) -> Outcome:
    match = {p: w.state.entry.get(p) for p in n.match}
    return _waiting(w, Wait(node=n.id, due_at=w.now + n.timeout, event=n.event, match=match))


def _exit(w: _Walk, n: d.ExitNode) -> Outcome:
    return _finished(w, n.id, f"exit node {n.id}")


HANDLERS: dict[type, Callable[[_Walk, object], Outcome]] = {
    d.SendNode: _send,
    d.BranchNode: _branch,
    d.SplitNode: _split,
    d.ExperimentNode: _experiment,
    d.UpdateProfileNode: _update_profile,
    d.WebhookNode: _webhook,
    d.WaitNode: _wait,
    d.WaitEventNode: _wait_event,
    d.ExitNode: _exit,
}  # type: ignore[dict-item]


def wait_due(n: d.WaitNode, now: dt.datetime, timezone: str) -> dt.datetime:
    """When a wait entered at `now` ends: after its duration, or at the next local time of day (DST-safe)."""
    if n.duration is not None:
        return now + n.duration
    assert n.until is not None
    return next_time_of_day(now, n.until.time, zone(timezone), n.until.weekdays)


def _finished(w: _Walk, node: str, reason: str) -> RunState:
    return dataclasses.replace(
        w.state, seq=w.seq, status="done", node=node, wait=None, variants=w.variants, ended_at=w.now, end_reason=reason
    )


def _walk(w: _Walk, target: str | None, here: str) -> Step:
    """From `target` through instant steps; `here` is where the run is if the path ends at once."""
    for _ in range(len(w.definition.nodes) + 1):
        if target is None:
            return Step(_finished(w, here, f"end of path at {here}"), w.visited, w.effects)
        node = w.definition.nodes[target]
        w.visited.append(target)
        outcome = HANDLERS[type(node)](w, node)
        if isinstance(outcome, RunState):
            return Step(outcome, w.visited, w.effects)
        here, target = target, outcome
    # The parser refuses cycles without a wait, so this is a definition built around it.
    raise RuntimeError(f"journey path from {here!r} does not reach a wait or an end")


def unchanged(state: RunState) -> Step:
    return Step(state=state, changed=False)


def advance(definition: d.Definition, state: RunState, trigger: Trigger, facts: Facts, now: dt.datetime) -> Step:
    if state.status in ENDED:
        return unchanged(state)
    node = definition.nodes.get(state.node)
    if isinstance(trigger, Entered):
        if state.seq != 0 or state.status != "active" or node is None:
            return unchanged(state)
        target: str | None = state.node
    elif isinstance(trigger, TimerDue):
        if state.status != "waiting" or state.wait is None or state.wait.due_at is None:
            return unchanged(state)
        if isinstance(node, d.WaitNode):
            target = node.next
        elif isinstance(node, d.WaitEventNode):
            target = node.on_timeout
        else:
            return unchanged(state)
    elif isinstance(trigger, EventArrived):
        if (
            state.status != "waiting"
            or not isinstance(node, d.WaitEventNode)
            or not event_matches(node, state, trigger)
        ):
            return unchanged(state)
        target = node.on_event
    else:
        raise TypeError(f"not a trigger: {trigger!r}")
    w = _Walk(definition, state, facts, now, state.seq + 1, dict(state.variants))
    return _walk(w, target, state.node)


def event_matches(node: d.WaitEventNode, state: RunState, event: EventArrived) -> bool:
    """The awaited event: its name, its filter, and the same values as the run's entry on `match`."""
    if event.name != node.event or (node.where is not None and not node.where.matches(event.properties)):
        return False
    recorded = state.wait.match if state.wait is not None and state.wait.node == node.id else {}
    for prop in node.match:
        wanted = d.key_text(recorded.get(prop, state.entry.get(prop)))
        if wanted is None or d.key_text(event.properties.get(prop)) != wanted:
            return False
    return True


def _same_entry(match: tuple[str, ...], state: RunState, properties: dict) -> bool:
    for prop in match:
        wanted = d.key_text(state.entry.get(prop))
        if wanted is None or d.key_text(properties.get(prop)) != wanted:
            return False
    return True


# -- exits and goal -------------------------------------------------------------------------------


def exits_on(definition: d.Definition, state: RunState, event: EventArrived) -> bool:
    """Does this event end the live run now (an exit criterion, matching the entry on its `match` properties)?"""
    if state.status in ENDED:
        return False
    for crit in definition.exits:
        if not isinstance(crit, d.ExitOnEvent) or crit.event != event.name:
            continue
        if crit.where is not None and not crit.where.matches(event.properties):
            continue
        if _same_entry(crit.match, state, event.properties):
            return True
    return False


def segment_exit(definition: d.Definition, segment_id: str) -> bool:
    """Does leaving this segment end the journey's runs?"""
    return any(isinstance(c, d.ExitOnSegment) and c.segment == segment_id for c in definition.exits)


def converts(definition: d.Definition, state: RunState, event: EventArrived, now: dt.datetime) -> bool:
    """Is this event the journey's goal for the run, at `now` (the event's time), within the window from entry?

    Ended runs still convert within the window (a reminder that worked ends the run first).
    """
    goal = definition.goal
    if goal is None or event.name != goal.event:
        return False
    if goal.where is not None and not goal.where.matches(event.properties):
        return False
    if not _same_entry(goal.match, state, event.properties):
        return False
    return state.entered_at <= now <= state.entered_at + goal.within
