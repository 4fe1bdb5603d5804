"""The bitmap index in Redis: one bit per person (dense uid) per indexed value.

Keys are sharded by uid range (2^20 uids = 128 KiB per bitmap) with the
workspace and shard as the Redis Cluster hash tag, so all keys of one shard
share a slot (one Lua script can combine them) and shards spread over nodes.
Which bitmaps a value sets is in encoding.py; how a rule becomes bitmap
operations is in plan.py. Besides the bitmaps, each shard holds:

    cdp:{<ws>:<shard>}:keys                set: every bitmap key of the shard (for erasing a person)
    cdp:{<ws>:<shard>}:keys:scanned        "1" once the registry was backfilled by a SCAN
    cdp:{<ws>:<shard>}:gone                hash uid -> "m:<ms>" merged away, "f:<ms>" forgotten,
                                           "r:<ms>" restored by an unmerge (see retire/restore)
    cdp:{<ws>:<shard>}:vs:<path>           set: value bitmaps ever set for an attribute (to clear the old value)
    cdp:{<ws>:<shard>}:ns                  hash path -> bit slices in use in this shard
    cdp:{<ws>:<shard>}:pid                 hash uid -> person id (for membership announcements)
    cdp:{<ws>:<shard>}:outbox              stream: membership transitions not yet on Kafka
    cdp:{<ws>:<shard>}:lock:<uid>          the replica working on this person now (see person_lock)
    cdp:ws:<ws>:shards                     set of shard numbers in use
    cdp:ws:<ws>:slices / :wide / :neg      what the compiler must know of numeric attributes (plan.Meta)
    cdp:outboxes                           set of outbox streams (for the relay)

A write sets a person's attribute to its current value (profile.changed
`after`): the old value's bits are found from `vs:<path>` and cleared in the
same script, so replays and out-of-date `before`s cannot leave stale bits.

Erasing a person (merged away or forgotten) clears its bit in every bitmap of
its shard, listed by the `keys` registry that every write maintains. The
`gone` mark keeps an erased uid erased although the bitmap writer
(profile.changed) and the eraser (identity events) are separate consumer
groups and may run in either order: a change for a forgotten uid never sets a
bit again, and a change for a merged-away uid is applied only when it is newer
than the merge (i.e. it follows an unmerge).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import AskError, NoScriptError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError

from services.kit.rules import Node
from services.segment import encoding as enc
from services.segment.encoding import SHARD_BITS, SHARD_MASK, normalise, shard_of  # noqa: F401 (re-exported)
from services.segment.plan import Meta, Program, compile_rule, run_on_bits

# The program runner (plan.py's stack machine) over one shard.
# KEYS = program keys (nk), alive, dest, outbox, pid, registry, temporaries...
# ARGV = nk, mode, ttl_ms, limit, base_uid, workspace, segment, cause, at, code...
# mode 'count': BITCOUNT of the result. 'store': copy the result into dest (ttl_ms > 0: expiring).
# 'reconcile': dest is a segment's membership bitmap; flip up to `limit` bits where it differs
# from the result, each with an outbox entry, in this one atomic script; returns the flips.
_RUN = """
local nk = tonumber(ARGV[1])
local mode = ARGV[2]
local alive = KEYS[nk + 1]
local dest = KEYS[nk + 2]
local tmp = nk + 6
local first_tmp = tmp
local stack, reg = {}, {}
-- Temporaries have fixed names per shard (scripts never interleave); a script that failed
-- half-way may have left some, and an empty-set temporary must not exist.
if #KEYS >= first_tmp then redis.call('DEL', unpack(KEYS, first_tmp, #KEYS)) end
local function fresh() local k = KEYS[tmp]; tmp = tmp + 1; return k end
-- Redis's word-at-a-time BITOP needs at most 16 sources, none missing: a missing key
-- (an empty set) would drop it to a byte loop ~50x slower, so empties are decided here.
local function present(k) return redis.call('EXISTS', k) == 1 end
local function bitop(op, args)
  local d = fresh()
  local i = 1
  while i <= #args do
    local chunk = {}
    if i > 1 then chunk[1] = d end
    while #chunk < 16 and i <= #args do chunk[#chunk + 1] = args[i]; i = i + 1 end
    redis.call('BITOP', op, d, unpack(chunk))
  end
  return d
end
local i = 10
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'K' then
    stack[#stack + 1] = KEYS[tonumber(ARGV[i + 1])]
    i = i + 2
  elseif op == 'A' or op == 'O' then
    local n = tonumber(ARGV[i + 1])
    local args, live, empty = {}, {}, false
    for j = n, 1, -1 do args[j] = table.remove(stack) end
    for j = 1, n do
      if present(args[j]) then live[#live + 1] = args[j] else empty = true end
    end
    if (op == 'A' and empty) or #live == 0 then
      stack[#stack + 1] = fresh()
    elseif #live == 1 then
      stack[#stack + 1] = live[1]
    else
      stack[#stack + 1] = bitop(op == 'A' and 'AND' or 'OR', live)
    end
    i = i + 2
  elseif op == 'D' or op == 'N' then
    local b = table.remove(stack)
    local a = alive
    if op == 'D' then a = table.remove(stack) end
    if not present(a) then
      stack[#stack + 1] = fresh()
    elseif not present(b) then
      stack[#stack + 1] = a
    else
      local d = bitop('AND', {a, b})
      redis.call('BITOP', 'XOR', d, d, a)
      stack[#stack + 1] = d
    end
    i = i + 1
  elseif op == 'I' then
    -- ~x is exact only over x's whole length; a short x takes the alive route.
    local x = table.remove(stack)
    if not present(x) then
      stack[#stack + 1] = alive
    elseif redis.call('STRLEN', x) == FULL_BYTES then
      local d = fresh()
      redis.call('BITOP', 'NOT', d, x)
      stack[#stack + 1] = d
    else
      local d = bitop('AND', {alive, x})
      redis.call('BITOP', 'XOR', d, d, alive)
      stack[#stack + 1] = d
    end
    i = i + 1
  elseif op == 'Z' then
    stack[#stack + 1] = fresh()
    i = i + 1
  elseif op == 'S' then
    reg[ARGV[i + 1]] = table.remove(stack)
    i = i + 2
  elseif op == 'R' then
    stack[#stack + 1] = reg[ARGV[i + 1]]
    i = i + 2
  else -- 'P'
    table.remove(stack)
    i = i + 1
  end
end
local top = stack[#stack]
local result
if mode == 'count' then
  result = redis.call('BITCOUNT', top)
elseif mode == 'store' then
  redis.call('BITOP', 'OR', dest, top)
  local ttl = tonumber(ARGV[3])
  if ttl > 0 then redis.call('PEXPIRE', dest, ttl) end
  result = redis.call('BITCOUNT', dest)
else
  local diff = fresh()
  redis.call('BITOP', 'XOR', diff, dest, top)
  local limit = tonumber(ARGV[4])
  local base = tonumber(ARGV[5])
  local pos = 0
  result = 0
  while result < limit do
    local p = redis.call('BITPOS', diff, 1, pos, -1, 'BIT')
    if p < 0 then break end
    local want = redis.call('GETBIT', top, p)
    redis.call('SETBIT', dest, p, want)
    redis.call('SADD', KEYS[nk + 5], dest)
    local uid = tostring(base + p)
    local pid = redis.call('HGET', KEYS[nk + 4], uid) or ''
    redis.call('XADD', KEYS[nk + 3], '*', 'segment', ARGV[7], 'change', want == 1 and 'enter' or 'exit',
      'uid', uid, 'person', pid, 'workspace', ARGV[6], 'cause', ARGV[8], 'at', ARGV[9])
    result = result + 1
    pos = p + 1
  end
end
for j = first_tmp, tmp - 1 do redis.call('DEL', KEYS[j]) end
return result
"""

# Set a person's attributes to their current values (see the module docstring).
# KEYS = gone, alive, registry, scanned, pid, ns; ARGV = uid, at (ms), offset, person id, key prefix,
# then per attribute: path, magnitude (-1: not a number), negative (0/1), exists (0/1), n, n value keys.
# Skips everything when the uid is forgotten, or merged away at or after `at`.
_APPLY = """
local g = redis.call('HGET', KEYS[1], ARGV[1])
if g then
  local kind = string.sub(g, 1, 1)
  if kind == 'f' then return 0 end
  if kind == 'm' and tonumber(ARGV[2]) <= tonumber(string.sub(g, 3)) then return 0 end
end
local offset = tonumber(ARGV[3])
local prefix = ARGV[5]
local registry = KEYS[3]
local function put(key, on)
  if on then
    if redis.call('EXISTS', key) == 0 then redis.call('SETBIT', key, LAST, 0) end
    redis.call('SETBIT', key, offset, 1)
    redis.call('SADD', registry, key)
  elseif redis.call('STRLEN', key) * 8 > offset then
    redis.call('SETBIT', key, offset, 0)
  end
end
if redis.call('EXISTS', KEYS[2]) == 0 then redis.call('SET', KEYS[4], '1', 'NX') end
put(KEYS[2], true)
if ARGV[4] ~= '' then redis.call('HSET', KEYS[5], ARGV[1], ARGV[4]) end
local i = 6
while i <= #ARGV do
  local path = ARGV[i]
  local magnitude = tonumber(ARGV[i + 1])
  local negative = ARGV[i + 2] == '1'
  local exists = ARGV[i + 3] == '1'
  local n = tonumber(ARGV[i + 4])
  local want = {}
  for j = 1, n do want[ARGV[i + 4 + j]] = true end
  local vs = prefix .. 'vs:' .. path
  for _, k in ipairs(redis.call('SMEMBERS', vs)) do
    if not want[k] then put(prefix .. k, false) end
  end
  for j = 1, n do
    put(prefix .. ARGV[i + 4 + j], true)
    redis.call('SADD', vs, ARGV[i + 4 + j])
  end
  local had = tonumber(redis.call('HGET', KEYS[6], path) or '0')
  local bits = 0
  if magnitude >= 0 then
    while magnitude >= 2 ^ bits do bits = bits + 1 end
    if bits > had then redis.call('HSET', KEYS[6], path, bits) end
  end
  local slices = math.max(had, bits)
  local m = math.max(magnitude, 0)
  for b = 0, slices - 1 do
    put(prefix .. 'n:' .. path .. ':' .. b, math.floor(m / 2 ^ b) % 2 == 1)
  end
  put(prefix .. 'n:' .. path .. ':neg', negative)
  for _, t in ipairs(LADDER) do
    put(prefix .. 'r:' .. path .. ':' .. t, magnitude >= t and not negative)
  end
  put(prefix .. 'x:' .. path, exists)
  i = i + 5 + n
end
return 1
"""

# Behaviour: KEYS = gone, alive, registry, scanned, pid; ARGV = uid, at, offset, person id, key prefix,
# cap, then per period: key (without the ":<k>"), count in the period, expire at (epoch s). Sets the
# ">= k" bits for k <= count and clears the others (a merge undone takes counts away).
_ACTIVITY = """
local g = redis.call('HGET', KEYS[1], ARGV[1])
if g then
  local kind = string.sub(g, 1, 1)
  if kind == 'f' then return 0 end
  if kind == 'm' and tonumber(ARGV[2]) <= tonumber(string.sub(g, 3)) then return 0 end
end
local offset = tonumber(ARGV[3])
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('SET', KEYS[4], '1', 'NX')
  redis.call('SETBIT', KEYS[2], LAST, 0)
end
redis.call('SETBIT', KEYS[2], offset, 1)
redis.call('SADD', KEYS[3], KEYS[2])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[5], ARGV[1], ARGV[4]) end
local cap = tonumber(ARGV[6])
local i = 7
while i <= #ARGV do
  local count = math.min(tonumber(ARGV[i + 1]), cap)
  for k = 1, cap do
    local key = ARGV[5] .. ARGV[i] .. ':' .. k
    if k <= count then
      if redis.call('EXISTS', key) == 0 then redis.call('SETBIT', key, LAST, 0) end
      redis.call('SETBIT', key, offset, 1)
      redis.call('EXPIREAT', key, tonumber(ARGV[i + 2]))
      redis.call('SADD', KEYS[3], key)
    elseif redis.call('STRLEN', key) * 8 > offset then
      redis.call('SETBIT', key, offset, 0)
    end
  end
  i = i + 3
end
return 1
"""

# Real-time membership: KEYS = outbox, pid, registry, membership bitmaps...; ARGV = uid, offset,
# workspace, cause, at (ms), then (segment id, wanted bit) per bitmap. A bit that differs is flipped
# and its enter/exit is queued in the shard's outbox stream in the same atomic script.
_FLIP = """
local offset = tonumber(ARGV[2])
local flipped = {}
for i = 4, #KEYS do
  local a = 6 + (i - 4) * 2
  local want = tonumber(ARGV[a + 1])
  if redis.call('GETBIT', KEYS[i], offset) ~= want then
    if redis.call('EXISTS', KEYS[i]) == 0 then redis.call('SETBIT', KEYS[i], LAST, 0) end
    redis.call('SETBIT', KEYS[i], offset, want)
    redis.call('SADD', KEYS[3], KEYS[i])
    local pid = redis.call('HGET', KEYS[2], ARGV[1]) or ''
    redis.call('XADD', KEYS[1], '*', 'segment', ARGV[a], 'change', want == 1 and 'enter' or 'exit',
      'uid', ARGV[1], 'person', pid, 'workspace', ARGV[3], 'cause', ARGV[4], 'at', ARGV[5])
    flipped[#flipped + 1] = ARGV[a]
  end
end
return flipped
"""

# KEYS = the attribute's distinct values, the workspace's free attributes; ARGV = path, cap,
# value keys. 1 when the attribute has (now) more distinct values than the cap.
_ADMIT = """
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return 1 end
for i = 3, #ARGV do
  if redis.call('SISMEMBER', KEYS[1], ARGV[i]) == 0 then
    if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then
      redis.call('SADD', KEYS[2], ARGV[1])
      return 1
    end
    redis.call('SADD', KEYS[1], ARGV[i])
  end
end
return 0
"""

# KEYS = slices hash; ARGV = path, bit slices: keep the larger slice count. Returns 2 when the
# path is new here: a path first seen with a whole number joins `steps` (see _note_meta).
_MAX = """
local had = redis.call('HGET', KEYS[1], ARGV[1])
if not had then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 2
end
if tonumber(ARGV[2]) > tonumber(had) then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1
"""

# KEYS = gone; ARGV = uid, kind ('m' merged away, 'f' forgotten), at (ms).
# Returns the mark the erase must hold on to, or nil when the erase is stale
# (a merge replayed after the unmerge that undid it).
_MARK_GONE = """
local g = redis.call('HGET', KEYS[1], ARGV[1])
local at = tonumber(ARGV[3])
if g then
  local kind = string.sub(g, 1, 1)
  if kind == 'f' then return g end
  if ARGV[2] == 'm' and tonumber(string.sub(g, 3)) >= at then
    if kind == 'r' then return false end
    return g
  end
end
local mark = ARGV[2] .. ':' .. ARGV[3]
redis.call('HSET', KEYS[1], ARGV[1], mark)
return mark
"""

# KEYS = gone, outbox, pid, bitmaps...; ARGV = uid, mark, offset, workspace, cause, at (ms), reason,
# membership key prefix. Clears the uid's bit in each bitmap (without growing shorter ones); where a
# segment's membership bit was set, the exit goes to the shard's outbox in the same script, so a
# replay (bit already clear) announces nothing again. -1 when the mark changed meanwhile (an
# unmerge restored the uid), so the erase stops.
_CLEAR = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return -1 end
local offset = tonumber(ARGV[3])
local prefix = ARGV[8]
local pid = redis.call('HGET', KEYS[3], ARGV[1]) or ''
local cleared = 0
for i = 4, #KEYS do
  local key = KEYS[i]
  if redis.call('TYPE', key)['ok'] == 'string' and redis.call('STRLEN', key) * 8 > offset then
    local was = redis.call('SETBIT', key, offset, 0)
    cleared = cleared + was
    if was == 1 and string.sub(key, 1, #prefix) == prefix then
      redis.call('XADD', KEYS[2], '*', 'segment', string.sub(key, #prefix + 1), 'change', 'exit',
        'uid', ARGV[1], 'person', pid, 'workspace', ARGV[4], 'cause', ARGV[5], 'at', ARGV[6], 'reason', ARGV[7])
    end
  end
end
return cleared
"""

# KEYS = gone, alive, registry, scanned; ARGV = uid, at (ms), offset. An unmerge gives
# the uid back: alive again, and marked restored so a replayed older merge is ignored.
_RESTORE = """
local g = redis.call('HGET', KEYS[1], ARGV[1])
if g then
  if string.sub(g, 1, 1) == 'f' then return 0 end
  if tonumber(string.sub(g, 3)) > tonumber(ARGV[2]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], 'r:' .. ARGV[2])
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('SET', KEYS[4], '1', 'NX')
  redis.call('SETBIT', KEYS[2], LAST, 0)
end
redis.call('SETBIT', KEYS[2], tonumber(ARGV[3]), 1)
redis.call('SADD', KEYS[3], KEYS[2])
return 1
"""

_META_REPLIES = 6  # replies of BitmapIndex._meta_commands


def _first_key(command: tuple) -> Any:
    """The key a command is routed by (EVALSHA: its first KEYS entry)."""
    return command[3] if command[0] == "EVALSHA" else command[1]


# A bitmap is created at its full shard length: BITOP's fast path runs only up to the
# shortest source, so one short key would slow every rule that reads it.
_APPLY, _ACTIVITY, _FLIP, _RESTORE = (
    script.replace("LAST", str(SHARD_MASK)).replace("LADDER", "{" + ",".join(map(str, enc.LADDER)) + "}")
    for script in (_APPLY, _ACTIVITY, _FLIP, _RESTORE)
)

_RUN = _RUN.replace("FULL_BYTES", str((SHARD_MASK + 1) // 8))

# KEYS = lock; ARGV = token: release only our own lock (it may have expired and been taken since).
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS = lock; ARGV = token, ttl (ms): extend the lock if it is still ours.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

MERGED = "m"
FORGOTTEN = "f"
# How long a person stays locked by a replica that died holding it; a live holder renews it
# every third of that, so a slow store cannot let a second replica in beside it.
PERSON_LOCK_MS = 10_000
_CLEAR_CHUNK = 500
OUTBOXES = "cdp:outboxes"


def _tag(workspace: str, shard: int) -> str:
    return f"cdp:{{{workspace}:{shard}}}"


def alive_key(workspace: str, shard: int) -> str:
    return f"{_tag(workspace, shard)}:alive"


def trait_key(workspace: str, shard: int, trait: str, value: Any) -> str | None:
    """The value bitmap of traits.<trait> = value (numbers: whole 0..200 only)."""
    path = f"traits.{trait}"
    number = enc.as_number(path, value)
    if number is not None:
        value = enc.small_int(path, number)
        if value is None:
            return None
    key = enc.value_key(path, value)
    return None if key is None else f"{_tag(workspace, shard)}:{key}"


def shard_key(workspace: str, shard: int, suffix: str) -> str:
    return f"{_tag(workspace, shard)}:{suffix}"


def shards_key(workspace: str) -> str:
    return f"cdp:ws:{workspace}:shards"


def meta_keys(workspace: str) -> tuple[str, str, str]:
    base = f"cdp:ws:{workspace}"
    return f"{base}:slices", f"{base}:wide", f"{base}:neg"


def steps_key(workspace: str) -> str:
    """Whole-number paths whose step bitmaps (encoding.step_key) cover every person."""
    return f"cdp:ws:{workspace}:steps"


def free_key(workspace: str) -> str:
    """Attributes with too many distinct values to index each value (hash tag: one slot with `vals`)."""
    return f"cdp:ws:{{{workspace}}}:free"


def values_key(workspace: str, path: str) -> str:
    return f"cdp:ws:{{{workspace}}}:vals:{path}"


MAX_VALUES = 1000  # distinct text values indexed per attribute and workspace


def gone_key(workspace: str, shard: int) -> str:
    return f"{_tag(workspace, shard)}:gone"


def registry_key(workspace: str, shard: int) -> str:
    return f"{_tag(workspace, shard)}:keys"


def outbox_key(workspace: str, shard: int) -> str:
    return f"{_tag(workspace, shard)}:outbox"


def pid_key(workspace: str, shard: int) -> str:
    return f"{_tag(workspace, shard)}:pid"


def lock_key(workspace: str, uid: int) -> str:
    shard, _ = shard_of(uid)
    return f"{_tag(workspace, shard)}:lock:{uid}"


def _scanned_key(workspace: str, shard: int) -> str:
    return f"{_tag(workspace, shard)}:keys:scanned"


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "\\*?[]" else c for c in text)


def _now_ms() -> int:
    return int(time.time() * 1000)


Resolve = Callable[[str], Node]
log = logging.getLogger(__name__)


class BitmapIndex:
    def __init__(self, redis: aioredis.Redis, max_values: int = MAX_VALUES) -> None:
        self.redis = redis
        self.max_values = max_values
        self._admit = redis.register_script(_ADMIT)
        self._admitted: set[tuple[str, str, str]] = set()
        self._run = redis.register_script(_RUN)
        self._apply = redis.register_script(_APPLY)
        self._activity = redis.register_script(_ACTIVITY)
        self._flip = redis.register_script(_FLIP)
        self._max = redis.register_script(_MAX)
        self._mark_gone = redis.register_script(_MARK_GONE)
        self._clear = redis.register_script(_CLEAR)
        self._restore = redis.register_script(_RESTORE)
        self._unlock = redis.register_script(_UNLOCK)
        self._renew = redis.register_script(_RENEW)
        self._outboxes: set[str] = set()
        self._packed: dict[tuple, Any] = {}  # encoded requests (a routing plan on a cluster)
        # A Redis Cluster client (shards spread over nodes) has no single connection pool.
        self.cluster = not hasattr(redis, "connection_pool")
        self._wide_cache: dict[str, tuple[float, set[str]]] = {}
        # (workspace, path) -> (when, slices this process recorded): skips the round trip of a
        # _max that cannot change anything (kept a second, like the wide cache, so a reset
        # index is noticed).
        self._slices_seen: dict[tuple[str, str], tuple[float, int]] = {}

    @contextlib.asynccontextmanager
    async def person_lock(self, workspace: str, *uids: int, ttl_ms: int = PERSON_LOCK_MS) -> AsyncIterator[None]:
        """Hold the persons (sorted, so two holders of the same pair cannot deadlock) for one record's work.

        A consumer-group rebalance lets the old member finish its batch while the new one
        re-reads the partition from the last commit, so two replicas can handle one person
        at once; without this a replica could write bitmaps from a document it read before
        the other's newer write, and flip membership from those stale bits (a lost exit).
        """
        token = uuid.uuid4().hex
        held: list[str] = []
        # Renewing from the start: while this waits for a second person (whose holder may keep
        # it a while), the first one's lock must not lapse.
        renewing = asyncio.create_task(self._keep_locks(held, token, ttl_ms))
        try:
            for uid in sorted(set(uids)):
                key = lock_key(workspace, uid)
                delay = 0.005
                while not await self.redis.set(key, token, nx=True, px=ttl_ms):
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 0.2)
                held.append(key)
            yield
        finally:
            renewing.cancel()
            for key in held:
                await self._unlock(keys=[key], args=[token])

    async def _keep_locks(self, keys: list[str], token: str, ttl_ms: int) -> None:
        """Extend the locks in `keys` (a list that grows as they are taken) every third of their TTL."""
        while True:
            await asyncio.sleep(ttl_ms / 3000)
            try:
                # One key per script: two persons' locks sit in different slots on a cluster.
                for key in list(keys):
                    await self._renew(keys=[key], args=[token, ttl_ms])
            except Exception:
                log.warning("person lock not renewed", exc_info=True)

    # -- writes (idempotent: they set a person's current values) -------------
    async def apply(
        self, workspace: str, uid: int, values: dict[str, Any], at_ms: int | None = None, person_id: str = ""
    ) -> bool:
        """Set the person's attributes (path -> current value, None when absent) in every bitmap.

        False when dropped because the uid is forgotten, or merged away since `at_ms`.
        """
        shard, offset = shard_of(uid)
        args: list[Any] = []
        slices: dict[str, int] = {}
        small: set[str] = set()
        wide, negative = [], []
        known_wide = await self._wide(workspace)
        for path, value in values.items():
            number = enc.as_number(path, value)
            if number is not None and enc.small_int(path, number) is None:
                known_wide.add(path)
        for path, value in values.items():
            e = enc.encode(path, value, path in known_wide)
            if e.values and e.number is None and not path.startswith("tags.") and await self._free(workspace, path, e):
                e.values = []  # free text (emails, names): only "exists" is indexed
            magnitude = -1 if e.number is None else abs(e.number)
            if e.number is not None:
                slices[path] = max(slices.get(path, 0), abs(e.number).bit_length())
                if e.number < 0:
                    negative.append(path)
                if enc.small_int(path, e.number) is None:
                    wide.append(path)
                else:
                    small.add(path)
            args += [path, magnitude, int(e.number is not None and e.number < 0), int(e.exists), len(e.values)]
            args += e.values
        await self._note_meta(workspace, shard, slices, wide, negative, small)
        applied = await self._apply(
            keys=[
                gone_key(workspace, shard),
                alive_key(workspace, shard),
                registry_key(workspace, shard),
                _scanned_key(workspace, shard),
                pid_key(workspace, shard),
                shard_key(workspace, shard, "ns"),
            ],
            args=[uid, _now_ms() if at_ms is None else at_ms, offset, person_id, _tag(workspace, shard) + ":", *args],
        )
        return bool(applied)

    async def _free(self, workspace: str, path: str, e: enc.Encoded) -> bool:
        """Whether the attribute has too many distinct values to index each (see MAX_VALUES)."""
        new = [v for v in e.values if (workspace, path, v) not in self._admitted]
        if not new:
            return False
        free = await self._admit(
            keys=[values_key(workspace, path), free_key(workspace)], args=[path, self.max_values, *new]
        )
        if free:
            return True
        if len(self._admitted) > 200_000:
            self._admitted.clear()
        self._admitted.update((workspace, path, v) for v in new)
        return False

    async def _wide(self, workspace: str) -> set[str]:
        """Paths known to be wide; only ever grows, so a cached copy errs towards writing more."""
        cached = self._wide_cache.get(workspace)
        if cached is None or time.monotonic() - cached[0] > 1.0:
            _, wide_key, _ = meta_keys(workspace)
            cached = (time.monotonic(), {w.decode() for w in await self.redis.smembers(wide_key)})
            self._wide_cache[workspace] = cached
        return set(cached[1])

    async def apply_trait_changes(
        self, workspace: str, uid: int, changes: list[tuple[str, Any, Any]], at_ms: int | None = None
    ) -> bool:
        """Traits by name -> their new values (the foundation's interface)."""
        return await self.apply(workspace, uid, {f"traits.{t}": after for t, _, after in changes}, at_ms)

    async def _note_meta(
        self, workspace: str, shard: int, slices: dict, wide: list, negative: list, small: set[str]
    ) -> None:
        # Before the bits: a compile that sees the bits must also see that it needs more slices.
        slices_key, wide_key, neg_key = meta_keys(workspace)
        pipe = self.redis.pipeline(transaction=False)
        pipe.sadd(shards_key(workspace), shard)
        if wide:
            pipe.sadd(wide_key, *wide)
        if negative:
            pipe.sadd(neg_key, *negative)
        await pipe.execute()
        for path, bits in slices.items():
            seen = self._slices_seen.get((workspace, path))
            if seen is not None and seen[1] >= bits and time.monotonic() - seen[0] < 1.0:
                continue  # recorded at least this many slices a moment ago; the hash only grows
            first = await self._max(keys=[slices_key], args=[path, bits]) == 2
            if len(self._slices_seen) > 100_000:
                self._slices_seen.clear()
            self._slices_seen[(workspace, path)] = (time.monotonic(), bits)
            if first and path in small:
                # Every value of the path written from now on sets its step bitmaps (values written
                # before this path was known did not), so the compiler may use them. Its own
                # command: the steps set lives in another slot than the slices hash on a cluster.
                await self.redis.sadd(steps_key(workspace), path)

    async def record_activity(
        self,
        workspace: str,
        uid: int,
        counts: list[tuple[str, int, int]],
        at_ms: int,
        person_id: str = "",
    ) -> bool:
        """counts: (period key suffix without ':<k>', count in the period so far, expire at)."""
        shard, offset = shard_of(uid)
        await self.redis.sadd(shards_key(workspace), shard)
        args: list[Any] = []
        for suffix, count, expire in counts:
            args += [suffix, count, expire]
        done = await self._activity(
            keys=[
                gone_key(workspace, shard),
                alive_key(workspace, shard),
                registry_key(workspace, shard),
                _scanned_key(workspace, shard),
                pid_key(workspace, shard),
            ],
            args=[uid, at_ms, offset, person_id, _tag(workspace, shard) + ":", enc.COUNT_CAP, *args],
        )
        return bool(done)

    async def flip(self, workspace: str, uid: int, wanted: dict[str, bool], cause: str, at_ms: int) -> list[str]:
        """Make the person's membership bits say `wanted`; returns the segments that flipped.

        Each flip and its enter/exit entry in the shard's outbox are one script, so
        neither exists without the other; the relay moves entries to Kafka.
        """
        if not wanted:
            return []
        shard, offset = shard_of(uid)
        await self._register_outbox(workspace, shard)
        segments = sorted(wanted)
        args: list[Any] = [uid, offset, workspace, cause, at_ms]
        for s in segments:
            args += [s, int(wanted[s])]
        flipped = await self._flip(
            keys=[
                outbox_key(workspace, shard),
                pid_key(workspace, shard),
                registry_key(workspace, shard),
                *(shard_key(workspace, shard, enc.membership_key(s)) for s in segments),
            ],
            args=args,
        )
        return [f.decode() if isinstance(f, bytes) else f for f in flipped]

    async def register(self, workspace: str, shard: int, *suffixes: str) -> None:
        """Put bitmaps written outside the write scripts into the shard's registry (so erasing finds them)."""
        if suffixes:
            await self.redis.sadd(registry_key(workspace, shard), *(shard_key(workspace, shard, s) for s in suffixes))

    async def _register_outbox(self, workspace: str, shard: int) -> None:
        key = outbox_key(workspace, shard)
        if key not in self._outboxes:
            await self.redis.sadd(OUTBOXES, key)
            self._outboxes.add(key)

    async def retire(
        self, workspace: str, uid: int, kind: str, at_ms: int, cause: str = "", segments: list[str] | None = None
    ) -> int | None:
        """Erase a uid from every bitmap of its shard, `alive` and memberships included.

        kind is MERGED (the uid was merged into another person) or FORGOTTEN.
        Each segment the uid was a member of announces its exit (reason "merged" or
        "forgotten"), written with the bit clear. Returns how many bits were cleared,
        or None when the erase was stale (a merge that an unmerge already undid) or
        interrupted by an unmerge. Idempotent: a replay clears and announces nothing more.
        """
        shard, offset = shard_of(uid)
        gone = gone_key(workspace, shard)
        mark = await self._mark_gone(keys=[gone], args=[uid, kind, at_ms])
        if mark is None:
            return None
        await self._register_outbox(workspace, shard)
        reason = "merged" if kind == MERGED else "forgotten"
        prefix = shard_key(workspace, shard, enc.membership_key(""))
        cleared = 0
        # The segments' membership bitmaps first: ones written before they were registered
        # are not in the registry (a key met twice clears and announces nothing the second time).
        memberships = [shard_key(workspace, shard, enc.membership_key(s)) for s in segments or []]
        chunks = [memberships[i : i + _CLEAR_CHUNK] for i in range(0, len(memberships), _CLEAR_CHUNK)]

        async def every_chunk():
            for c in chunks:
                yield c
            async for c in self._bitmap_keys(workspace, shard):
                yield c

        async for chunk in every_chunk():
            n = await self._clear(
                keys=[gone, outbox_key(workspace, shard), pid_key(workspace, shard), *chunk],
                args=[uid, mark, offset, workspace, cause or f"{reason}:{uid}", at_ms, reason, prefix],
            )
            if n < 0:
                return None
            cleared += n
        if kind == FORGOTTEN:
            await self.redis.hdel(pid_key(workspace, shard), uid)
        return cleared

    async def restore(self, workspace: str, uid: int, at_ms: int) -> bool:
        """An unmerge gave the uid back: make it alive (its traits come through profile.changed)."""
        shard, offset = shard_of(uid)
        await self.redis.sadd(shards_key(workspace), shard)
        restored = await self._restore(
            keys=[
                gone_key(workspace, shard),
                alive_key(workspace, shard),
                registry_key(workspace, shard),
                _scanned_key(workspace, shard),
            ],
            args=[uid, at_ms, offset],
        )
        return bool(restored)

    async def gone(self, workspace: str, uid: int, at_ms: int) -> bool:
        """Whether a change made at `at_ms` for this uid must be dropped (see retire)."""
        shard, _ = shard_of(uid)
        mark = await self.redis.hget(gone_key(workspace, shard), uid)
        if not mark:
            return False
        mark = mark.decode()
        return mark[0] == "f" or (mark[0] == "m" and at_ms <= int(mark[2:]))

    async def _bitmap_keys(self, workspace: str, shard: int) -> AsyncIterator[list[bytes]]:
        """The shard's bitmap keys from its registry, in chunks for one script call each."""
        await self._backfill_registry(workspace, shard)
        chunk: list[bytes] = []
        async for key in self.redis.sscan_iter(registry_key(workspace, shard), count=_CLEAR_CHUNK):
            chunk.append(key)
            if len(chunk) >= _CLEAR_CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    async def _backfill_registry(self, workspace: str, shard: int) -> None:
        """Register bitmaps written before the registry existed: one SCAN per shard, ever."""
        scanned = _scanned_key(workspace, shard)
        if await self.redis.exists(scanned):
            return
        if not await self.redis.exists(alive_key(workspace, shard)):
            # Every write ever made sets alive: without it the shard holds no bitmap to find.
            await self.redis.set(scanned, b"1")
            return
        tag = _tag(workspace, shard)
        skip = (f"{tag}:tmp:".encode(), scanned.encode())
        registry = registry_key(workspace, shard)
        found: list[bytes] = []
        async for key in self.redis.scan_iter(match=f"{_glob_escape(tag)}:*", count=1000, _type="string"):
            if not key.startswith(skip[0]) and key != skip[1]:
                found.append(key)
                if len(found) >= _CLEAR_CHUNK:
                    await self.redis.sadd(registry, *found)
                    found = []
        if found:
            await self.redis.sadd(registry, *found)
        await self.redis.set(scanned, b"1")

    # -- reads ---------------------------------------------------------------
    async def shards(self, workspace: str) -> list[int]:
        return sorted(int(s) for s in await self.redis.smembers(shards_key(workspace)))

    @staticmethod
    def _meta_commands(workspace: str) -> list[tuple]:
        slices_key, wide_key, neg_key = meta_keys(workspace)
        return [
            ("HGETALL", slices_key),
            ("SMEMBERS", wide_key),
            ("SMEMBERS", neg_key),
            ("SMEMBERS", shards_key(workspace)),
            ("SMEMBERS", free_key(workspace)),
            ("SMEMBERS", steps_key(workspace)),
        ]

    @staticmethod
    def _meta_of(replies: list[Any]) -> Meta:
        slices, wide, negative, shards, free, steps = replies
        if isinstance(slices, list):  # HGETALL as a flat list (no response callback on this path)
            slices = dict(zip(slices[::2], slices[1::2], strict=True))
        return Meta(
            slices={k.decode(): int(v) for k, v in slices.items()},
            wide={w.decode() for w in wide},
            negative={n.decode() for n in negative},
            shards=sorted(int(s) for s in shards),
            free={f.decode() for f in free},
            steps={p.decode() for p in steps},
        )

    async def meta(self, workspace: str) -> Meta:
        """What the compiler needs, and the shards in use, in one round trip."""
        return self._meta_of(await self._roundtrip(self._meta_commands(workspace)))

    async def compile(
        self, workspace: str, node: Node, today: dt.date | None = None, resolve: Resolve | None = None
    ) -> Program:
        today = today or dt.datetime.now(dt.UTC).date()
        return compile_rule(node, await self.meta(workspace), today, resolve)

    async def count(
        self, workspace: str, node: Node, today: dt.date | None = None, resolve: Resolve | None = None
    ) -> int:
        """Members of the rule over every shard; shards run concurrently."""
        meta = await self.meta(workspace)
        program = compile_rule(node, meta, today or dt.datetime.now(dt.UTC).date(), resolve)
        return await self.count_program(workspace, program, meta.shards)

    def _run_call(
        self,
        workspace: str,
        shard: int,
        program: Program,
        mode: str = "count",
        dest: str = "",
        ttl_ms: int = 0,
        limit: int = 0,
        segment: str = "",
        cause: str = "",
        at_ms: int = 0,
    ) -> tuple[list[str], list[Any]]:
        """KEYS and ARGV of the program runner over one shard."""
        temporaries = program.temporaries + 1
        keys = [
            *(shard_key(workspace, shard, k) for k in program.keys),
            alive_key(workspace, shard),
            dest or shard_key(workspace, shard, "tmp:dest"),
            outbox_key(workspace, shard),
            pid_key(workspace, shard),
            registry_key(workspace, shard),
            *(shard_key(workspace, shard, f"tmp:{n}") for n in range(temporaries)),
        ]
        head = [len(program.keys), mode, ttl_ms, limit, shard << SHARD_BITS, workspace, segment, cause, at_ms]
        return keys, [*head, *program.code]

    async def run_shard(self, workspace: str, shard: int, program: Program, **options) -> int:
        """One shard's script on its own (stores, reconciles)."""
        keys, args = self._run_call(workspace, shard, program, **options)
        return int(await self._run(keys=keys, args=args))

    def _count_commands(self, workspace: str, shards: list[int], program: Program) -> list[tuple]:
        if program.code[:1] == ["K"] and len(program.code) == 2:
            return [("BITCOUNT", shard_key(workspace, s, program.keys[0])) for s in shards]
        commands = []
        for s in shards:
            keys, args = self._run_call(workspace, s, program)
            commands.append(("EVALSHA", self._run.sha, len(keys), *keys, *args))
        return commands

    async def count_program(self, workspace: str, program: Program, shards: list[int] | None = None) -> int:
        """The program's count over every shard: one script per shard, all sent in one round trip.

        Redis runs them one after another; on a cluster the client splits the
        pipeline by node, and the nodes' shards run side by side.
        """
        shards = await self.shards(workspace) if shards is None else shards
        if not shards:
            return 0
        key = ("count", workspace, tuple(shards), tuple(program.keys), tuple(program.code))
        replies = await self._roundtrip(lambda: self._count_commands(workspace, shards, program), key)
        return int(sum(int(c) for c in replies))

    async def count_checked(self, workspace: str, program: Program, meta: Meta) -> int | None:
        """Count with a program compiled against `meta`, read again in the same round trip.

        None when the workspace's meta is no longer `meta` (the program may be
        out of date): the caller compiles again. Saves the separate meta round trip.
        """
        key = ("count+meta", workspace, tuple(meta.shards), tuple(program.keys), tuple(program.code))

        def commands() -> list[tuple]:
            return self._meta_commands(workspace) + self._count_commands(workspace, meta.shards, program)

        replies = await self._roundtrip(commands, key)
        if self._meta_of(replies[:_META_REPLIES]) != meta:
            return None
        return int(sum(int(c) for c in replies[_META_REPLIES:]))

    async def _roundtrip(self, build: Callable[[], list[tuple]] | list[tuple], cache_key: tuple | None = None) -> list:
        """Commands in one round trip (one pooled connection, or one per cluster node, all at once);
        raises the first error reply.

        With a cache key the encoded request (on a cluster: its split by node) is
        kept: a count asked again while an operator types or a dashboard refreshes
        costs no encoding.
        """
        for attempt in (1, 2):
            if self.cluster:
                replies = await self._cluster_roundtrip(build, cache_key)
            else:
                replies = await self._pooled_roundtrip(build, cache_key)
            if attempt == 1 and any(isinstance(r, NoScriptError) for r in replies):
                await self.redis.script_load(_RUN)  # Redis restarted or flushed its scripts
                continue
            for r in replies:
                if isinstance(r, Exception):
                    raise r
            return replies
        raise AssertionError("unreachable")

    async def _cluster_roundtrip(self, build, cache_key: tuple | None) -> list:
        """Each node's share of the commands, pre-encoded, sent to all nodes at once.

        The nodes run their shards' scripts side by side. A redirection (the cluster
        moved slots) drops the cached routing and goes through the client's pipeline,
        which follows redirections.
        """
        plan = self._packed.get(cache_key) if cache_key else None
        commands = None
        if plan is None:
            await self.redis.initialize()  # the slot map (a no-op once known)
            commands = build() if callable(build) else build
            by_node: dict[str, tuple[Any, list[int]]] = {}
            for i, command in enumerate(commands):
                node = self.redis.get_node_from_key(_first_key(command))
                by_node.setdefault(node.name, (node, []))[1].append(i)
            plan = []
            for node, positions in by_node.values():
                conn = node.acquire_connection()
                try:
                    packed = b"".join(conn.pack_commands([commands[i] for i in positions]))
                finally:
                    node.release(conn)
                plan.append((node, positions, packed))
            if cache_key:
                if len(self._packed) >= 512:
                    self._packed.pop(next(iter(self._packed)))
                self._packed[cache_key] = plan
        replies: list[Any] = [None] * sum(len(p[1]) for p in plan)

        async def on(node, positions: list[int], packed: bytes) -> None:
            conn = node.acquire_connection()
            try:
                got = await self._send_all(conn, packed, len(positions))
            finally:
                node.release(conn)
            for i, reply in zip(positions, got, strict=True):
                replies[i] = reply

        failures = await asyncio.gather(*(on(*p) for p in plan), return_exceptions=True)
        lost = [f for f in failures if isinstance(f, BaseException)]
        if lost and not all(isinstance(f, (RedisConnectionError, OSError)) for f in lost):
            raise lost[0]
        if lost or any(isinstance(r, AskError) for r in replies):  # AskError: MOVED too
            # Slots moved or a node went away: learn the cluster again, drop the cached routing,
            # and let the client's pipeline (which follows redirections) answer this time.
            self._packed.pop(cache_key, None)
            await self.redis.nodes_manager.initialize()
            commands = commands or (build() if callable(build) else build)
            pipe = self.redis.pipeline(transaction=False)
            for command in commands:
                pipe.execute_command(*command)
            return await pipe.execute(raise_on_error=False)
        return replies

    async def _pooled_roundtrip(self, build, cache_key: tuple | None) -> list:
        pool = self.redis.connection_pool
        conn = await pool.get_connection()
        try:
            packed = self._packed.get(cache_key) if cache_key else None
            if packed is None:
                commands = build() if callable(build) else build
                packed = (b"".join(conn.pack_commands(commands)), len(commands))
                if cache_key:
                    if len(self._packed) >= 512:
                        self._packed.pop(next(iter(self._packed)))
                    self._packed[cache_key] = packed
            return await self._send_all(conn, *packed)
        finally:
            await pool.release(conn)

    @staticmethod
    async def _send_all(conn, packed: bytes, n: int) -> list[Any]:
        """Send pre-encoded commands and read their n replies (error replies as exceptions in the list)."""
        try:
            await conn.send_packed_command(packed)
            replies: list[Any] = []
            for _ in range(n):
                try:
                    replies.append(await conn.read_response())
                except ResponseError as exc:
                    replies.append(exc)
            return replies
        except BaseException:
            # Replies may be left unread on this connection: never hand it back in that state.
            await conn.disconnect()
            raise

    def _bit_commands(self, workspace: str, uid: int, suffixes: list[str]) -> list[tuple]:
        shard, offset = shard_of(uid)
        return [("GETBIT", alive_key(workspace, shard), offset)] + [
            ("GETBIT", shard_key(workspace, shard, s), offset) for s in suffixes
        ]

    @staticmethod
    def _decide(programs: list[Program], suffixes: list[str], bits: list[Any]) -> list[bool]:
        alive = bool(bits[0])
        if not alive:
            return [False] * len(programs)
        values = {s: bool(b) for s, b in zip(suffixes, bits[1:], strict=True)}
        return [run_on_bits(p, values, alive) for p in programs]

    async def evaluate_bits(self, workspace: str, uid: int, programs: list[Program]) -> list[bool]:
        """Whether one person matches each program: one round trip for every bit needed."""
        suffixes = sorted({k for p in programs for k in p.keys})
        return self._decide(programs, suffixes, await self._roundtrip(self._bit_commands(workspace, uid, suffixes)))

    async def evaluate_checked(
        self, workspace: str, uid: int, programs: list[Program], meta: Meta
    ) -> list[bool] | None:
        """evaluate_bits for programs compiled against `meta`, re-read in the same round trip (see count_checked)."""
        suffixes = sorted({k for p in programs for k in p.keys})
        replies = await self._roundtrip(self._meta_commands(workspace) + self._bit_commands(workspace, uid, suffixes))
        if self._meta_of(replies[:_META_REPLIES]) != meta:
            return None
        return self._decide(programs, suffixes, replies[_META_REPLIES:])

    async def matches(self, workspace: str, uid: int, nodes: list[Node], today: dt.date | None = None) -> list[bool]:
        meta = await self.meta(workspace)
        today = today or dt.datetime.now(dt.UTC).date()
        return await self.evaluate_bits(workspace, uid, [compile_rule(n, meta, today) for n in nodes])
