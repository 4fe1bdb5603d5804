"""What the journey engine reads and returns: the seam between pure domain code and the stores.

The engine (engine.py) is a pure function: a run's state, the journey
version's definition, the facts about the person the caller fetched, and
what woke the run (entry, a due timer, an event) go in; the run's next state
and the effects to carry out come out. The caller (runs.py) writes the new
state with one compare-and-set on the run's sequence number and queues the
effects in the same transaction (outbox), so a replay or a crash neither
skips nor repeats a step.

Everything an effect needs to be carried out exactly once is in it: a send
carries the idempotency key messaging dedupes by, derived from (journey,
version, run, step, sequence).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

# A run is active while the engine moves it through instant steps, waiting at a wait step,
# done when it reached an exit step or the end, exited when an exit criterion or a cancel ended it.
Status = Literal["active", "waiting", "done", "exited"]
ENDED = ("done", "exited")


@dataclass(frozen=True)
class Wait:
    """Where a waiting run stands: its timer, and for "until an event" the event and the match."""

    node: str
    due_at: dt.datetime | None
    # "until event": the event name, the entry properties it must match (name -> value), and
    # which branch each outcome takes.
    event: str | None = None
    match: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunState:
    """One person's run through one version of a journey (a MongoDB document in `runs`)."""

    run_id: str
    workspace_id: str
    journey_id: str
    version: int
    person_id: str
    # The entry key (e.g. an order_id for keyed entries; "" otherwise).
    key: str
    seq: int
    status: Status
    node: str
    entered_at: dt.datetime
    # The entry event's properties (what "until event" matches against, and template vars).
    entry: dict[str, Any] = field(default_factory=dict)
    wait: Wait | None = None
    # Experiment node id -> variant name, recorded at first exposure.
    variants: dict[str, str] = field(default_factory=dict)
    # True for a person in the journey's holdout: the run records conversions, sends nothing.
    holdout: bool = False
    ended_at: dt.datetime | None = None
    end_reason: str = ""


@dataclass(frozen=True)
class Entered:
    """The run was just created."""


@dataclass(frozen=True)
class TimerDue:
    """The run's wait timer fell due (the caller claimed it)."""


@dataclass(frozen=True)
class EventArrived:
    """A resolved event of the run's person, while the run waits for one."""

    name: str
    properties: dict[str, Any]
    message_id: str
    at: dt.datetime


Trigger = Entered | TimerDue | EventArrived


@dataclass
class Facts:
    """What the engine may know about the person, fetched by the caller before it advances a run.

    `profile` is the profile document as the rule language reads it ({"traits": ..,
    "computed": .., "tags": ..}); `in_segment` and `did` answer the rule language's
    IN SEGMENT and DID leaves (None: such rules were refused when the journey was
    published); `channel_scores` ranks channels by the person's delivery, open and
    click history (higher is better; empty: no history); `timezone` is the
    person's IANA zone (their trait, else the workspace's default).
    """

    profile: dict[str, Any]
    timezone: str = "UTC"
    in_segment: Callable[[str], bool] | None = None
    did: Callable[[Any], bool] | None = None
    channel_scores: dict[str, float] = field(default_factory=dict)
    # Experiment key -> variant already assigned to this person (stable across merges).
    assignments: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Send:
    """Hand a message to messaging. `idempotency_key` makes a replay a no-op there."""

    node: str
    channel: str
    template_id: str
    idempotency_key: str
    # Channels to try, in order, if the first cannot reach the person (no address, opted out).
    fallback: tuple[str, ...] = ()
    category: str = "marketing"
    vars: dict[str, Any] = field(default_factory=dict)
    # A channel's own template where it differs from template_id ("best" sends across channel types).
    templates: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class UpdateProfile:
    node: str
    traits: dict[str, Any] = field(default_factory=dict)
    # (tag name, value) pairs
    tags: tuple[tuple[str, str], ...] = ()
    idempotency_key: str = ""


@dataclass(frozen=True)
class CallWebhook:
    """A partner webhook, delivered by messaging over a webhook channel (so it is capped, retried, deduped)."""

    node: str
    channel: str
    body: dict[str, Any]
    idempotency_key: str


@dataclass(frozen=True)
class Assign:
    """Record a person's experiment variant at first exposure."""

    experiment: str
    variant: str


Effect = Send | UpdateProfile | CallWebhook | Assign


@dataclass
class Step:
    """The engine's answer: the run's next state, the nodes it passed, and what to do."""

    state: RunState
    # Node ids the run entered during this advance, in order (per-step "entered" counts).
    visited: list[str] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    # False when the trigger did not apply (an event the wait does not match, a timer of a run that
    # moved on, an ended run): the state is the one given, nothing to write or announce.
    changed: bool = True
