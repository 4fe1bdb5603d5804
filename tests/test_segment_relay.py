"""The membership relay produces each transition exactly once, even when SIGKILLed mid-batch.

The relay runs with a topic, outbox list and lease of its own (so the session's
segment service does not publish these entries); the first run is a real child
process that SIGKILLs itself at the worst moment (CDP_SEGMENT_RELAY_CRASH_AT),
the second takes over and must neither re-send nor drop anything.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter

import pytest
import redis.asyncio as aioredis

from cdp.segment.v1 import events_pb2
from services.kit.kafka import Producer
from services.segment.bitmap_keys import outbox_key
from services.segment.relay import BATCH, CRASH_AT, MembershipRelay
from tests.helpers import read_topic

CHILD = """
import asyncio, sys
import redis.asyncio as aioredis
from services.kit.kafka import Producer
from services.segment.relay import MembershipRelay

async def main(redis_url, bootstrap, topic, outboxes, lease):
    producer = Producer(bootstrap, "relay-crash-test")
    await producer.start()
    relay = MembershipRelay(aioredis.from_url(redis_url), producer, bootstrap, 1.0,
                            topic=topic, outboxes=outboxes, lease_key=lease)
    assert await relay._hold_lease()
    await relay.publish_pending()

asyncio.run(main(*sys.argv[1:]))
"""


class Setup:
    def __init__(self, stack, ws: str) -> None:
        self.stack = stack
        self.ws = ws
        self.topic = f"test.membership.{ws}"
        self.outboxes = f"cdp:test:outboxes:{ws}"
        self.lease = f"cdp:test:relay:{ws}"
        self.redis = aioredis.from_url(stack.redis_url)

    async def fill(self, per_stream: dict[int, int]) -> set[str]:
        """Queue transitions as the flip script does; returns their transition ids."""
        ids = set()
        for shard, n in per_stream.items():
            stream = outbox_key(self.ws, shard)
            await self.redis.sadd(self.outboxes, stream)
            pipe = self.redis.pipeline(transaction=False)
            for uid in range(n):
                pipe.xadd(
                    stream,
                    {
                        "segment": "s1",
                        "change": "enter",
                        "uid": uid,
                        "person": f"p{uid}",
                        "workspace": self.ws,
                        "cause": f"c{uid}",
                        "at": 1,
                    },
                )
            await pipe.execute()
            for entry_id, fields in await self.redis.xrange(stream):
                ids.add(f"s1:{int(fields[b'uid'])}:{entry_id.decode()}")
        return ids

    def crash(self, where: str) -> int:
        env = {**os.environ, CRASH_AT: where}
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD,
                self.stack.redis_url,
                self.stack.kafka_bootstrap,
                self.topic,
                self.outboxes,
                self.lease,
            ],
            env=env,
            cwd=os.getcwd(),
            timeout=120,
            capture_output=True,
        )
        assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
        return proc.returncode

    async def on_topic(self, expected: int, seconds: float = 30) -> list[events_pb2.SegmentMembershipChanged]:
        return await asyncio.to_thread(
            read_topic,
            self.stack,
            self.topic,
            events_pb2.SegmentMembershipChanged,
            seconds,
            until=lambda m: len(m) >= expected,
        )

    async def take_over(self) -> MembershipRelay:
        producer = Producer(self.stack.kafka_bootstrap, "relay-takeover-test")
        await producer.start()
        relay = MembershipRelay(
            self.redis,
            producer,
            self.stack.kafka_bootstrap,
            1.0,
            topic=self.topic,
            outboxes=self.outboxes,
            lease_key=self.lease,
        )
        try:
            for _ in range(100):  # the crashed relay's lease runs out after 1 s
                if await relay._hold_lease():
                    break
                await asyncio.sleep(0.1)
            else:
                pytest.fail("the crashed relay's lease never ran out")
            while await relay.publish_pending():
                pass
        finally:
            await relay.log.stop()
            await producer.stop()
        return relay

    async def left(self) -> int:
        return sum([await self.redis.xlen(s) for s in await self.redis.smembers(self.outboxes)])


@pytest.fixture
async def setup(stack, workspace_id):
    s = Setup(stack, workspace_id)
    yield s
    await s.redis.aclose()


async def test_sigkill_after_the_ack_and_before_the_delete_sends_nothing_twice(setup):
    expected = await setup.fill({0: BATCH + 150, 1: 40})
    setup.crash("ack")
    # The worst moment: the first batch is on the topic and still in the outbox.
    first = await setup.on_topic(BATCH)
    assert len(first) == BATCH
    assert await setup.left() == len(expected)
    assert await setup.redis.exists(f"{setup.lease}:pending")

    relay = await setup.take_over()

    got = await setup.on_topic(len(expected) + 1, seconds=8)  # waits the whole time for a (wrong) extra record
    counts = Counter(m.transition_id for m in got)
    assert [t for t, n in counts.items() if n > 1] == []
    assert set(counts) == expected
    assert relay.recovered == 0 and relay.published == len(expected) - BATCH
    assert await setup.left() == 0
    assert not await setup.redis.exists(f"{setup.lease}:pending")


async def test_sigkill_with_half_a_batch_acked_sends_the_other_half_once(setup):
    expected = await setup.fill({3: 300})
    setup.crash("half")
    assert len(await setup.on_topic(150)) == 150

    relay = await setup.take_over()

    got = await setup.on_topic(len(expected) + 1, seconds=8)
    counts = Counter(m.transition_id for m in got)
    assert [t for t, n in counts.items() if n > 1] == []
    assert set(counts) == expected
    assert relay.recovered == 150 and relay.published == 0
    assert await setup.left() == 0


async def test_a_relay_that_never_crashed_leaves_no_marker(setup):
    expected = await setup.fill({0: 20})
    relay = await setup.take_over()
    assert relay.published == len(expected) and relay.recovered == 0
    assert {m.transition_id for m in await setup.on_topic(len(expected))} == expected
    assert not await setup.redis.exists(f"{setup.lease}:pending")
