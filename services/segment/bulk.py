"""Whole bitmaps written at once: the rebuild from MongoDB, and bulk loads (benchmark).

A shard's bitmaps are built in memory as packed bytes (Redis bit order: offset 0
is the high bit of byte 0) and written with one SET each, instead of one script
call per person. The rebuild computes each person's bits with the same
encoding.py functions as the real-time writer, so its counts equal the
real-time ones (tests/test_segment_realtime.py checks this).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from services.segment import encoding as enc
from services.segment.bitmaps import (
    _scanned_key,
    alive_key,
    free_key,
    meta_keys,
    pid_key,
    registry_key,
    shard_key,
    shards_key,
    steps_key,
)
from services.segment.people import attrs_of

SHARD_BYTES = 1 << (enc.SHARD_BITS - 3)


@dataclass
class ShardImage:
    """Everything one shard's Redis keys will hold, built in memory."""

    shard: int
    bitmaps: dict[str, bytearray] = field(default_factory=dict)
    value_sets: dict[str, set[str]] = field(default_factory=dict)  # path -> value key suffixes
    slices: dict[str, int] = field(default_factory=dict)
    pids: dict[int, str] = field(default_factory=dict)
    expiries: dict[str, int] = field(default_factory=dict)

    def set(self, suffix: str, offset: int) -> None:
        buf = self.bitmaps.get(suffix)
        if buf is None:
            buf = self.bitmaps[suffix] = bytearray(SHARD_BYTES)
        buf[offset >> 3] |= 0x80 >> (offset & 7)

    def person(self, offset: int, attrs: dict, meta: MetaImage) -> None:
        """One person's attributes, exactly as BitmapIndex.apply sets them."""
        self.set("alive", offset)
        for path, value in attrs.items():
            e = enc.encode(path, value, path in meta.wide)
            if not e.exists:
                continue
            if path in meta.free and e.number is None and not path.startswith("tags."):
                e.values = []
            self.set(enc.exists_key(path), offset)
            for key in e.values:
                self.set(key, offset)
                self.value_sets.setdefault(path, set()).add(key)
            if e.number is not None:
                magnitude = abs(e.number)
                bits = magnitude.bit_length()
                self.slices[path] = max(self.slices.get(path, 0), bits)
                meta.note(path, e.number)
                for b in range(bits):
                    if magnitude >> b & 1:
                        self.set(enc.slice_key(path, b), offset)
                if e.number < 0:
                    self.set(enc.neg_key(path), offset)
                else:
                    for t in enc.LADDER:
                        if t > magnitude:
                            break
                        self.set(enc.ladder_key(path, t), offset)

    def activity(self, offset: int, period_key: str, count: int, expire: int) -> None:
        for k in range(1, min(count, enc.COUNT_CAP) + 1):
            suffix = f"{period_key}:{k}"
            self.set(suffix, offset)
            self.expiries[suffix] = expire


@dataclass
class MetaImage:
    slices: dict[str, int] = field(default_factory=dict)
    wide: set[str] = field(default_factory=set)
    negative: set[str] = field(default_factory=set)
    free: set[str] = field(default_factory=set)  # see BitmapIndex._free

    def note(self, path: str, number: int) -> None:
        self.slices[path] = max(self.slices.get(path, 0), abs(number).bit_length())
        if number < 0:
            self.negative.add(path)
        if enc.small_int(path, number) is None:
            self.wide.add(path)


async def clear_workspace(redis, workspace: str, shards: list[int]) -> None:
    """Drop every attribute and behaviour bitmap (memberships, outboxes and erase marks stay)."""
    for shard in shards:
        prefix = shard_key(workspace, shard, "")
        keep = (prefix + "m:").encode()
        doomed = [k for k in await redis.smembers(registry_key(workspace, shard)) if not k.startswith(keep)]
        async for key in redis.scan_iter(match=f"{_glob(prefix)}vs:*", count=1000):
            doomed.append(key)
        doomed += [shard_key(workspace, shard, "ns").encode(), pid_key(workspace, shard).encode()]
        for i in range(0, len(doomed), 500):
            await redis.delete(*doomed[i : i + 500])
        await redis.srem(registry_key(workspace, shard), *doomed) if doomed else None
    await redis.delete(*meta_keys(workspace), steps_key(workspace))


def _glob(text: str) -> str:
    return "".join("\\" + c if c in "\\*?[]" else c for c in text)


async def write_shard(redis, workspace: str, image: ShardImage) -> None:
    """One SET per bitmap (full shard length, see bitmaps._APPLY), then the shard's registries."""
    pipe = redis.pipeline(transaction=False)
    keys = []
    for suffix, buf in image.bitmaps.items():
        if not any(buf):
            continue
        data = bytes(buf)
        key = shard_key(workspace, image.shard, suffix)
        pipe.set(key, data)
        if suffix in image.expiries:
            pipe.expireat(key, image.expiries[suffix])
        keys.append(key)
        if len(pipe) >= 200:
            await pipe.execute()
    for path, values in image.value_sets.items():
        pipe.sadd(shard_key(workspace, image.shard, f"vs:{path}"), *values)
    if image.slices:
        pipe.hset(shard_key(workspace, image.shard, "ns"), mapping=image.slices)
    pids = list(image.pids.items())
    for i in range(0, len(pids), 10_000):
        pipe.hset(pid_key(workspace, image.shard), mapping=dict(pids[i : i + 10_000]))
    for i in range(0, len(keys), 1000):
        pipe.sadd(registry_key(workspace, image.shard), *keys[i : i + 1000])
    pipe.set(_scanned_key(workspace, image.shard), b"1")
    pipe.sadd(shards_key(workspace), image.shard)
    await pipe.execute()


async def write_meta(redis, workspace: str, meta: MetaImage) -> None:
    slices_key, wide_key, neg_key = meta_keys(workspace)
    pipe = redis.pipeline(transaction=False)
    if meta.slices:
        pipe.hset(slices_key, mapping=meta.slices)
    if meta.wide:
        pipe.sadd(wide_key, *meta.wide)
    if meta.negative:
        pipe.sadd(neg_key, *meta.negative)
    # Every person was just encoded with step bitmaps: whole-number paths may use them.
    steps = [p for p in meta.slices if p not in meta.wide and enc.scale(p) == 100]
    if steps:
        pipe.sadd(steps_key(workspace), *steps)
    await pipe.execute()


async def rebuild(audiences, workspace: str) -> int:
    """Every attribute and behaviour bitmap of the workspace again, from MongoDB alone.

    Membership bitmaps (what was announced) are kept; segments without one get
    their baseline. Returns the number of persons.
    """
    index, people = audiences.index, audiences.people
    images: dict[int, ShardImage] = {}
    meta = MetaImage()
    today = dt.datetime.now(dt.UTC).date()
    persons = 0
    docs = [d async for d in people.people.find({"workspace": workspace})]
    # Which attributes are wide or free decides which bitmaps exist: known before writing.
    meta.free = {f.decode() for f in await index.redis.smembers(free_key(workspace))}
    distinct: dict[str, set[str]] = {}
    for doc in docs:
        for path, value in attrs_of(doc).items():
            number = enc.as_number(path, value)
            if number is not None:
                meta.note(path, number)
            elif not path.startswith("tags."):
                distinct.setdefault(path, set()).update(enc.encode(path, value).values)
    meta.free |= {p for p, values in distinct.items() if len(values) > index.max_values}
    if meta.free:
        await index.redis.sadd(free_key(workspace), *meta.free)
    for doc in docs:
        shard, offset = enc.shard_of(doc["uid"])
        if await index.gone(workspace, doc["uid"], 0):
            continue
        image = images.setdefault(shard, ShardImage(shard))
        image.person(offset, attrs_of(doc), meta)
        if doc.get("person_id"):
            image.pids[doc["uid"]] = doc["person_id"]
        persons += 1
    async for doc in people.activity.find({"workspace": workspace}):
        if doc.get("merged_into") is not None or doc["count"] <= 0:
            continue
        shard, offset = enc.shard_of(doc["uid"])
        start = dt.datetime.strptime(doc["day"], "%Y%m%d").date()
        last = start if doc["period"] == "d" else start + dt.timedelta(days=6)
        if last < today - dt.timedelta(days=enc.RETENTION_DAYS):
            continue
        image = images.setdefault(shard, ShardImage(shard))
        image.set("alive", offset)
        image.activity(offset, f"e:{doc['key']}:{doc['period']}:{doc['day']}", doc["count"], enc.expires_at(last))
    await clear_workspace(index.redis, workspace, sorted(set(await index.shards(workspace)) | set(images)))
    await write_meta(index.redis, workspace, meta)
    await asyncio.gather(*(write_shard(index.redis, workspace, image) for image in images.values()))
    for segment_id in await _without_membership(audiences, workspace):
        await audiences.baseline(workspace, segment_id)
    return persons


async def _without_membership(audiences, workspace: str) -> list[str]:
    shards = await audiences.index.shards(workspace)
    out = []
    for segment_id in await audiences.definitions(workspace):
        keys = [shard_key(workspace, s, enc.membership_key(segment_id)) for s in shards]
        if keys and not await audiences.index.redis.exists(*keys):
            out.append(segment_id)
    return out


def packed(bits: np.ndarray) -> bytes:
    """A boolean column (one entry per offset) as Redis bitmap bytes."""
    return np.packbits(bits.astype(np.uint8, copy=False)).tobytes()


__all__ = ["ShardImage", "MetaImage", "alive_key", "packed", "rebuild", "write_meta", "write_shard"]
