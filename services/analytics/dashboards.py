"""Saved insights and dashboards, per workspace.

`insights`: {_id, workspace, name, description, kind, query, created_at, updated_at}: one model
and its query, saved on its own (a funnel an operator comes back to).
`dashboards`: {_id, workspace, name, tiles: [{title, kind, query} or {title, insight_id}],
created_at, updated_at}. A tile either holds its own query or shows a saved insight, read when the
dashboard is read, so editing the insight changes every dashboard that shows it; a tile whose
insight was deleted is left out. A query is checked by its model's parser when saved and kept as
JSON text, so whatever keys a client sends never reach MongoDB as field names or operators.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from services.analytics.models import aarrr, distribution, funnels, lifecycle, paths, retention, trends
from services.kit.errors import InvalidInput, NotFound
from services.kit.mongo import IndexSpec

INDEXES = [
    IndexSpec("dashboards", [("workspace", 1), ("created_at", 1)], name="by_workspace"),
    IndexSpec("insights", [("workspace", 1), ("created_at", 1)], name="by_workspace"),
]
MAX_TILES = 24
MAX_QUERY_BYTES = 16 * 1024
MAX_NAME = 200
MAX_DESCRIPTION = 2000

# kind -> the parser that checks a tile's query (the same one the model runs).
PARSERS = {
    "trends": trends.parse,
    "funnel": funnels.parse,
    "retention": retention.parse,
    "paths": paths.parse,
    "lifecycle": lifecycle.parse,
    "stickiness": lifecycle.parse,
    "distribution": distribution.parse_distribution,
    "interval": distribution.parse_interval,
    "aarrr": aarrr.parse,
}

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def snake_keys(value):
    """A query as GraphQL clients write it (camelCase keys) in the parsers' form (snake_case)."""
    if isinstance(value, dict):
        return {_CAMEL.sub("_", str(k)).lower(): snake_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snake_keys(v) for v in value]
    return value


def check_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME:
        raise InvalidInput(f"name must be 1-{MAX_NAME} characters", "name")
    return name


def check_query(kind, query, at: str = "") -> str:
    """A model's query as stored: parsed by the model (so a bad one is refused when saved), as JSON text."""
    where = f"{at}." if at else ""
    if kind not in PARSERS:
        raise InvalidInput(f"{where}kind must be one of {', '.join(PARSERS)}", f"{where}kind")
    if not isinstance(query, dict):
        raise InvalidInput(f"{where}query must be an object", f"{where}query")
    text = json.dumps(snake_keys(query), ensure_ascii=False, sort_keys=True)
    if len(text.encode()) > MAX_QUERY_BYTES:
        raise InvalidInput(f"{where}query is larger than {MAX_QUERY_BYTES} bytes", f"{where}query")
    try:
        PARSERS[kind](json.loads(text))
    except InvalidInput as exc:
        raise InvalidInput(f"{where}query: {exc.message}", f"{where}query.{exc.field}") from None
    return text


def check_tiles(tiles: list[dict]) -> list[dict]:
    """[{title, kind, query} or {title, insight_id}] with each query parsed by its model; stored
    queries are JSON text (whether a named insight exists is the store's to check)."""
    if len(tiles) > MAX_TILES:
        raise InvalidInput(f"a dashboard has at most {MAX_TILES} tiles", "tiles")
    out = []
    for i, tile in enumerate(tiles):
        at = f"tiles[{i}]"
        title = (tile.get("title") or "").strip()
        if len(title) > MAX_NAME:
            raise InvalidInput(f"{at}.title is longer than {MAX_NAME} characters", f"{at}.title")
        insight = tile.get("insight_id")
        if insight:
            if tile.get("kind") or tile.get("query"):
                raise InvalidInput(f"{at} shows a saved insight or has a query, not both", f"{at}.insightId")
            out.append({"title": title, "insight_id": str(insight)})
            continue
        out.append(
            {"title": title, "kind": tile.get("kind"), "query": check_query(tile.get("kind"), tile.get("query"), at)}
        )
    return out


def check_description(description: str | None) -> str:
    description = (description or "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInput(f"description is longer than {MAX_DESCRIPTION} characters", "description")
    return description


class InsightStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.insights = db["insights"]

    async def create(self, workspace: str, name: str, kind: str, query: dict, description: str | None, now) -> dict:
        doc = {
            "_id": f"ins_{secrets.token_hex(8)}",
            "workspace": workspace,
            "name": check_name(name),
            "description": check_description(description),
            "kind": kind,
            "query": check_query(kind, query),
            "created_at": now,
            "updated_at": now,
        }
        await self.insights.insert_one(doc)
        return doc

    async def update(
        self, workspace: str, insight_id: str, name: str | None, description: str | None, query: dict | None, now
    ) -> dict:
        fields: dict = {"updated_at": now}
        if name is not None:
            fields["name"] = check_name(name)
        if description is not None:
            fields["description"] = check_description(description)
        if query is not None:
            # The kind stays: a funnel saved as a funnel is edited as one.
            fields["query"] = check_query((await self.get(workspace, insight_id))["kind"], query)
        doc = await self.insights.find_one_and_update(
            {"_id": insight_id, "workspace": workspace}, {"$set": fields}, return_document=ReturnDocument.AFTER
        )
        if doc is None:
            raise NotFound(f"insight {insight_id!r} not found", "id")
        return doc

    async def get(self, workspace: str, insight_id: str) -> dict:
        doc = await self.insights.find_one({"_id": insight_id, "workspace": workspace})
        if doc is None:
            raise NotFound(f"insight {insight_id!r} not found", "id")
        return doc

    async def list(self, workspace: str) -> list[dict]:
        return await self.insights.find({"workspace": workspace}).sort("created_at", 1).to_list(1000)

    async def of_ids(self, workspace: str, ids: list[str]) -> dict[str, dict]:
        if not ids:
            return {}
        found = await self.insights.find({"workspace": workspace, "_id": {"$in": sorted(set(ids))}}).to_list(None)
        return {d["_id"]: d for d in found}

    async def delete(self, workspace: str, insight_id: str) -> bool:
        return (await self.insights.delete_one({"_id": insight_id, "workspace": workspace})).deleted_count == 1


class DashboardStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.dashboards = db["dashboards"]
        self.insights = InsightStore(db)

    async def _checked(self, workspace: str, tiles: list[dict]) -> list[dict]:
        """check_tiles, and every insight a tile shows is one of the workspace's."""
        out = check_tiles(tiles)
        ids = [t["insight_id"] for t in out if "insight_id" in t]
        known = await self.insights.of_ids(workspace, ids)
        for i, tile in enumerate(out):
            if "insight_id" in tile and tile["insight_id"] not in known:
                raise NotFound(f"insight {tile['insight_id']!r} not found", f"tiles[{i}].insightId")
        return out

    async def shown(self, workspace: str, doc: dict) -> dict:
        """The dashboard with each insight tile's kind and query as the insight holds them now."""
        known = await self.insights.of_ids(workspace, [t["insight_id"] for t in doc["tiles"] if "insight_id" in t])
        tiles = []
        for tile in doc["tiles"]:
            if "insight_id" not in tile:
                tiles.append({**tile, "insight_id": None})
            elif (insight := known.get(tile["insight_id"])) is not None:
                title = tile["title"] or insight["name"]
                tiles.append({**tile, "title": title, "kind": insight["kind"], "query": insight["query"]})
        return {**doc, "tiles": tiles}

    async def create(self, workspace: str, name: str, tiles: list[dict], now: dt.datetime) -> dict:
        doc = {
            "_id": f"dash_{secrets.token_hex(8)}",
            "workspace": workspace,
            "name": check_name(name),
            "tiles": await self._checked(workspace, tiles),
            "created_at": now,
            "updated_at": now,
        }
        await self.dashboards.insert_one(doc)
        return await self.shown(workspace, doc)

    async def update(
        self, workspace: str, dashboard_id: str, name: str | None, tiles: list[dict] | None, now: dt.datetime
    ) -> dict:
        fields: dict = {"updated_at": now}
        if name is not None:
            fields["name"] = check_name(name)
        if tiles is not None:
            fields["tiles"] = await self._checked(workspace, tiles)
        doc = await self.dashboards.find_one_and_update(
            {"_id": dashboard_id, "workspace": workspace}, {"$set": fields}, return_document=ReturnDocument.AFTER
        )
        if doc is None:
            raise NotFound(f"dashboard {dashboard_id!r} not found", "id")
        return await self.shown(workspace, doc)

    async def get(self, workspace: str, dashboard_id: str) -> dict:
        doc = await self.dashboards.find_one({"_id": dashboard_id, "workspace": workspace})
        if doc is None:
            raise NotFound(f"dashboard {dashboard_id!r} not found", "id")
        return await self.shown(workspace, doc)

    async def list(self, workspace: str) -> list[dict]:
        found = await self.dashboards.find({"workspace": workspace}).sort("created_at", 1).to_list(500)
        return [await self.shown(workspace, d) for d in found]

    async def delete(self, workspace: str, dashboard_id: str) -> bool:
        return (await self.dashboards.delete_one({"_id": dashboard_id, "workspace": workspace})).deleted_count == 1
