"""The bounded expiring cache: least recently used out first, expired entries gone."""

from __future__ import annotations

import time

import pytest

from services.kit.ttl_cache import TtlLru


def test_holds_at_most_max_entries_and_drops_the_least_recently_used():
    cache: TtlLru[str] = TtlLru(3)
    for key in "abc":
        cache.put(key, key.upper(), 60)
    assert cache.get("a") == "A"  # a is now the most recently used
    cache.put("d", "D", 60)
    assert len(cache) == 3
    assert cache.get("b") is None
    assert [cache.get(k) for k in "acd"] == ["A", "C", "D"]
    for i in range(10_000):
        cache.put(f"k{i}", "v", 60)
    assert len(cache) == 3


def test_entries_expire_after_their_own_time():
    cache: TtlLru[str] = TtlLru(10)
    cache.put("short", "s", 0.05)
    cache.put("long", "l", 60)
    time.sleep(0.1)
    assert cache.get("short") is None and len(cache) == 1
    assert cache.get("long") == "l"
    cache.pop("long")
    assert cache.get("long") is None


def test_a_cache_without_room_is_refused():
    with pytest.raises(ValueError):
        TtlLru(0)
