"""Segment count from bitmaps vs the same question asked of the profile documents.

Same people, same rule, same run: the bitmap count (one Lua script per shard)
against MongoDB `count_documents` over profile documents with the same traits
(how a profile store without a bitmap index answers), and against a Python
scan of the same people held in memory.
"""

from __future__ import annotations

import random
import statistics
import time

import redis.asyncio as aioredis
from pymongo import AsyncMongoClient

from services.kit.rules import parse
from services.segment.bitmap_keys import alive_key, shards_key, trait_key
from services.segment.bitmaps import BitmapIndex
from services.segment.encoding import SHARD_BITS, shard_of

RULE = 'traits.gender = "female" AND traits.age_band = "25-34" AND traits.vip = true'
AGE_BANDS = ["18-24", "25-34", "35-44", "45-54"]


def people(n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    return [
        {"gender": rng.choice(["female", "male"]), "age_band": rng.choice(AGE_BANDS), "vip": rng.random() < 0.2}
        for _ in range(n)
    ]


async def load_bitmaps(redis: aioredis.Redis, workspace: str, persons: list[dict], first_uid: int = 1) -> None:
    """Write whole bitmaps at once (set-up, not measured): one byte array per key."""
    size = 1 << (SHARD_BITS - 3)
    arrays: dict[str, bytearray] = {}

    def mark(key: str, offset: int) -> None:
        buf = arrays.setdefault(key, bytearray(size))
        buf[offset >> 3] |= 0x80 >> (offset & 7)

    shards = set()
    for i, traits in enumerate(persons):
        shard, offset = shard_of(first_uid + i)
        shards.add(shard)
        mark(alive_key(workspace, shard), offset)
        for name, value in traits.items():
            mark(trait_key(workspace, shard, name, value), offset)
    pipe = redis.pipeline(transaction=False)
    for key, buf in arrays.items():
        pipe.set(key, bytes(buf))
    pipe.sadd(shards_key(workspace), *shards)
    await pipe.execute()


async def load_random_bitmaps(redis: aioredis.Redis, workspace: str, n: int, seed: int = 9) -> int:
    """Bitmaps for n people built shard by shard from random bits (no per-person objects).

    Values stay consistent (each person has exactly one gender and one age band);
    returns the true member count of RULE, computed with integer bit counts.
    """
    rng = random.Random(seed)
    per_shard = 1 << SHARD_BITS
    expected, shards = 0, []
    for shard in range((n + 1 + per_shard - 1) // per_shard):
        first = shard * per_shard
        width = min(per_shard, n + 1 - first)
        alive = (1 << width) - 1
        if shard == 0:
            alive &= ~(1 << 0)  # uid 0 is never allocated
        female = rng.getrandbits(width) & alive
        a, b = rng.getrandbits(width), rng.getrandbits(width)
        bands = [~a & ~b & alive, ~a & b & alive, a & ~b & alive, a & b & alive]
        vip = rng.getrandbits(width) & rng.getrandbits(width) & alive  # about a quarter
        bitmaps = {
            alive_key(workspace, shard): alive,
            trait_key(workspace, shard, "gender", "female"): female,
            trait_key(workspace, shard, "gender", "male"): alive & ~female,
            trait_key(workspace, shard, "vip", True): vip,
            trait_key(workspace, shard, "vip", False): alive & ~vip,
            **{
                trait_key(workspace, shard, "age_band", band): bits for band, bits in zip(AGE_BANDS, bands, strict=True)
            },
        }
        expected += (female & bands[1] & vip).bit_count()
        pipe = redis.pipeline(transaction=False)
        for key, bits in bitmaps.items():
            pipe.set(key, _as_redis_bytes(bits, per_shard))
        await pipe.execute()
        shards.append(shard)
    await redis.sadd(shards_key(workspace), *shards)
    return expected


def _as_redis_bytes(bits: int, width: int) -> bytes:
    """Redis numbers bits from the most significant bit of byte 0; Python ints from bit 0."""
    raw = bits.to_bytes(width // 8, "little")
    return bytes(_REVERSED[byte] for byte in raw)


_REVERSED = [int(f"{i:08b}"[::-1], 2) for i in range(256)]


async def timed(fn, repeat: int) -> tuple[float, object]:
    samples, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = await fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), result


async def run(stack, persons: int, large: int) -> list[str]:
    redis = aioredis.from_url(stack.redis_url)
    index = BitmapIndex(redis)
    rule = parse(RULE)
    data = people(persons)
    expected = sum(p["gender"] == "female" and p["age_band"] == "25-34" and p["vip"] for p in data)

    await load_bitmaps(redis, "bench-small", data)
    bitmap_ms, count = await timed(lambda: index.count("bench-small", rule), 30)
    assert count == expected, (count, expected)

    mongo = AsyncMongoClient(stack.mongo_url)
    profiles = mongo[stack.mongo_db]["bench_profiles"]
    await profiles.drop()
    for start in range(0, persons, 5000):
        chunk = data[start : start + 5000]
        await profiles.insert_many(
            [{"workspace": "bench", "uid": start + i + 1, "traits": t} for i, t in enumerate(chunk)]
        )
    query = {"workspace": "bench", "traits.gender": "female", "traits.age_band": "25-34", "traits.vip": True}
    mongo_ms, mongo_count = await timed(lambda: profiles.count_documents(query), 3)
    assert mongo_count == expected

    async def scan() -> int:
        return sum(p["gender"] == "female" and p["age_band"] == "25-34" and p["vip"] for p in data)

    scan_ms, _ = await timed(scan, 10)

    lines = [
        f"segment count, {persons:,} persons, rule of 3 conditions ({expected:,} members):",
        f"  bitmaps (Lua per shard)     {bitmap_ms:9.2f} ms   median of 30",
        f"  MongoDB count_documents     {mongo_ms:9.2f} ms   {mongo_ms / bitmap_ms:8.1f}x the bitmap time",
        f"  Python scan of the same     {scan_ms:9.2f} ms   {scan_ms / bitmap_ms:8.1f}x the bitmap time",
    ]
    if large:
        expected_big = await load_random_bitmaps(redis, "bench-large", large)
        big_ms, big_count = await timed(lambda: index.count("bench-large", rule), 10)
        assert big_count == expected_big, (big_count, expected_big)
        shards = len(await index.shards("bench-large"))
        lines.append(
            f"  bitmaps at {large:,} persons ({shards} shards) {big_ms:9.2f} ms   "
            f"{big_ms / bitmap_ms:6.1f}x the time for {large / persons:.0f}x the people ({big_count:,} members)"
        )
    await profiles.drop()
    await mongo.close()
    await redis.aclose()
    return lines
