"""The GCRA rate limit holds across processes: four workers, one key, 1,000 messages/s.

The issue asks for "within 1% over a minute"; this test measures a 10-second
window (after a 1-second warm-up) to keep the suite short; the benchmark runs
the same harness with a longer window. The limiter takes its time from Redis,
so the four processes share one schedule whatever their own clocks say.
"""

from __future__ import annotations

import asyncio

from bench.messaging_limiter import measure


def test_gcra_holds_1000_per_second_within_one_percent_across_four_processes(stack):
    inside, expected, ratio = asyncio.run(measure(stack.redis_url, rate=1000.0, seconds=10.0, workers=4))
    assert abs(ratio - 1.0) <= 0.01, f"{inside} let through in 10 s against {expected:.0f} expected ({ratio:.4f})"
