"""The analytics operations every edge (GraphQL, gRPC) calls: parse, run on the engine, shape."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json

from services.analytics import sql, sql_analysis
from services.analytics.cohorts import SegmentSaver
from services.analytics.costs import CostStore
from services.analytics.engine import EngineError, EngineUnavailable
from services.analytics.metrics import QUERY_SECONDS, TILES
from services.analytics.models import (
    aarrr,
    campaigns,
    common,
    distribution,
    funnels,
    journeys,
    lifecycle,
    ltv,
    paths,
    retention,
    spread,
    trends,
)
from services.analytics.segment_members import SegmentMembers
from services.analytics.store import AnalyticsStore
from services.kit.clock import Clock
from services.kit.errors import InvalidInput
from services.kit.ttl_cache import TtlLru

# Dashboard tiles kept, and for how long at most (see tile()).
TILE_CACHE_ENTRIES = 500
TILE_SECONDS = 300.0
# How far back Person.eventCounts may look.
MAX_PERSON_DAYS = 3660


class Analytics:
    def __init__(
        self,
        store: AnalyticsStore,
        clock: Clock,
        saver: SegmentSaver | None,
        costs: CostStore | None = None,
        members: SegmentMembers | None = None,
    ) -> None:
        self.store = store
        self.members = members
        self.tiles: TtlLru[dict] = TtlLru(TILE_CACHE_ENTRIES)
        self.costs = costs
        self.engine = store.engine
        self.db = store.db
        self.clock = clock
        self.saver = saver
        # Dashboard tile kinds -> the operation that computes them (dashboards.PARSERS checks them).
        self.models = {
            "trends": self.trends,
            "funnel": self.funnel,
            "retention": self.retention,
            "paths": self.paths,
            "lifecycle": self.lifecycle,
            "stickiness": self.stickiness,
            "distribution": self.distribution,
            "interval": self.interval,
            "aarrr": self.aarrr,
        }

    async def _with_members(self, workspace: str, query):
        """A query that breaks down by segments, with the segments' members loaded for it."""
        bd = getattr(query, "breakdown", None)
        if bd is None or bd.kind != "segment":
            return query
        if self.members is None:
            raise InvalidInput("a breakdown by segment needs the segment service (CDP_SEGMENT_GRPC)", "breakdown")
        return dataclasses.replace(query, breakdown=await self.members.load(workspace, bd))

    async def _mark(self, workspace: str, marks: dict | None) -> str:
        """The data mark, read once per request: `marks` is the request's own (the tiles of one
        dashboard are asked in one request, and the engine answers one query at a time)."""
        if marks is None:
            return await self.data_mark(workspace)
        found = marks.get(workspace)
        if found is None:
            found = marks[workspace] = asyncio.ensure_future(self.data_mark(workspace))
        return await asyncio.shield(found)

    async def data_mark(self, workspace: str) -> str:
        """What changes whenever the workspace's data does: rows of every table counted (an insert, a
        merge, an erasure all move it) and the newest event version. One cheap query: every table is
        ordered by workspace first."""
        ws = sql.string(workspace)
        tables = ("events", "person_traits", "person_overrides", "person_squashed", "message_statuses", "journey_steps")
        counts = ", ".join(f"(SELECT count() FROM {self.db}.{t} WHERE workspace = {ws})" for t in tables)
        rows = await self.engine.rows(
            f"SELECT {counts}, (SELECT max(version) FROM {self.db}.events WHERE workspace = {ws})"
        )
        return ":".join(str(v) for v in rows[0])

    async def tile(self, workspace: str, kind: str, query: str, marks: dict | None = None) -> dict:
        """A saved tile's result (its query was checked when saved, and is checked again here).

        Cached until the workspace's data changes (data_mark), and TILE_SECONDS at most, since a result
        also moves with time (immature funnel entries, LTV horizons) and segment membership.
        """
        key = f"{workspace}|{kind}|{query}|{await self._mark(workspace, marks)}"
        found = self.tiles.get(key)
        if found is not None:
            TILES.labels("cache").inc()
            return found
        result = await self.models[kind](workspace, json.loads(query))
        TILES.labels("computed").inc()
        self.tiles.put(key, result, TILE_SECONDS)
        return result

    async def trends(self, workspace: str, doc: dict) -> dict:
        query = trends.parse(doc)
        query = await self._with_members(workspace, query)
        with QUERY_SECONDS.labels("trends").time():
            return await trends.run(self.engine, self.db, workspace, query)

    async def funnel(self, workspace: str, doc: dict) -> dict:
        query = funnels.parse(doc)
        query = await self._with_members(workspace, query)
        with QUERY_SECONDS.labels("funnel").time():
            return await funnels.run(self.engine, self.db, workspace, query, self.clock.now())

    async def retention(self, workspace: str, doc: dict) -> dict:
        query = retention.parse(doc)
        query = await self._with_members(workspace, query)
        with QUERY_SECONDS.labels("retention").time():
            return await retention.run(self.engine, self.db, workspace, query)

    async def paths(self, workspace: str, doc: dict) -> dict:
        query = paths.parse(doc)
        query = await self._with_members(workspace, query)
        with QUERY_SECONDS.labels("paths").time():
            return await paths.run(self.engine, self.db, workspace, query)

    async def lifecycle(self, workspace: str, doc: dict) -> dict:
        query = lifecycle.parse(doc)
        query = await self._with_members(workspace, query)
        with QUERY_SECONDS.labels("lifecycle").time():
            return await lifecycle.run(self.engine, self.db, workspace, query)

    async def stickiness(self, workspace: str, doc: dict) -> dict:
        query = lifecycle.parse(doc)
        query = await self._with_members(workspace, query)
        with QUERY_SECONDS.labels("stickiness").time():
            return await lifecycle.run_stickiness(self.engine, self.db, workspace, query)

    async def distribution(self, workspace: str, doc: dict) -> dict:
        query = distribution.parse_distribution(doc)
        query = await self._with_members(workspace, query)
        with QUERY_SECONDS.labels("distribution").time():
            return await distribution.run_distribution(self.engine, self.db, workspace, query)

    async def interval(self, workspace: str, doc: dict) -> dict:
        query = distribution.parse_interval(doc)
        query = await self._with_members(workspace, query)
        with QUERY_SECONDS.labels("interval").time():
            return await distribution.run_interval(self.engine, self.db, workspace, query)

    async def campaign_funnel(self, workspace: str, doc: dict) -> dict:
        query = campaigns.parse(doc)
        prices = await self.costs.prices(workspace) if self.costs is not None else {}
        with QUERY_SECONDS.labels("campaign").time():
            return await campaigns.run(self.engine, self.db, workspace, query, prices)

    async def journey_evaluation(self, workspace: str, doc: dict) -> dict:
        query = journeys.parse(doc)
        prices = await self.costs.prices(workspace) if self.costs is not None else {}
        with QUERY_SECONDS.labels("journey").time():
            return await journeys.run(self.engine, self.db, workspace, query, prices)

    async def campaign_stats(self, workspace: str, campaign_id: str) -> list[dict]:
        only = f" AND campaign_id = {sql.string(campaign_id)}" if campaign_id else ""
        rows = await self.engine.rows(
            "SELECT campaign_id, status, uniqExact(message_id) AS n "
            f"FROM {self.db}.message_statuses FINAL WHERE workspace = {sql.string(workspace)}{only} "
            "GROUP BY campaign_id, status ORDER BY campaign_id, status"
        )
        out: dict[str, list[dict]] = {}
        for campaign, status, n in rows:
            out.setdefault(campaign, []).append({"status": status, "messages": int(n)})
        return [{"campaign_id": c, "statuses": s} for c, s in out.items()]

    async def person_events(self, workspace: str, person_id: str, days: int) -> list[dict]:
        """The person's events (any id merged into them) of the last `days` days, counted by name."""
        if not 1 <= days <= MAX_PERSON_DAYS:
            raise InvalidInput(f"days must be from 1 to {MAX_PERSON_DAYS}", "days")
        now = self.clock.now()
        source = common.events_source(
            self.db, workspace, now - dt.timedelta(days=days), now + dt.timedelta(days=1), None
        )
        rows = await self.engine.rows(
            "SELECT s.event, count() AS n, toString(max(s.ts)) AS last "
            f"FROM ({source}) AS s WHERE s.person = {sql.string(person_id)} "
            "GROUP BY s.event ORDER BY n DESC, s.event LIMIT 100"
        )
        return [
            {"event": e, "count": int(n), "last_at": dt.datetime.fromisoformat(last).replace(tzinfo=dt.UTC)}
            for e, n, last in rows
        ]

    async def aarrr(self, workspace: str, doc: dict) -> dict:
        query = aarrr.parse(doc)
        with QUERY_SECONDS.labels("aarrr").time():
            return await aarrr.run(self.engine, self.db, workspace, query)

    async def ltv(self, workspace: str, doc: dict) -> list[dict]:
        query = ltv.parse(doc)
        with QUERY_SECONDS.labels("ltv").time():
            return await ltv.run(self.engine, self.db, workspace, query, self.clock.now())

    async def campaign_spread(self, workspace: str, doc: dict) -> dict:
        query = spread.parse(doc)
        with QUERY_SECONDS.labels("spread").time():
            return await spread.run(self.engine, self.db, workspace, query)

    async def sql_query(self, workspace: str, text: str) -> dict:
        """An operator's read-only SELECT over the workspace's virtual tables (sql_analysis says what is allowed)."""
        checked = sql_analysis.precheck(text)
        try:
            ast = await self.engine.explain_ast(checked.text)
        except EngineUnavailable:
            raise
        except EngineError as exc:
            raise InvalidInput(f"sql does not parse: {exc}", "sql") from None
        sql_analysis.check_ast(ast, checked, self.db)
        with QUERY_SECONDS.labels("sql").time():
            try:
                columns, rows = await self.engine.table(
                    sql_analysis.wrapped(self.db, workspace, checked, sql_analysis.MAX_ROWS), sql_analysis.SECONDS
                )
            except EngineUnavailable:
                raise
            except EngineError as exc:
                raise InvalidInput(f"sql failed: {exc}", "sql") from None
        cut = len(rows) > sql_analysis.MAX_ROWS
        return {"columns": columns, "rows": rows[: sql_analysis.MAX_ROWS], "truncated": cut}

    async def funnel_drop_offs(self, workspace: str, doc: dict, step: int) -> list[str]:
        query = funnels.parse(doc)
        query = await self._with_members(workspace, query)
        if not 1 <= step < len(query.steps):
            raise InvalidInput(f"step must be from 1 to {len(query.steps) - 1} (who did not reach it)", "step")
        return await funnels.dropped_at(self.engine, self.db, workspace, query, step)

    async def retention_cell(self, workspace: str, doc: dict, cohort: str, period: int) -> list[str]:
        query = retention.parse(doc)
        query = await self._with_members(workspace, query)
        try:
            day = dt.date.fromisoformat(cohort)
        except (TypeError, ValueError):
            raise InvalidInput("cohort must be a date (YYYY-MM-DD) as the retention rows name it", "cohort") from None
        return await retention.cell_people(self.engine, self.db, workspace, query, day, period)

    async def save_funnel_drop_offs(self, workspace: str, doc: dict, step: int, name: str) -> dict:
        return await self._save(workspace, name, await self.funnel_drop_offs(workspace, doc, step))

    async def save_retention_cell(self, workspace: str, doc: dict, cohort: str, period: int, name: str) -> dict:
        return await self._save(workspace, name, await self.retention_cell(workspace, doc, cohort, period))

    async def _save(self, workspace: str, name: str, persons: list[str]) -> dict:
        if self.saver is None:
            raise InvalidInput("saving segments needs the profile and segment services (CDP_PROFILE_GRPC)", "name")
        return await self.saver.save(workspace, name, persons)
