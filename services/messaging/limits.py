"""Rate limits and frequency caps in Redis, each one atomic Lua script.

Rate limits are GCRA (generic cell rate algorithm): one key per workspace,
channel and provider holds the theoretical arrival time; the script reads the
time from Redis itself (`TIME`), so workers on machines with skewed clocks still
share one schedule and the limit holds across any number of them.

Frequency caps keep, per person, channel, category and local calendar day, the
set of message ids counted that day. A set (not a counter) makes the check
idempotent: a redelivered message is counted once, so a worker crash between
the check and the send cannot eat into the person's allowance twice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.messaging.policy import Cap, local_days

GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst_offset = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst_offset
if now < allow_at then
  return allow_at - now
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return 0
"""

CAP = """
local limit = tonumber(ARGV[1])
local member = ARGV[2]
for i = 1, #KEYS do
  if redis.call('SISMEMBER', KEYS[i], member) == 1 then return 1 end
end
local used = 0
for i = 1, #KEYS do used = used + redis.call('SCARD', KEYS[i]) end
if used >= limit then return 0 end
redis.call('SADD', KEYS[1], member)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""


class RateLimiter:
    """GCRA per key: `acquire` answers 0 (go) or the seconds to wait before trying again."""

    def __init__(self, redis) -> None:
        self.redis = redis
        self._script = redis.register_script(GCRA)

    async def acquire(self, key: str, rate: float, burst: int) -> float:
        interval_us = 1_000_000.0 / rate
        wait_us = await self._script(keys=[f"rl:{{{key}}}"], args=[interval_us, max(1, burst)])
        return float(wait_us) / 1_000_000.0


def rate_key(workspace: str, channel: str, provider: str) -> str:
    return f"{workspace}:{channel}:{provider}"


@dataclass
class CapVerdict:
    allowed: bool
    cap: Cap | None = None


class FrequencyCaps:
    def __init__(self, redis) -> None:
        self.redis = redis
        self._script = redis.register_script(CAP)

    @staticmethod
    def _keys(workspace: str, person_id: str, cap: Cap, channel: str, category: str, days: list[str]) -> list[str]:
        # One hash tag per person so that a cluster keeps a person's day sets in one slot.
        scope = f"{cap.channel or '*'}:{cap.category or '*'}"
        return [f"cap:{{{workspace}:{person_id}}}:{scope}:{day}" for day in days]

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
        """Count the message against every cap that applies; the first cap it exceeds, if any.

        Caps are checked one after another; a message refused by a later cap
        is taken off the earlier ones again so it does not use their allowance.
        """
        counted: list[list[str]] = []
        for cap in caps:
            days = local_days(now, tz, cap.days)
            keys = self._keys(workspace, person_id, cap, channel, category, days)
            ttl = (cap.days + 2) * 86400
            if not int(await self._script(keys=keys, args=[cap.limit, message_id, ttl])):
                for earlier in counted:
                    await self.redis.srem(earlier[0], message_id)
                return CapVerdict(False, cap)
            counted.append(keys)
        return CapVerdict(True)

    async def release(
        self, workspace: str, person_id: str, channel: str, category: str, message_id: str, caps: list[Cap], now, tz
    ) -> None:
        """A message that was not sent after all gives its place back."""
        for cap in caps:
            for key in self._keys(workspace, person_id, cap, channel, category, local_days(now, tz, cap.days)):
                await self.redis.srem(key, message_id)
