"""The analytics tables: events, person traits, person overrides (merges), message statuses and journey steps.

Every table is a ReplacingMergeTree keyed so that a redelivered Kafka record (the
same message id) replaces itself instead of counting twice; queries read with
FINAL. Events are partitioned by month of their time, so imported history of
any age is accepted (inserts may span any number of months).
"""

from __future__ import annotations


def statements(db: str) -> list[str]:
    return [
        f"CREATE DATABASE IF NOT EXISTS {db}",
        # One row per event; `person_id` is the person identity resolved at ingest. A later merge is
        # applied at query time through person_overrides, so it shows within seconds.
        f"""CREATE TABLE IF NOT EXISTS {db}.events (
    workspace String,
    message_id String,
    person_id String,
    type LowCardinality(String),
    event String,
    name String,
    ts DateTime64(3, 'UTC'),
    properties String,
    products Array(String),
    version UInt64,
    channel LowCardinality(String),
    device String
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(ts)
ORDER BY (workspace, event, toDate(ts), message_id)""",
        # Traits as identify events set them, one row per trait key and event: a person's trait is
        # the value of its latest row (over the person's merged ids).
        f"""CREATE TABLE IF NOT EXISTS {db}.person_traits (
    workspace String,
    person_id String,
    key String,
    value String,
    ts DateTime64(3, 'UTC'),
    message_id String
) ENGINE = ReplacingMergeTree(ts)
ORDER BY (workspace, person_id, key, message_id)""",
        # old person id -> the person it now belongs to; the row with the highest version wins.
        f"""CREATE TABLE IF NOT EXISTS {db}.person_overrides (
    workspace String,
    old_person_id String,
    person_id String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (workspace, old_person_id)""",
        # Every status transition of a message (sent, delivered, opened, clicked, converted, ...).
        f"""CREATE TABLE IF NOT EXISTS {db}.message_statuses (
    workspace String,
    message_id String,
    person_id String,
    campaign_id String,
    status LowCardinality(String),
    reason String,
    ts DateTime64(3, 'UTC'),
    channel LowCardinality(String)
) ENGINE = ReplacingMergeTree(ts)
ORDER BY (workspace, campaign_id, message_id, status)""",
        # Tables made before events kept their utm channel (kit/ecommerce.acquisition_channel; '' on older rows).
        f"ALTER TABLE {db}.events ADD COLUMN IF NOT EXISTS channel LowCardinality(String)",
        # ... and their device (context.device.id: referral spread's same-device guard; '' on older rows).
        f"ALTER TABLE {db}.events ADD COLUMN IF NOT EXISTS device String",
        # profile.changed announcements of one profile batch share their time, so a trait's latest row is
        # the greatest (ts, seq): seq is the order ingest read them in (0 on identify rows and older rows).
        f"ALTER TABLE {db}.person_traits ADD COLUMN IF NOT EXISTS seq UInt64 DEFAULT 0",
        # Tables made before statuses named their channel.
        f"ALTER TABLE {db}.message_statuses ADD COLUMN IF NOT EXISTS channel LowCardinality(String)",
        # What journey.steps announced of each run: entered, waiting (at node), done or exited (at node),
        # converted (with the goal's cause and value). A run's announcement of one kind at one seq is
        # one row however often Kafka redelivers it; `variant` is the run's "node=arm,..." then.
        f"""CREATE TABLE IF NOT EXISTS {db}.journey_steps (
    workspace String,
    journey_id String,
    version Int32,
    run_id String,
    person_id String,
    kind LowCardinality(String),
    node String,
    variant String,
    holdout UInt8,
    seq Int64,
    ts DateTime64(3, 'UTC'),
    cause String,
    value Float64
) ENGINE = ReplacingMergeTree
ORDER BY (workspace, journey_id, run_id, kind, seq)""",
        # Tables made before announcements named the nodes a step passed (per-step entered counts).
        f"ALTER TABLE {db}.journey_steps ADD COLUMN IF NOT EXISTS visited Array(String)",
        # The members of the segments a query breaks down by, loaded from the segment service for
        # that query only (segment_members.py); kept an hour at most.
        f"""CREATE TABLE IF NOT EXISTS {db}.segment_members (
    workspace String,
    query String,
    segment String,
    person_id String,
    at DateTime
) ENGINE = MergeTree
ORDER BY (query, person_id)
TTL at + INTERVAL 1 HOUR""",
        # Merges already written into the rows themselves (store.squash): old person id -> the person it
        # belonged to then. Read at ingest (a late row of an old id is written as its person's) and for
        # a person's ids (merges, forget); the overrides table joined by every query keeps only what
        # is not squashed yet, so it stays small however many merges a workspace has seen.
        f"""CREATE TABLE IF NOT EXISTS {db}.person_squashed (
    workspace String,
    old_person_id String,
    person_id String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (workspace, old_person_id)""",
        # A squashed row's person as identity resolved it ('' = person_id, never squashed): what an
        # unmerge gives back to the restored person.
        *(f"ALTER TABLE {db}.{t} ADD COLUMN IF NOT EXISTS origin_person_id String DEFAULT ''" for t in SQUASHED_TABLES),
        # One-way digests of forgotten persons (services/kit/erasure.py): late rows of theirs are dropped.
        f"""CREATE TABLE IF NOT EXISTS {db}.erased (
    digest String
) ENGINE = ReplacingMergeTree
ORDER BY digest""",
    ]


# Tables that hold a person's rows (what forgetting a person deletes from).
PERSON_TABLES = ("events", "person_traits", "message_statuses", "segment_members", "journey_steps")
# Tables whose rows a squash rewrites (person_id is not in their sorting key, so it can be updated in
# place); person_traits sorts by person and stays joined through the mappings; segment_members lives an hour.
SQUASHED_TABLES = ("events", "message_statuses", "journey_steps")
