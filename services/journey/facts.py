"""What the engine may know about a person, fetched from the other services before a run advances.

The engine is pure, so everything a branch rule, a time-of-day wait or a
"best channel" send can read is fetched first, and only what the journey's
definition needs: a campaign of one send step to a fixed channel asks for
nothing. Profiles come in one BatchGetProfiles per batch; segment
membership (IN SEGMENT), recent events (DID) and channel history are asked
per person, and only for definitions that use them.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import grpc

from cdp.messaging.v1 import messaging_pb2, messaging_pb2_grpc
from cdp.profile.v1 import profile_pb2, profile_pb2_grpc
from cdp.segment.v1 import segment_pb2, segment_pb2_grpc
from services.journey.definition import Needs
from services.journey.model import Facts
from services.kit import grpc_client
from services.kit.errors import CdpError
from services.kit.protos import from_struct, from_timestamp, message_dict
from services.kit.rules import Did

BATCH = 500
# Recent events a DID leaf is answered from (newest first).
TIMELINE = 500
# Messages of a person a "best channel" choice reads.
HISTORY = 100
_RECONNECT = [("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 2000)]


class PeerUnavailable(CdpError):
    code = "UNAVAILABLE"


def profile_dict(profile: profile_pb2.Profile) -> dict:
    """The profile as the rule language reads it: tags by name with value and confidence."""
    tags = {
        t.name: {"value": t.value, "confidence": t.confidence if t.HasField("confidence") else 1.0}
        for t in profile.tags
    }
    return {"traits": from_struct(profile.traits), "computed": message_dict(profile.computed), "tags": tags,
            "uid": profile.uid}  # fmt: skip


def did_answer(events: list[tuple[str, dt.datetime, dict]], now: dt.datetime):
    """DID over the person's recent events (name, time, properties), newest first."""

    def did(leaf: Did) -> bool:
        since = now - dt.timedelta(days=leaf.days)
        hits = 0
        for name, at, props in events:
            if at < since:
                break
            if name != leaf.event:
                continue
            if leaf.prop is not None and props.get(leaf.prop) != leaf.prop_value:
                continue
            hits += 1
            if hits >= leaf.times:
                return True
        return False

    return did


# How much each outcome says about a channel reaching the person.
_OUTCOME_WEIGHT = {"clicked": 3.0, "opened": 2.0, "delivered": 1.0, "sent": 0.5, "failed": -1.0}


def channel_scores(messages) -> dict[str, float]:
    """Per channel, the mean outcome of the person's messages on it (clicks count most, failures negatively)."""
    totals: dict[str, list[float]] = {}
    for m in messages:
        if m.clicked_at.seconds:
            score = _OUTCOME_WEIGHT["clicked"]
        elif m.opened_at.seconds:
            score = _OUTCOME_WEIGHT["opened"]
        else:
            score = _OUTCOME_WEIGHT.get(m.status, 0.0)
        totals.setdefault(m.channel, []).append(score)
    return {channel: sum(s) / len(s) for channel, s in totals.items()}


class FactsSource:
    def __init__(self, profile_target: str, segment_target: str, messaging_target: str, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self._channels = [
            grpc_client.channel(t, options=_RECONNECT) for t in (profile_target, segment_target, messaging_target)
        ]
        self.profiles = profile_pb2_grpc.ProfileServiceStub(self._channels[0])
        self.segments = segment_pb2_grpc.SegmentServiceStub(self._channels[1])
        self.messages = messaging_pb2_grpc.MessagingServiceStub(self._channels[2])

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()

    async def _call(self, what: str, method, request):
        try:
            return await method(request, timeout=self.timeout)
        except grpc.aio.AioRpcError as exc:
            raise PeerUnavailable(f"{what}: {exc.code().name}: {exc.details()}") from None

    async def profiles_of(self, workspace: str, persons: list[str]) -> dict[str, dict]:
        out: dict[str, dict] = {}
        unique = sorted(set(persons))
        for i in range(0, len(unique), BATCH):
            request = profile_pb2.BatchGetProfilesRequest(workspace_id=workspace, person_ids=unique[i : i + BATCH])
            response = await self._call("profile", self.profiles.BatchGetProfiles, request)
            for p in response.profiles:
                out[p.person_id] = profile_dict(p)
        return out

    async def facts(
        self, workspace: str, persons: list[str], needs: Needs, default_timezone: str, now: dt.datetime
    ) -> dict[str, Facts]:
        """person id -> Facts (persons without a profile get an empty one)."""
        profiles = await self.profiles_of(workspace, persons) if needs.anything else {}
        out: dict[str, Facts] = {}

        async def one(person: str) -> None:
            profile = profiles.get(person, {"traits": {}, "computed": {}, "tags": {}})
            tz = (profile.get("traits") or {}).get("timezone") or default_timezone
            facts = Facts(profile=profile, timezone=tz if isinstance(tz, str) else default_timezone)
            if needs.segments:
                members = {}
                uid = profile.get("uid", 0)
                for segment in needs.segments:
                    request = segment_pb2.IsMemberRequest(workspace_id=workspace, segment_id=segment, uid=uid)
                    members[segment] = (
                        bool(uid) and (await self._call("segment", self.segments.IsMember, request)).member
                    )
                facts.in_segment = members.__getitem__
            if needs.behaviour:
                request = profile_pb2.GetTimelineRequest(workspace_id=workspace, person_id=person, limit=TIMELINE)
                timeline = await self._call("profile", self.profiles.GetTimeline, request)
                events = [
                    (e.event or e.type, from_timestamp(e.timestamp), from_struct(e.properties)) for e in timeline.events
                ]
                facts.did = did_answer(events, now)
            if needs.channel_history:
                request = messaging_pb2.ListMessagesRequest(workspace_id=workspace, person_id=person, limit=HISTORY)
                history = await self._call("messaging", self.messages.ListMessages, request)
                facts.channel_scores = channel_scores(history.messages)
            out[person] = facts

        await asyncio.gather(*(one(p) for p in persons))
        return out
