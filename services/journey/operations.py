"""What the journey APIs do, once for GraphQL and gRPC alike."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.journey import definition as definitions
from services.journey import preview as previews
from services.journey.campaigns import CampaignSpec, Launcher
from services.journey.experiments import Experiments
from services.journey.facts import FactsSource
from services.journey.flow import Entering, Flow, Outcome
from services.journey.holdouts import Holdouts
from services.journey.library import Library
from services.journey.live import LiveJourneys
from services.journey.store import JourneyStore
from services.kit.clock import Clock
from services.kit.errors import Conflict, InvalidInput, NotFound

MAX_KEY = 200
MAX_PREVIEW_EVENTS = 200
MAX_PREVIEW_DAYS = 400


@dataclass
class Context:
    store: JourneyStore
    library: Library
    live: LiveJourneys
    flow: Flow
    launcher: Launcher
    facts: FactsSource
    holdouts: Holdouts
    experiments: Experiments
    clock: Clock

    async def enter(
        self, workspace: str, journey_id: str, person_id: str, key: str, properties: dict, request_id: str
    ) -> Outcome:
        if not person_id:
            raise InvalidInput("person_id is required", "person_id")
        if len(key) > MAX_KEY:
            raise InvalidInput(f"key is at most {MAX_KEY} characters", "key")
        doc = await self.library.get(workspace, journey_id)
        version = await self.live.journey(journey_id)
        if version is None or doc["status"] not in ("active", "paused"):
            raise Conflict(f"journey {journey_id!r} is {doc['status']}: publish it first", "journey_id")
        definition = version.definition
        if definition.entry.kind == "event" and definition.entry.policy.mode == "keyed" and not key:
            raise InvalidInput("this journey is keyed: give the entry key", "key")
        cause = f"api:{request_id}" if request_id else ""
        return await self.flow.enter(version, Entering(person_id, key, properties, cause))

    async def create_campaign(self, workspace: str, name: str, spec: CampaignSpec, rate: int) -> dict:
        if rate <= 0 or rate > 100_000:
            raise InvalidInput("rate_per_second must be between 1 and 100000", "ratePerSecond")
        raw = spec.definition(self.clock.now())
        return await self.library.create(
            workspace,
            name,
            "campaign",
            raw,
            {"rate_per_second": rate, "spec": spec.__dict__ | {"variants": list(spec.variants)}},
        )

    async def preview(
        self, workspace: str, journey_id: str | None, raw: dict | None, person_id: str,
        events: list[dict], start: dt.datetime | None, horizon_days: int,
    ) -> list:  # fmt: skip
        if raw is not None:
            definition = definitions.parse(raw)
        elif journey_id:
            _, definition = await self.library.definition_of(workspace, journey_id, None)
        else:
            raise InvalidInput("give a journey id or a definition", "definition")
        if not 0 < horizon_days <= MAX_PREVIEW_DAYS:
            raise InvalidInput(f"horizonDays must be between 1 and {MAX_PREVIEW_DAYS}", "horizonDays")
        if len(events) > MAX_PREVIEW_EVENTS:
            raise InvalidInput(f"at most {MAX_PREVIEW_EVENTS} events", "events")
        start = start or self.clock.now()
        played = []
        for i, e in enumerate(events):
            if not isinstance(e, dict) or not isinstance(e.get("event"), str):
                raise InvalidInput("each event needs a name in `event`", f"events[{i}].event")
            hours = e.get("afterHours", 0)
            if not isinstance(hours, (int, float)) or hours < 0:
                raise InvalidInput("afterHours must be a number of hours, 0 or more", f"events[{i}].afterHours")
            props = e.get("properties") or {}
            if not isinstance(props, dict):
                raise InvalidInput("properties must be an object", f"events[{i}].properties")
            played.append((start + dt.timedelta(hours=hours), e["event"], props))
        timezone = await self.holdouts.timezone(workspace)
        needs = definition.needs()
        facts = (await self.facts.facts(workspace, [person_id], needs, timezone, start))[person_id]
        return previews.preview(definition, facts, played, start, dt.timedelta(days=horizon_days), person_id=person_id)

    async def set_settings(self, workspace: str, holdout_pct: float | None, timezone: str | None) -> dict:
        changes: dict = {}
        if holdout_pct is not None:
            if not 0 <= holdout_pct <= 50:
                raise InvalidInput("holdoutPct must be between 0 and 50", "holdoutPct")
            changes["holdout_pct"] = holdout_pct
        if timezone is not None:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise InvalidInput(f"unknown time zone {timezone!r}", "timezone") from None
            changes["timezone"] = timezone
        if changes:
            await self.store.settings.update_one({"_id": workspace}, {"$set": changes}, upsert=True)
            self.holdouts.forget_settings(workspace)
        return await self.store.settings.find_one({"_id": workspace}) or {"_id": workspace}

    async def run(self, workspace: str, run_id: str) -> dict:
        doc = await self.store.run(workspace, run_id)
        if doc is None:
            raise NotFound(f"run {run_id!r} not found", "run_id")
        return doc
