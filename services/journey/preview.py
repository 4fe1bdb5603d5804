"""Play one person's path through a journey on a simulated clock, by the production engine.

`preview(definition, facts, events, start, horizon)` enters the person (at the
first event that matches an event entry, else at `start`), then alternates
between the events given (time, name, properties) and the run's timers, in
time order, each through `engine.advance`, `engine.exits_on` and
`engine.converts` - the same code that moves real runs - until the run ends
or the horizon passes. Nothing is sent or written. Each PreviewStep says when,
at which node, what happened (`kind`) and the particulars (`detail`, JSON):

    entered, send {template, channel, fallback} | send_skipped {template, reason: holdout},
    wait {until} | wait_event {event, match, until}, timer {waited_until} | timeout {next},
    event {event, next}, branch {took: yes|no, next}, split {path, next}, experiment {variant, next},
    update_profile {traits, tags}, webhook {channel} | webhook_skipped, exit {reason} | done {reason},
    exited {reason} (an exit criterion), converted {event}, waiting {until} (still waiting at the horizon)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from services.journey import definition as d
from services.journey import engine, entry
from services.journey.model import ENDED, CallWebhook, Entered, EventArrived, Facts, RunState, Send, Step, TimerDue

MAX_STEPS = 1000


@dataclass(frozen=True)
class PreviewStep:
    at: dt.datetime
    node: str
    kind: str
    detail: dict[str, Any] = field(default_factory=dict)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _visits(definition: d.Definition, step: Step, at: dt.datetime) -> list[PreviewStep]:
    out: list[PreviewStep] = []
    state, visited = step.state, step.visited
    sends = {e.node: e for e in step.effects if isinstance(e, Send)}
    hooks = {e.node for e in step.effects if isinstance(e, CallWebhook)}
    for i, nid in enumerate(visited):
        node = definition.nodes[nid]
        nxt = visited[i + 1] if i + 1 < len(visited) else None
        if isinstance(node, d.SendNode):
            send = sends.get(nid)
            if send is None:
                out.append(PreviewStep(at, nid, "send_skipped", {"template": node.template, "reason": "holdout"}))
            else:
                detail = {
                    "template": send.templates.get(send.channel, send.template_id),
                    "channel": send.channel,
                    "fallback": list(send.fallback),
                }
                out.append(PreviewStep(at, nid, "send", detail))
        elif isinstance(node, d.BranchNode):
            out.append(PreviewStep(at, nid, "branch", {"took": "yes" if nxt == node.yes else "no", "next": nxt}))
        elif isinstance(node, d.SplitNode):
            path = next((j for j, p in enumerate(node.paths) if p.next == nxt), None)
            out.append(PreviewStep(at, nid, "split", {"path": path, "next": nxt}))
        elif isinstance(node, d.ExperimentNode):
            out.append(PreviewStep(at, nid, "experiment", {"variant": state.variants.get(nid), "next": nxt}))
        elif isinstance(node, d.UpdateProfileNode):
            tags = [{"name": k, "value": v} for k, v in node.tags]
            out.append(PreviewStep(at, nid, "update_profile", {"traits": dict(node.traits), "tags": tags}))
        elif isinstance(node, d.WebhookNode):
            kind = "webhook" if nid in hooks else "webhook_skipped"
            out.append(PreviewStep(at, nid, kind, {"channel": node.channel}))
        elif isinstance(node, (d.WaitNode, d.WaitEventNode)) and state.wait is not None and state.node == nid:
            if isinstance(node, d.WaitNode):
                out.append(PreviewStep(at, nid, "wait", {"until": _iso(state.wait.due_at)}))
            else:
                detail = {"event": node.event, "match": dict(state.wait.match), "until": _iso(state.wait.due_at)}
                out.append(PreviewStep(at, nid, "wait_event", detail))
        elif isinstance(node, d.ExitNode):
            out.append(PreviewStep(at, nid, "exit", {"reason": state.end_reason}))
    if state.status == "done" and not isinstance(definition.nodes.get(state.node), d.ExitNode):
        out.append(PreviewStep(at, state.node, "done", {"reason": state.end_reason}))
    return out


def preview(
    definition: d.Definition,
    facts: Facts,
    events: Sequence[tuple[dt.datetime, str, dict]],
    start: dt.datetime,
    horizon: dt.timedelta,
    *,
    person_id: str = "preview",
    journey_id: str = "preview",
    entry_properties: dict | None = None,
    holdout: bool = False,
) -> list[PreviewStep]:
    end = start + horizon
    played = sorted(((at, name, dict(props or {})) for at, name, props in events), key=lambda e: e[0])
    entered_at, props, key, note = start, dict(entry_properties or {}), "", ""
    rest = [e for e in played if e[0] >= start]
    if isinstance(definition.entry, d.EventEntry):
        for i, (at, name, p) in enumerate(rest):
            m = entry.match_event(definition.entry, name, p)
            if m.matched:
                entered_at, props, key = at, p, m.key
                rest = rest[i + 1 :]
                break
        else:
            note = f"no {definition.entry.name!r} among the events: entered at the start"
    if entered_at > end:
        return []
    state = RunState(
        run_id=f"preview:{person_id}", workspace_id="preview", journey_id=journey_id, version=0,
        person_id=person_id, key=key, seq=0, status="active", node=definition.start, entered_at=entered_at,
        entry=props, holdout=holdout,
    )  # fmt: skip
    detail = {"key": key, "properties": props, **({"note": note} if note else {})}
    steps = [PreviewStep(entered_at, definition.start, "entered", detail)]
    step = engine.advance(definition, state, Entered(), facts, entered_at)
    steps += _visits(definition, step, entered_at)
    state, converted, i = step.state, False, 0
    while len(steps) < MAX_STEPS:
        upcoming = rest[i] if i < len(rest) and rest[i][0] <= end else None
        due = state.wait.due_at if state.status == "waiting" and state.wait is not None else None
        if upcoming is not None and (due is None or upcoming[0] <= due):
            i += 1
            at, name, p = upcoming
            arrived = EventArrived(name=name, properties=p, message_id=f"preview-{i}", at=at)
            if not converted and engine.converts(definition, state, arrived, at):
                converted = True
                steps.append(PreviewStep(at, state.node, "converted", {"event": name}))
            if state.status in ENDED:
                continue
            if engine.exits_on(definition, state, arrived):
                reason = f"exit event {name}"
                state = RunState(**{**state.__dict__, "seq": state.seq + 1, "status": "exited", "wait": None,
                                    "ended_at": at, "end_reason": reason})  # fmt: skip
                steps.append(PreviewStep(at, state.node, "exited", {"reason": reason}))
                continue
            step = engine.advance(definition, state, arrived, facts, at)
            if step.changed:
                took = step.visited[0] if step.visited else None
                steps.append(PreviewStep(at, state.node, "event", {"event": name, "next": took}))
                steps += _visits(definition, step, at)
                state = step.state
            continue
        if state.status in ENDED:
            break
        if due is not None and due <= end:
            node = definition.nodes[state.node]
            step = engine.advance(definition, state, TimerDue(), facts, due)
            if isinstance(node, d.WaitEventNode):
                steps.append(PreviewStep(due, node.id, "timeout", {"next": node.on_timeout}))
            else:
                steps.append(PreviewStep(due, node.id, "timer", {"waited_until": _iso(due)}))
            steps += _visits(definition, step, due)
            state = step.state
            continue
        steps.append(PreviewStep(end, state.node, "waiting", {"until": _iso(due)}))
        break
    return steps
