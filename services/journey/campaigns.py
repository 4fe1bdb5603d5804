"""Campaigns: a send to a segment, now, at a time or recurring, as a journey with one send step.

A launch snapshots the audience from the segment's bitmaps when it starts
(StreamMembers, stored in chunks), then enters the people chunk by chunk at
the campaign's rate. Each chunk's runs, their sends (outbox) and the launch's
cursor commit in one transaction, so a crash resumes at the next chunk and
nobody is entered or sent to twice. Pause stops the chunks; resume goes on
from the cursor; cancel counts everyone not yet entered as cancelled. The
accounting closes: sent + skipped + failed + cancelled = audience, where
skipped counts the holdout and what messaging skipped (caps, no address,
opted out).

Launches are claimed with a lease (compare-and-set), so several replicas
never process the same launch side by side.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
from dataclasses import dataclass

import grpc

from cdp.messaging.v1 import messaging_pb2, messaging_pb2_grpc
from cdp.segment.v1 import segment_pb2, segment_pb2_grpc
from services.journey import entry
from services.journey.flow import Flow
from services.journey.live import LiveJourneys, LiveVersion
from services.journey.localtime import resolve, zone
from services.journey.runs import Runner
from services.journey.store import JourneyStore
from services.kit import grpc_client
from services.kit.clock import Clock
from services.kit.errors import Conflict, InvalidInput, NotFound
from services.kit.mongo import is_duplicate_key

log = logging.getLogger(__name__)

CHUNK = 500
DEFAULT_RATE = 1000  # people per second
_RECONNECT = [("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 2000)]
ACTIVE_STATES = ("snapshotting", "sending")


@dataclass(frozen=True)
class CampaignSpec:
    """What an operator fills in; turned into a one-send-step journey definition."""

    segment_id: str
    channel: str
    template_id: str
    # ISO time of the first launch (empty: now), and the repeat interval ("7d"; empty: once).
    at: str = ""
    every: str = ""
    rate_per_second: int = DEFAULT_RATE
    holdout_pct: float = 0.0
    # "HH:MM": deliver at this local time of each person instead of at once.
    local_time: str = ""
    # A/B: [{"name", "weight", "template_id", "channel"}]; empty: one send.
    variants: tuple[dict, ...] = ()
    goal_event: str = ""
    goal_within: str = "7d"
    category: str = "marketing"

    def definition(self, now: dt.datetime) -> dict:
        nodes: dict[str, dict] = {}
        first = "send"
        if self.variants:
            first = "experiment"
            nodes["experiment"] = {
                "type": "experiment",
                "variants": [
                    {"name": v["name"], "weight": v.get("weight", 1), "next": f"send_{i}"}
                    for i, v in enumerate(self.variants)
                ],
            }
            for i, v in enumerate(self.variants):
                nodes[f"send_{i}"] = {"type": "send", "channel": v.get("channel") or self.channel,
                                      "template": v.get("template_id") or self.template_id, "next": "end"}  # fmt: skip
        else:
            nodes["send"] = {"type": "send", "channel": self.channel, "template": self.template_id, "next": "end"}
        if self.local_time:
            nodes["local_time"] = {"type": "wait", "until": {"time": self.local_time}, "next": first}
            first = "local_time"
        nodes["end"] = {"type": "exit"}
        definition = {
            "entry": {
                "schedule": {"at": self.at or now.isoformat(), "every": self.every or None, "timezone": "workspace"},
                "segment": self.segment_id,
            },
            "start": first,
            "nodes": nodes,
            "holdout_pct": self.holdout_pct,
        }
        if self.goal_event:
            definition["goal"] = {"event": self.goal_event, "within": self.goal_within}
        return definition


def _person_local(e, launch: dict) -> dt.datetime | None:
    """For a schedule in each person's local time: the wall time of this launch (naive), else None.

    The launch fires when the earliest zone (UTC+14) reaches the schedule's time; everyone enters
    then and waits until that same local date and time in their own zone.
    """
    if e.kind != "schedule" or e.schedule.timezone != "person":
        return None
    local_date = launch["fire_at"].astimezone(zone(entry.EARLIEST_ZONE)).date()
    return dt.datetime.combine(local_date, e.schedule.at.replace(tzinfo=None).time())


class Launcher:
    def __init__(
        self, store: JourneyStore, live: LiveJourneys, flow: Flow, runner: Runner, clock: Clock,
        segment_target: str, messaging_target: str, lease_seconds: float = 30.0, idle_seconds: float = 0.5,
    ) -> None:  # fmt: skip
        self.store = store
        self.live = live
        self.flow = flow
        self.runner = runner
        self.clock = clock
        self.lease = dt.timedelta(seconds=lease_seconds)
        self.idle_seconds = idle_seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self._channels = [grpc_client.channel(t, options=_RECONNECT) for t in (segment_target, messaging_target)]
        self.segments = segment_pb2_grpc.SegmentServiceStub(self._channels[0])
        self.messaging = messaging_pb2_grpc.MessagingServiceStub(self._channels[1])

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()

    # -- launching ---------------------------------------------------------------------------------
    async def due_launches(self) -> int:
        """Create the launches whose scheduled time came (one per fire time; replicas collide on its id)."""
        now = self.clock.now()
        created = 0
        await self.live.refresh()
        for version in self.live.all_versions():
            e = version.definition.entry
            if version.status != "active" or e.kind != "schedule":
                continue
            doc = await self.store.journeys.find_one(
                {"_id": version.journey_id}, {"last_fire_at": 1, "published_at": 1}
            )
            last = (doc or {}).get("last_fire_at")
            timezone = entry.EARLIEST_ZONE if e.schedule.timezone == "person" else await self.flow.holdouts.timezone(version.workspace_id)
            fire = entry.next_fire(e, last, now, timezone)
            if fire is None or fire > now:
                continue
            launch_id = f"{version.journey_id}@{fire.strftime('%Y%m%dT%H%M%SZ')}"
            try:
                await self.store.launches.insert_one({
                    "_id": launch_id, "workspace": version.workspace_id, "journey_id": version.journey_id,
                    "version": version.version, "segment_id": e.segment, "state": "snapshotting", "fire_at": fire,
                    "audience": 0, "chunks": 0, "cursor": 0, "handed": 0, "holdout": 0, "cancelled": 0,
                    "lease_until": dt.datetime(1970, 1, 1, tzinfo=dt.UTC), "created_at": now,
                })  # fmt: skip
                created += 1
            except Exception as exc:
                if not is_duplicate_key(exc):
                    raise
            await self.store.journeys.update_one({"_id": version.journey_id}, {"$set": {"last_fire_at": fire}})
        return created

    async def _claim(self) -> dict | None:
        now = self.clock.now()
        for state in ACTIVE_STATES:
            doc = await self.store.launches.find_one_and_update(
                {"state": state, "lease_until": {"$lt": now}},
                {"$set": {"lease_until": now + self.lease, "owner": self.owner}},
            )
            if doc is not None:
                return doc
        return None

    async def _renew(self, launch: dict) -> bool:
        result = await self.store.launches.update_one(
            {"_id": launch["_id"], "owner": self.owner, "state": {"$in": list(ACTIVE_STATES)}},
            {"$set": {"lease_until": self.clock.now() + self.lease}},
        )
        return result.matched_count == 1

    async def snapshot(self, launch: dict, rate: int) -> None:
        """The audience as the bitmaps hold it now, in chunks; a retry rewrites the same chunks.

        A chunk is at most a second's worth at the campaign's rate, so a slow rate sends a few
        people every second rather than a burst of CHUNK and a long pause."""
        request = segment_pb2.StreamMembersRequest(workspace_id=launch["workspace"], segment_id=launch["segment_id"])
        persons: list[str] = []
        async for member in self.segments.StreamMembers(request, timeout=600):
            if member.person_id:
                persons.append(member.person_id)
        persons = sorted(set(persons))
        size = min(CHUNK, rate)
        chunks = [persons[i : i + size] for i in range(0, len(persons), size)]
        for i, chunk in enumerate(chunks):
            await self.store.audience.replace_one(
                {"_id": f"{launch['_id']}:{i:07d}"}, {"launch_id": launch["_id"], "i": i, "persons": chunk}, upsert=True
            )
        await self.store.launches.update_one(
            {"_id": launch["_id"], "state": "snapshotting"},
            {"$set": {"state": "sending" if chunks else "finished", "audience": len(persons), "chunks": len(chunks),
                      "started_at": self.clock.now(), **({} if chunks else {"finished_at": self.clock.now()})}},
        )  # fmt: skip

    async def send_chunk(self, launch: dict, version: LiveVersion) -> int | None:
        """Enter the chunk at the cursor and say how many people it held; None when the launch is
        finished or no longer ours to send."""
        i = launch["cursor"]
        if i >= launch["chunks"]:
            await self.store.launches.update_one(
                {"_id": launch["_id"], "state": "sending"},
                {"$set": {"state": "finished", "finished_at": self.clock.now()}},
            )
            return None
        chunk = await self.store.audience.find_one({"_id": f"{launch['_id']}:{i:07d}"})
        persons = chunk["persons"] if chunk else []
        now = self.clock.now()
        facts = await self.flow.facts_of(version, persons, now)
        plans = []
        held = 0
        local = _person_local(version.definition.entry, launch)
        for person in persons:
            holdout = await self.flow.holdouts.held_out(version, person)
            held += holdout
            if local is not None:
                # A schedule in each person's own time: the run waits for that moment in their zone.
                when = resolve(local, zone(facts[person].timezone))
                plans.append(self.runner.plan_deferred(version, person, facts[person], now, when, holdout, launch["_id"]))
            else:
                plans.append(self.runner.plan_entry(version, person, "", {}, facts[person], now, 0, holdout, launch["_id"]))
        cursor = {
            "filter": {"_id": launch["_id"], "cursor": i, "state": "sending"},
            "update": {"$inc": {"cursor": 1, "handed": len(persons), "holdout": held}},
        }
        done = await self.runner.commit(plans, launch_cursor=cursor)
        return len(persons) if done or not plans else None

    async def process(self, launch: dict) -> None:
        version = await self.live.version_of(launch["journey_id"], launch["version"])
        if version is None:
            return
        rate = max(
            1,
            int(
                (await self.store.journeys.find_one({"_id": launch["journey_id"]}) or {}).get("rate_per_second")
                or DEFAULT_RATE
            ),
        )
        if launch["state"] == "snapshotting":
            await self.snapshot(launch, rate)
            launch = await self.store.launches.find_one({"_id": launch["_id"]})
        while launch is not None and launch["state"] == "sending" and launch.get("owner") == self.owner:
            started = asyncio.get_running_loop().time()
            handed = await self.send_chunk(launch, version)
            if handed is None or not await self._renew(launch):
                break
            launch = await self.store.launches.find_one({"_id": launch["_id"]})
            if launch is not None and launch["cursor"] >= launch["chunks"]:
                continue  # the last chunk is handed: finish now, not a rate's pause later
            # At most `rate` people a second: a chunk of n people takes at least n / rate seconds.
            spent = asyncio.get_running_loop().time() - started
            await asyncio.sleep(max(0.0, handed / rate - spent))

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await self.due_launches()
                launch = await self._claim()
                if launch is not None:
                    await self.process(launch)
                    continue
            except Exception:
                log.exception("campaign launcher pass failed; retrying")
            try:
                await asyncio.wait_for(stopping.wait(), timeout=self.idle_seconds)
            except TimeoutError:
                pass

    # -- control -----------------------------------------------------------------------------------
    async def latest(self, workspace: str, journey_id: str) -> dict | None:
        docs = (
            await self.store.launches.find({"workspace": workspace, "journey_id": journey_id})
            .sort("created_at", -1)
            .limit(1)
            .to_list(1)
        )
        return docs[0] if docs else None

    async def control(self, workspace: str, journey_id: str, action: str) -> dict:
        launch = await self.latest(workspace, journey_id)
        if launch is None:
            raise NotFound("the campaign has not started", "id")
        moves = {"pause": ("sending", "paused"), "resume": ("paused", "sending"), "cancel": (None, "cancelled")}
        if action not in moves:
            raise InvalidInput("action must be pause, resume or cancel", "action")
        source, target = moves[action]
        allowed = [source] if source else ["snapshotting", "sending", "paused"]
        update: dict = {"$set": {"state": target}}
        if target == "cancelled":
            update["$set"]["finished_at"] = self.clock.now()
        result = await self.store.launches.find_one_and_update(
            {"_id": launch["_id"], "state": {"$in": allowed}}, update
        )
        if result is None:
            raise Conflict(f"a {launch['state']} campaign cannot {action}", "id")
        if target == "cancelled":
            # Everyone not entered yet: the cursor no longer moves, so this closes the accounting.
            fresh = await self.store.launches.find_one({"_id": launch["_id"]})
            await self.store.launches.update_one(
                {"_id": launch["_id"]}, {"$set": {"cancelled": max(0, fresh["audience"] - fresh["handed"])}}
            )
        return await self.store.launches.find_one({"_id": launch["_id"]})

    async def status(self, workspace: str, journey_id: str) -> dict:
        launch = await self.latest(workspace, journey_id)
        if launch is None:
            doc = await self.store.journey(workspace, journey_id)
            if doc is None:
                raise NotFound(f"campaign {journey_id!r} not found", "id")
            return {"journey_id": journey_id, "launch_id": "", "state": "scheduled", "audience": 0, "handed": 0,
                    "sent": 0, "skipped": 0, "failed": 0, "cancelled": 0, "pending": 0, "holdout": 0}  # fmt: skip
        try:
            stats = await self.messaging.GetStats(
                messaging_pb2.GetStatsRequest(workspace_id=workspace, campaign_id=launch["_id"]),
                timeout=10,
            )
        except grpc.aio.AioRpcError as exc:
            raise Conflict(f"messaging did not answer: {exc.code().name}", "id") from None
        sent = stats.sent
        failed = stats.failed
        skipped = stats.skipped + launch["holdout"]
        settled = sent + failed + stats.skipped
        pending = max(0, launch["handed"] - launch["holdout"] - settled)
        return {
            "journey_id": journey_id,
            "launch_id": launch["_id"],
            "state": launch["state"],
            "audience": launch["audience"],
            "handed": launch["handed"],
            "sent": sent,
            "skipped": skipped,
            "failed": failed,
            "cancelled": launch.get("cancelled", 0),
            "pending": pending,
            "holdout": launch["holdout"],
            "started_at": launch.get("started_at"),
            "finished_at": launch.get("finished_at"),
        }
