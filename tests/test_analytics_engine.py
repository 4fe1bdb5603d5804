"""The two engine drivers get the very same SQL, statement for statement, and give the same answers.

chDB runs in this process; the ClickHouse driver is the production code path (clickhouse-connect's
raw_query and command) with its client answering from a chDB session, so every statement the
service would send to a ClickHouse server is recorded and executed. One scenario (ingest, merge,
unmerge, every model, campaign statistics, forget) runs through each driver; the recorded
statements and the results must be equal.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from cdp.identity.v1 import events_pb2 as identity_events
from cdp.journey.v1 import journey_pb2
from cdp.messaging.v1 import events_pb2 as messaging_events
from services.analytics import sql
from services.analytics.analysis import Analytics
from services.analytics.engine import ChdbDriver, ClickHouseDriver, Engine
from services.analytics.store import AnalyticsStore
from services.analytics.workers import IdentityFollower, Ingest
from services.kit.clock import FixedClock
from services.kit.protos import to_struct, to_timestamp

UTC = dt.UTC
DAY = dt.datetime(2025, 3, 8, 9, tzinfo=UTC)


class RecordingChdb(ChdbDriver):
    def __init__(self, path) -> None:
        super().__init__(path)
        self.sent: list[str] = []
        inner = self._session.query

        def query(text, fmt="CSV"):
            self.sent.append(text)
            return inner(text, fmt)

        self._session.query = query


class ChdbBackedClient:
    """clickhouse-connect's client surface that ClickHouseDriver uses, answered by chDB."""

    def __init__(self, session) -> None:
        self.session = session
        self.sent: list[str] = []

    def raw_query(self, query: str, fmt: str = "Native") -> bytes:
        self.sent.append(query)
        return self.session.query(query, fmt).bytes()

    def command(self, cmd: str):
        self.sent.append(cmd)
        self.session.query(cmd, "CSV")

    def close(self) -> None:
        self.session.close()


def clickhouse_driver(path) -> tuple[ClickHouseDriver, ChdbBackedClient]:
    from chdb import session

    path.mkdir(parents=True, exist_ok=True)
    driver = ClickHouseDriver.__new__(ClickHouseDriver)  # no server to connect to: the client is swapped
    client = ChdbBackedClient(session.Session(str(path)))
    driver._client = client
    return driver, client


def resolved(person: str, event: str, hours: float, props: dict | None = None, traits: dict | None = None):
    at = DAY + dt.timedelta(hours=hours)
    raw = identity_events.RawEvent(
        workspace_id="w",
        message_id=f"{person}-{event}-{hours}",
        type="identify" if traits else "track",
        user_id=person,
        event="" if traits else event,
        properties=to_struct(props or {}),
        traits=to_struct(traits or {}),
        timestamp=to_timestamp(at),
        received_at=to_timestamp(at),
    )
    return ("", identity_events.ResolvedEvent(event=raw, person_id=person, uid=1))


EVENTS = [
    resolved("p1", "", 0, traits={"tier": "gold"}),
    resolved("p1", "View", 1, {"sku": "a", "channel": "ads", "products": [{"category": "fruit", "price": 3}]}),
    resolved("p1", "Cart", 2, {"sku": "a"}),
    resolved("p1", "Order", 3, {"sku": "a", "revenue": 30}),
    resolved("p2", "View", 1, {"sku": "b", "channel": "seo"}),
    resolved("p2", "Cart", 30, {"sku": "c"}),
    resolved("p3", "View", 50, {"channel": "ads"}),
    resolved("p3", "Skip", 50.5),
    resolved("p3", "Order", 51, {"revenue": 5}),
]


def stepped(person: str, run: str, change: str, seq: int, variant: str, **more):
    at = to_timestamp(DAY - dt.timedelta(hours=1))
    message = journey_pb2.RunStepped(
        workspace_id="w", journey_id="c1", version=1, run_id=run, person_id=person, change=change, node="w",
        variant=variant, at=at, seq=seq, **more,
    )  # fmt: skip
    return ("", message)


# c1 is a journey too: p1 converts in arm A, p3 (merged into p1 later) is held out, p2 leaves in B.
STEPS_OF_JOURNEY = [
    stepped("p1", "r1", "entered", 1, "x=A"),
    stepped("p1", "r1", "waiting", 1, "x=A"),
    stepped("p1", "r1", "converted", 1, "x=A", value=30.0, reason="m-order"),
    stepped("p3", "r3", "entered", 1, "x=A", holdout=True),
    stepped("p3", "r3", "waiting", 1, "x=A", holdout=True),
    stepped("p2", "r2", "entered", 1, "x=B"),
    stepped("p2", "r2", "exited", 2, "x=B"),
]
RANGE = {"date_from": "2025-03-08", "date_to": "2025-03-12", "timezone": "Asia/Shanghai"}
STEPS = [{"event": "View"}, {"event": "Cart"}, {"event": "Order"}]


async def scenario(engine: Engine, squash: bool = False) -> list:
    store = AnalyticsStore(engine)
    await store.create_tables()
    ingest, identity = Ingest(store), IdentityFollower(store)
    await ingest.events(EVENTS)
    status = messaging_events.MessageStatus(
        workspace_id="w", message_id="m1", person_id="p1", status="sent", campaign_id="c1", at=to_timestamp(DAY)
    )
    # A campaign launch of journey c1 sends under "<journey>@<launch>".
    launched = messaging_events.MessageStatus(
        workspace_id="w", message_id="m2", person_id="p2", status="sent", campaign_id="c1@20250308T000000Z",
        at=to_timestamp(DAY), channel="sms",
    )  # fmt: skip
    await ingest.statuses([("", status), ("", launched)])
    await ingest.steps(STEPS_OF_JOURNEY)
    await ingest.steps(STEPS_OF_JOURNEY[:2])  # redelivered
    merge = identity_events.IdentityMerged(workspace_id="w", winner_id="p1", loser_id="p3", at=to_timestamp(DAY))
    await identity.merged("", merge)
    if squash:
        assert await store.squash("w", 2**62) == 1
    analytics = Analytics(store, FixedClock(DAY + dt.timedelta(days=30)), None)
    out = []
    for interval in ("hour", "day", "week", "month"):
        out.append(await analytics.trends("w", {"series": [{"event": "View"}], "interval": interval, **RANGE}))
    out.append(
        await analytics.trends(
            "w",
            {
                "series": [
                    {"event": "Order", "math": "sum", "property": "revenue"},
                    {"event": "View", "math": "persons", "filters": [{"property": "sku", "op": "!=", "value": "z"}]},
                    {"event": "View", "math": "avg", "property": "product.price"},
                ],
                "breakdown": {"trait": "tier"},
                **RANGE,
            },
        )
    )
    out.append(
        await analytics.trends("w", {"series": [{"event": "View"}], "breakdown": {"product": "category"}, **RANGE})
    )
    for order in ("ordered", "strict", "any"):
        out.append(await analytics.funnel("w", {"steps": STEPS, "order": order, **RANGE}))
    out.append(
        await analytics.funnel(
            "w",
            {
                "steps": STEPS,
                "hold_constant": "sku",
                "exclusions": [{"event": "Skip", "from_step": 0, "to_step": 2}],
                "breakdown": {"property": "channel", "limit": 1},
                **RANGE,
            },
        )
    )
    out.append(await analytics.funnel_drop_offs("w", {"steps": STEPS, **RANGE}, 2))
    for kind in ("first_time", "recurring"):
        for period in ("day", "week", "month"):
            doc = {"start_event": "View", "return_event": "Order", "kind": kind, "period": period, **RANGE}
            out.append(await analytics.retention("w", doc))
    out.append(
        await analytics.retention_cell("w", {"start_event": "View", "return_event": "Order", **RANGE}, "2025-03-08", 0)
    )
    out.append(await analytics.paths("w", {"start_event": "View", **RANGE}))
    out.append(await analytics.paths("w", {"end_event": "Order", "exclude": ["Skip"], **RANGE}))
    for interval in ("hour", "day", "week", "month"):
        out.append(await analytics.lifecycle("w", {"event": "View", "interval": interval, **RANGE}))
    out.append(await analytics.stickiness("w", {"event": "View", **RANGE}))
    out.append(await analytics.distribution("w", {"event": "View", **RANGE}))
    out.append(await analytics.interval("w", {"from_event": "View", "to_event": "Order", **RANGE}))
    journey = {"journey_id": "c1", "node": "x", "conversion_event": "Order"}
    out.append(await analytics.journey_evaluation("w", journey))
    out.append(await analytics.campaign_funnel("w", {"campaign_id": "c1", "conversion_event": "Order"}))
    out.append(await analytics.campaign_stats("w", ""))
    await identity.unmerged(
        "", identity_events.IdentityUnmerged(workspace_id="w", restored_id="p3", at=to_timestamp(DAY + dt.timedelta(1)))
    )
    if squash:
        assert await store.squash("w", 2**62) == 1  # the unmerge's own override: nothing to move
    out.append(await analytics.trends("w", {"series": [{"event": "View", "math": "persons"}], **RANGE}))
    await identity.forgotten("", identity_events.PersonForgotten(workspace_id="w", person_id="p1"))
    out.append(await analytics.trends("w", {"series": [{"event": "View", "math": "persons"}], **RANGE}))
    await ingest.events([resolved("p1", "View", 5)])  # late: dropped
    out.append(await analytics.trends("w", {"series": [{"event": "View", "math": "persons"}], **RANGE}))
    return out


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    chdb_driver = RecordingChdb(tmp_path_factory.mktemp("chdb"))
    chdb_results = asyncio.run(scenario(Engine(chdb_driver)))
    chdb_driver.close()
    ch_driver, client = clickhouse_driver(tmp_path_factory.mktemp("clickhouse"))
    ch_results = asyncio.run(scenario(Engine(ch_driver)))
    ch_driver.close()
    return chdb_driver.sent, chdb_results, client.sent, ch_results


def test_both_drivers_are_sent_the_same_statements_and_answer_the_same(both):
    chdb_sent, chdb_results, clickhouse_sent, clickhouse_results = both
    assert len(chdb_sent) > 40
    assert chdb_sent == clickhouse_sent
    assert chdb_results == clickhouse_results


def test_the_scenario_answers_are_the_expected_ones(both):
    _, results, _, _ = both
    day_trend = results[1]
    assert day_trend["buckets"] == ["2025-03-08", "2025-03-09", "2025-03-10", "2025-03-11", "2025-03-12"]
    # Shanghai is UTC+8: p3's View at 11:00 UTC on the 10th is 19:00 local on the 10th.
    assert day_trend["series"][0]["values"] == [2, 0, 1, 0, 0]
    ordered = results[6]["results"][0]
    assert [s["count"] for s in ordered["steps"]] == [2, 2, 1]  # p3 is merged into p1
    assert results[10] == ["p2"]  # added, never ordered (p3 ordered, and is p1 now)
    *_, journey, campaign, statuses, unmerged, forgotten, late = results
    runs = {v["variant"]: (v["entered"], v["waiting"], v["exited"], v["converted"]) for v in journey["versions"]}
    assert runs == {"holdout": (1, 1, 0, 0), "x=A": (1, 1, 0, 1), "x=B": (1, 0, 1, 0)}
    placed, launched = journey["funnel"]  # m1 went to p1 after their run waited at w; their orders (and p3's) follow
    assert (launched["variant"], launched["step"], launched["sent"], launched["orders"]) == ("x=B", "w", 1, 0)
    assert journey["cost"]["messages"] == [
        {"channel": "", "messages": 1, "cost": 0.0, "priced": False},
        {"channel": "sms", "messages": 1, "cost": 0.0, "priced": False},
    ]
    assert (placed["variant"], placed["step"], placed["sent"], placed["ordered_persons"], placed["orders"]) == (
        "x=A",
        "w",
        1,
        1,
        2,
    )
    assert placed["revenue"] == 35 and journey["cost"]["treated_value"] == 30
    assert [(a["name"], a["n"], a["conversions"]) for a in journey["experiment"]["arms"]] == [
        ("A", 1, 1),
        ("B", 1, 0),
        ("holdout", 1, 0),
    ]
    # p1 got c1's message at DAY 09:00 and ordered at 12:00 (30); p3, merged into p1, on the 10th (5).
    assert (campaign["sent"], campaign["converted_persons"], campaign["conversions"]) == (1, 1, 2)
    assert campaign["revenue"] == 35
    assert statuses == [
        {"campaign_id": "c1", "statuses": [{"status": "sent", "messages": 1}]},
        {"campaign_id": "c1@20250308T000000Z", "statuses": [{"status": "sent", "messages": 1}]},
    ]
    assert [s["values"] for s in unmerged["series"]] == [[2, 0, 1, 0, 0]]
    assert [s["values"] for s in forgotten["series"]] == [[1, 0, 1, 0, 0]]
    assert late == forgotten


def test_literals_cannot_escape_their_quotes():
    assert sql.string("it's \\ \n") == "'it\\'s \\\\ \\x0a'"
    assert sql.strings([]) == "('')"
    with pytest.raises(ValueError):
        sql.number(float("nan"))


def test_names_with_quotes_and_backslashes_are_data_not_sql(tmp_path):
    engine = Engine(ChdbDriver(tmp_path))
    store = AnalyticsStore(engine)
    odd = "O'Brien\\'s -- \n; DROP TABLE cdp.events"
    prop = "it's \\' -- ; DROP"  # a property path: dots would mean nesting

    async def run() -> dict:
        await store.create_tables()
        ingest = Ingest(store)
        await ingest.events([resolved("p1", odd, 1, {prop: "x"}), resolved("p2", odd, 2, {prop: "y"})])
        analytics = Analytics(store, FixedClock(DAY), None)
        return await analytics.trends(
            "w",
            {
                "series": [{"event": odd, "filters": [{"property": prop, "value": "x"}]}],
                "breakdown": {"property": prop},
                **RANGE,
            },
        )

    try:
        result = asyncio.run(run())
    finally:
        engine.close()
    assert [(s["breakdown_value"], s["total"]) for s in result["series"]] == [("x", 1.0)]


def test_a_server_out_of_reach_is_a_connection_error_so_consumers_retry_instead_of_dead_lettering():
    from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

    from services.analytics.engine import EngineError, EngineUnavailable

    class Failing:
        def __init__(self, exc) -> None:
            self.exc = exc

        def command(self, cmd: str):
            raise self.exc

    driver = ClickHouseDriver.__new__(ClickHouseDriver)
    driver._client = Failing(OperationalError("connection refused"))
    with pytest.raises(EngineUnavailable) as err:
        driver.execute("INSERT INTO cdp.events FORMAT JSONEachRow\n{}")
    assert isinstance(err.value, OSError)  # what services/kit/kafka.py retries without committing
    driver._client = Failing(DatabaseError("Code: 62. Syntax error"))
    with pytest.raises(EngineError) as err:
        driver.execute("ALTER TABLE nonsense")
    assert not isinstance(err.value, OSError)


def test_engine_errors_keep_no_quoted_data(tmp_path):
    from services.analytics.engine import EngineError

    driver = ChdbDriver(tmp_path)
    try:
        with pytest.raises(EngineError) as err:
            driver.execute("SELECT 'secret-canary-value' + 1")
    finally:
        driver.close()
    assert "secret-canary-value" not in str(err.value) and "Code:" in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__  # a logged traceback holds no more


def test_a_squash_changes_no_answer_of_any_model(both, tmp_path):
    """The scenario again with its merge (and its unmerge) squashed into the rows at once."""
    _, expected, _, _ = both
    engine = Engine(ChdbDriver(tmp_path))
    try:
        squashed = asyncio.run(scenario(engine, squash=True))
    finally:
        engine.close()
    assert squashed == expected


def test_a_squash_moves_the_rows_and_an_unmerge_or_forget_still_finds_them(tmp_path):
    engine = Engine(ChdbDriver(tmp_path))

    async def run() -> None:
        store = AnalyticsStore(engine)
        await store.create_tables()
        ingest, identity = Ingest(store), IdentityFollower(store)
        await ingest.events(EVENTS)

        async def rows(where: str) -> list:
            return await engine.rows(
                "SELECT message_id, person_id, origin_person_id FROM cdp.events FINAL "
                f"WHERE {where} ORDER BY message_id"
            )

        merge = identity_events.IdentityMerged(workspace_id="w", winner_id="p1", loser_id="p3", at=to_timestamp(DAY))
        await identity.merged("", merge)
        version = int(DAY.timestamp() * 1000)
        assert await store.squash("w", version) == 0  # made at `version`, not before it: left to the join
        assert await store.squash("w", version + 1) == 1
        assert [r[1:] for r in await rows("message_id LIKE 'p3-%'")] == [["p1", "p3"]] * 3
        assert await engine.rows("SELECT count() FROM cdp.person_overrides FINAL WHERE workspace = 'w'") == [[0]]
        assert await store.squash("w", 2**62) == 0  # nothing left to squash
        # A late row of the old id (resolved before the merge, delivered after the squash) is the winner's.
        await ingest.events([resolved("p3", "View", 60)])
        assert (await rows("message_id = 'p3-View-60'"))[0][1:] == ["p1", "p3"]
        # A later merge of the winner carries the squashed rows along (through the join).
        again = identity_events.IdentityMerged(workspace_id="w", winner_id="p9", loser_id="p1", at=to_timestamp(DAY))
        await identity.merged("", again)
        analytics = Analytics(store, FixedClock(DAY + dt.timedelta(days=30)), None)
        persons = {"series": [{"event": "View", "math": "persons"}], "interval": "month", **RANGE}
        assert (await analytics.trends("w", persons))["series"][0]["values"] == [2]  # p9 (p1, p3) and p2
        # Unmerging p3 gives back its rows, squashed ones included.
        restored = identity_events.IdentityUnmerged(
            workspace_id="w", restored_id="p3", at=to_timestamp(DAY + dt.timedelta(1))
        )
        await identity.unmerged("", restored)
        assert [r[1:] for r in await rows("message_id LIKE 'p3-%'")] == [["p3", ""]] * 4
        assert (await analytics.trends("w", persons))["series"][0]["values"] == [3]
        # Forgetting p9 erases p1's rows, and a squashed row of p1's is found by its origin too.
        await store.squash("w", 2**62)
        assert (await rows("message_id LIKE 'p1-%'"))[0][1:] == ["p9", "p1"]
        await identity.forgotten("", identity_events.PersonForgotten(workspace_id="w", person_id="p9"))
        assert await rows("message_id LIKE 'p1-%'") == []
        assert await engine.rows("SELECT count() FROM cdp.person_squashed FINAL WHERE person_id = 'p9'") == [[0]]
        assert len(await rows("message_id LIKE 'p3-%'")) == 4

    try:
        asyncio.run(run())
    finally:
        engine.close()


def test_an_answer_cut_short_by_the_engine_is_its_error_not_a_parse_error():
    """A query that fails after writing its first rows leaves the error text after them."""
    from services.analytics.engine import EngineError, _answer

    assert _answer(b'{"meta": [], "data": [[1]]}') == {"meta": [], "data": [[1]]}
    cut = b'{"meta": [], "data": [[1],\n[2]\nCode: 241. DB::Exception: (total) memory limit exceeded: would use 3 GiB'
    with pytest.raises(EngineError) as raised:
        _answer(cut)
    assert str(raised.value).startswith("Code: 241. DB::Exception: (total) memory limit exceeded")
    with pytest.raises(EngineError, match="not one JSON document"):
        _answer(b'{"data": [[1]]}\n{"data": []}')
