"""How far the event pipeline's consumer groups are behind, read from Kafka.

Waiting for an import by counting stored events asks the store to count them
(SecantusDB decodes every matched document to count it: counting 7,000 events
every 2 s took half of its CPU, bench/README.md); the groups' committed
offsets against the topics' ends cost it nothing. Identity commits a poll's
offsets after publishing its resolved events, profile after the transaction
that stored them, so nothing behind in either means every event accepted
before the read is on its profile.
"""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.identity.workers import GROUP as IDENTITY_GROUP
from services.kit.kafka import Topics
from services.profile.workers import GROUP as PROFILE_GROUP

# (consumer group, topic it reads) from the collection API to the profiles.
EVENT_LANES = [(IDENTITY_GROUP, Topics.EVENTS_RAW), (PROFILE_GROUP, Topics.EVENTS_RESOLVED)]


class PipelineLag:
    """Records behind per lane; use as `async with PipelineLag(bootstrap) as lag: await lag.read()`."""

    def __init__(self, bootstrap: str, lanes: list[tuple[str, str]] = EVENT_LANES) -> None:
        self.lanes = lanes
        self.readers = [
            AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
            for group, _ in lanes
        ]

    async def __aenter__(self) -> PipelineLag:
        for reader in self.readers:
            await reader.start()
        return self

    async def __aexit__(self, *exc) -> None:
        for reader in self.readers:
            await reader.stop()

    async def read(self) -> tuple[int, dict[str, int]]:
        """(records behind in all lanes, records committed per group)."""
        behind, committed_by_group = 0, {}
        for reader, (group, topic) in zip(self.readers, self.lanes, strict=True):
            tps = [TopicPartition(topic, p) for p in reader.partitions_for_topic(topic) or ()]
            end = await reader.end_offsets(tps)
            committed = {tp: (await reader.committed(tp)) or 0 for tp in tps}
            # Tansu's end offset can trail a group's committed one (it is not the next offset).
            behind += sum(max(0, end[tp] - committed[tp]) for tp in tps)
            committed_by_group[group] = sum(committed.values())
        return behind, committed_by_group
