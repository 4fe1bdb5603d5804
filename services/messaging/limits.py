"""Rate limits and frequency caps in Redis, each one atomic Lua script.

Rate limits are GCRA (services/kit/gcra.py): one key per workspace, channel
and provider, on Redis's own clock, so the limit holds across any number of
workers.

Frequency caps keep, per person, channel, category and local calendar day, the
set of message ids counted that day. A set (not a counter) makes the check
idempotent: a redelivered message is counted once, so a worker crash between
the check and the send cannot eat into the person's allowance twice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from services.kit.gcra import RateLimiter
from services.messaging.policy import Cap, local_days

__all__ = ["RateLimiter", "FrequencyCaps", "CapCheck", "CapVerdict", "rate_key"]

# Every cap of one message in one step: ARGV = member, number of caps, then per cap the
# number of its day keys, its limit and the keys' TTL; KEYS = each cap's day keys, in order.
# Answers {0, caps counted now...} when the message fits every cap (counting it in each), else
# {the 1-based index of the first cap it would exceed}, counting it nowhere. A message already
# counted in a cap (a redelivery) fits that cap again without counting twice, and that cap is
# not among those counted now: only those may be given back if it is not sent after all.
CAP = """
local member = ARGV[1]
local caps = tonumber(ARGV[2])
local arg, key = 3, 1
local adds = {}
for c = 1, caps do
  local n, limit, ttl = tonumber(ARGV[arg]), tonumber(ARGV[arg + 1]), ARGV[arg + 2]
  arg = arg + 3
  local counted = false
  local used = 0
  for i = key, key + n - 1 do
    if redis.call('SISMEMBER', KEYS[i], member) == 1 then counted = true end
    used = used + redis.call('SCARD', KEYS[i])
  end
  if not counted then
    if used >= limit then return {c} end
    adds[#adds + 1] = {KEYS[key], ttl, c}
  end
  key = key + n
end
local out = {0}
for _, add in ipairs(adds) do
  redis.call('SADD', add[1], member)
  redis.call('EXPIRE', add[1], tonumber(add[2]))
  out[#out + 1] = add[3]
end
return out
"""


def rate_key(workspace: str, channel: str, provider: str) -> str:
    return f"{workspace}:{channel}:{provider}"


@dataclass
class CapVerdict:
    allowed: bool
    cap: Cap | None = None  # the cap it would exceed
    counted: list[Cap] = field(default_factory=list)  # the caps this check counted it in (not before)


@dataclass
class CapCheck:
    """One message against the caps that apply to it, in the person's time zone."""

    workspace: str
    person_id: str
    channel: str
    category: str
    message_id: str
    caps: list[Cap]
    tz: object


class FrequencyCaps:
    def __init__(self, redis) -> None:
        self.redis = redis
        self._script = redis.register_script(CAP)

    @staticmethod
    def _keys(workspace: str, person_id: str, cap: Cap, channel: str, category: str, days: list[str]) -> list[str]:
        # One hash tag per person so that a cluster keeps a person's day sets in one slot.
        scope = f"{cap.channel or '*'}:{cap.category or '*'}"
        return [f"cap:{{{workspace}:{person_id}}}:{scope}:{day}" for day in days]

    def _call(self, workspace, person_id, channel, category, message_id, caps, now, tz) -> tuple[list, list]:
        keys: list[str] = []
        args: list = [message_id, len(caps)]
        for cap in caps:
            days = self._keys(workspace, person_id, cap, channel, category, local_days(now, tz, cap.days))
            keys += days
            args += [len(days), cap.limit, (cap.days + 2) * 86400]
        return keys, args

    async def check(
        self,
        workspace: str,
        person_id: str,
        channel: str,
        category: str,
        message_id: str,
        caps: list[Cap],
        now: dt.datetime,
        tz,
    ) -> CapVerdict:
        """Count the message against every cap that applies; the first cap it exceeds, if any."""
        (verdict,) = await self.check_many(
            [CapCheck(workspace, person_id, channel, category, message_id, caps, tz)], now
        )
        return verdict

    async def check_many(self, checks: list[CapCheck], now: dt.datetime) -> list[CapVerdict]:
        """Every check in one pipeline; one message's caps are counted all or none, atomically.

        The scripts run in order, so two messages of one person in a batch count
        against each other exactly as they would one after another.
        """
        if not checks:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for c in checks:
            keys, args = self._call(c.workspace, c.person_id, c.channel, c.category, c.message_id, c.caps, now, c.tz)
            await self._script(keys=keys, args=args, client=pipe)
        answers = await pipe.execute()
        return [
            CapVerdict(True, counted=[c.caps[int(i) - 1] for i in a[1:]])
            if int(a[0]) == 0
            else CapVerdict(False, c.caps[int(a[0]) - 1])
            for c, a in zip(checks, answers, strict=True)
        ]

    async def release(
        self, workspace: str, person_id: str, channel: str, category: str, message_id: str, caps: list[Cap], now, tz
    ) -> None:
        """A message that was not sent after all gives its place back."""
        await self.release_many([CapCheck(workspace, person_id, channel, category, message_id, caps, tz)], now)

    async def release_many(self, checks: list[CapCheck], now) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for c in checks:
            for cap in c.caps:
                for key in self._keys(
                    c.workspace, c.person_id, cap, c.channel, c.category, local_days(now, c.tz, cap.days)
                ):
                    pipe.srem(key, c.message_id)
        if len(pipe):
            await pipe.execute()
