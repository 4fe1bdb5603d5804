"""Bounded body reading: a gzip bomb costs at most the budget before it is refused."""

from __future__ import annotations

import asyncio
import gzip
import time

import pytest

from services.kit.bounded_body import BodyTooLarge, BoundedInflater, read_bounded
from services.kit.errors import InvalidInput

CAP = 500 * 1024


def _chunks(data: bytes, size: int = 4096):
    async def gen():
        for i in range(0, len(data), size):
            yield data[i : i + size]

    return gen()


def test_an_8_kb_bomb_of_8_mb_stops_after_at_most_the_cap_is_inflated():
    bomb = gzip.compress(b"\0" * (8 * 1024 * 1024), 9)
    assert len(bomb) < 9 * 1024
    inflater = BoundedInflater(CAP)
    started = time.perf_counter()
    with pytest.raises(BodyTooLarge):
        inflater.feed(bomb)  # all at once: max_length must bound it, not the chunking
    assert CAP < inflater.inflated <= CAP + 1
    assert time.perf_counter() - started < 0.5
    with pytest.raises(BodyTooLarge):
        asyncio.run(read_bounded(_chunks(bomb), str(len(bomb)), True, CAP))


def test_bodies_within_the_budget_come_back_whole_gzip_or_not():
    body = b'{"batch": [' + b",".join(b'{"type": "track"}' for _ in range(10_000)) + b"]}"
    assert len(body) < CAP
    assert asyncio.run(read_bounded(_chunks(body), None, False, CAP)) == body
    packed = gzip.compress(body[:1000]) + gzip.compress(body[1000:])  # two members, as gzip allows
    assert asyncio.run(read_bounded(_chunks(packed, 100), None, True, CAP)) == body


def test_compressed_size_and_declared_length_are_checked_too():
    with pytest.raises(BodyTooLarge):
        asyncio.run(read_bounded(_chunks(b"x" * (CAP + 1)), None, False, CAP))

    async def never():  # a declared length over the budget is refused before anything is read
        raise AssertionError("the body was read")
        yield b""

    with pytest.raises(BodyTooLarge):
        asyncio.run(read_bounded(never(), str(CAP + 1), False, CAP))


def test_broken_gzip_is_invalid_input():
    with pytest.raises(InvalidInput):
        asyncio.run(read_bounded(_chunks(b"not gzip at all"), None, True, CAP))
    with pytest.raises(InvalidInput):
        asyncio.run(read_bounded(_chunks(gzip.compress(b"{}" * 1000)[:-10]), None, True, CAP))
