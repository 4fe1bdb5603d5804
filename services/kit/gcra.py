"""GCRA (generic cell rate algorithm) rate limits in Redis, one atomic Lua script.

One key per limited thing holds its theoretical arrival time; the script reads
the time from Redis itself (`TIME`), so processes on machines with skewed
clocks, and every replica of a service, share one schedule and the limit holds
across any number of them. Used by messaging's provider limits and by the
collection API's per-key and per-address limits.
"""

from __future__ import annotations

# Up to ARGV[3] cells at once: a worker asks for a whole batch's worth in one round trip and
# gets as many as the schedule allows now, plus how long until the next one. With one cell
# it is the textbook GCRA (allow when now >= tat + interval - burst x interval).
GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst_offset = interval * tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local granted = math.floor((now + burst_offset - tat) / interval)
if granted > wanted then granted = wanted end
if granted < 0 then granted = 0 end
if granted > 0 then
  tat = tat + granted * interval
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
end
local next_at = tat + interval - burst_offset
local wait = 0
if next_at > now then wait = next_at - now end
return {granted, string.format('%.0f', wait)}
"""


class RateLimiter:
    """GCRA per key: `acquire` answers 0 (go) or the seconds to wait before trying again."""

    def __init__(self, redis) -> None:
        self.redis = redis
        self._script = redis.register_script(GCRA)

    async def acquire(self, key: str, rate: float, burst: int) -> float:
        granted, wait = await self.acquire_many(key, rate, burst, 1)
        return 0.0 if granted else wait

    async def acquire_many(self, key: str, rate: float, burst: int, wanted: int) -> tuple[int, float]:
        """(cells granted now, up to `wanted`; seconds until the next cell would be)."""
        interval_us = 1_000_000.0 / rate
        granted, wait_us = await self._script(keys=[f"rl:{{{key}}}"], args=[interval_us, max(1, burst), wanted])
        return int(granted), float(wait_us) / 1_000_000.0
