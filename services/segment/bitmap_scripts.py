"""The Lua scripts of the bitmap index (bitmaps.py runs them; bitmap_keys.py names their keys).

Each script is one atomic step on one shard's keys (all in one Redis Cluster
slot): the program runner, the writes (attributes, behaviour, membership
flips), the erase of a person, and the person locks' release and renewal.
"""

from __future__ import annotations

from services.segment import encoding as enc
from services.segment.encoding import SHARD_MASK

# The program runner (plan.py's stack machine) over one shard.
# KEYS = program keys (nk), alive, dest, outbox, pid, registry, temporaries...
# ARGV = nk, mode, ttl_ms, limit, base_uid, workspace, segment, cause, at, code...
# mode 'count': BITCOUNT of the result. 'store': copy the result into dest (ttl_ms > 0: expiring).
# 'reconcile': dest is a segment's membership bitmap; flip up to `limit` bits where it differs
# from the result, each with an outbox entry, in this one atomic script; returns the flips.
RUN = """
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

# Set a person's attributes to their current values (see the docstring of bitmaps.py).
# KEYS = gone, alive, registry, scanned, pid, ns; ARGV = uid, at (ms), offset, person id, key prefix,
# then per attribute: path, magnitude (-1: not a number), negative (0/1), exists (0/1), n, n value keys.
# Skips everything when the uid is forgotten, or merged away at or after `at`.
APPLY = """
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
ACTIVITY = """
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
FLIP = """
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
ADMIT = """
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
# path is new here: a path first seen with a whole number joins `steps` (see BitmapIndex._note_meta).
MAX = """
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
MARK_GONE = """
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
CLEAR = """
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
RESTORE = """
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


# A bitmap is created at its full shard length: BITOP's fast path runs only up to the
# shortest source, so one short key would slow every rule that reads it.
APPLY, ACTIVITY, FLIP, RESTORE = (
    script.replace("LAST", str(SHARD_MASK)).replace("LADDER", "{" + ",".join(map(str, enc.LADDER)) + "}")
    for script in (APPLY, ACTIVITY, FLIP, RESTORE)
)

RUN = RUN.replace("FULL_BYTES", str((SHARD_MASK + 1) // 8))

# KEYS = lock; ARGV = token: release only our own lock (it may have expired and been taken since).
UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS = lock; ARGV = token, ttl (ms): extend the lock if it is still ours.
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

# KEYS = a value bitmap, the shard's registry, the attribute's `vs` set; ARGV = the bitmap's
# suffix (its `vs` member). A value bitmap nobody's bit is set in any more goes, with its
# entries: its key names the value, which must not outlive the last person who had it (an
# erasure). Atomic with the check, so a bit set meanwhile keeps it. Returns 1 when it went.
PRUNE = """
if redis.call('BITCOUNT', KEYS[1]) ~= 0 then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], KEYS[1])
redis.call('SREM', KEYS[3], ARGV[1])
return 1
"""
