"""Saved dashboards: named lists of tiles, each a model and its query, per workspace.

`dashboards`: {_id, workspace, name, tiles: [{title, kind, query}], created_at, updated_at}.
A tile's query is checked by its model's parser when saved and kept as JSON text, so
whatever keys a client sends never reach MongoDB as field names or operators.
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

INDEXES = [IndexSpec("dashboards", [("workspace", 1), ("created_at", 1)], name="by_workspace")]
MAX_TILES = 24
MAX_QUERY_BYTES = 16 * 1024
MAX_NAME = 200

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


def check_tiles(tiles: list[dict]) -> list[dict]:
    """[{title, kind, query}] with each query parsed by its model; stored queries are JSON text."""
    if len(tiles) > MAX_TILES:
        raise InvalidInput(f"a dashboard has at most {MAX_TILES} tiles", "tiles")
    out = []
    for i, tile in enumerate(tiles):
        at = f"tiles[{i}]"
        kind = tile.get("kind")
        if kind not in PARSERS:
            raise InvalidInput(f"{at}.kind must be one of {', '.join(PARSERS)}", f"{at}.kind")
        query = tile.get("query")
        if not isinstance(query, dict):
            raise InvalidInput(f"{at}.query must be an object", f"{at}.query")
        text = json.dumps(snake_keys(query), ensure_ascii=False, sort_keys=True)
        if len(text.encode()) > MAX_QUERY_BYTES:
            raise InvalidInput(f"{at}.query is larger than {MAX_QUERY_BYTES} bytes", f"{at}.query")
        try:
            PARSERS[kind](json.loads(text))
        except InvalidInput as exc:
            raise InvalidInput(f"{at}.query: {exc.message}", f"{at}.query.{exc.field}") from None
        title = (tile.get("title") or "").strip()
        if len(title) > MAX_NAME:
            raise InvalidInput(f"{at}.title is longer than {MAX_NAME} characters", f"{at}.title")
        out.append({"title": title, "kind": kind, "query": text})
    return out


class DashboardStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.dashboards = db["dashboards"]

    async def create(self, workspace: str, name: str, tiles: list[dict], now: dt.datetime) -> dict:
        doc = {
            "_id": f"dash_{secrets.token_hex(8)}",
            "workspace": workspace,
            "name": check_name(name),
            "tiles": check_tiles(tiles),
            "created_at": now,
            "updated_at": now,
        }
        await self.dashboards.insert_one(doc)
        return doc

    async def update(
        self, workspace: str, dashboard_id: str, name: str | None, tiles: list[dict] | None, now: dt.datetime
    ) -> dict:
        fields: dict = {"updated_at": now}
        if name is not None:
            fields["name"] = check_name(name)
        if tiles is not None:
            fields["tiles"] = check_tiles(tiles)
        doc = await self.dashboards.find_one_and_update(
            {"_id": dashboard_id, "workspace": workspace}, {"$set": fields}, return_document=ReturnDocument.AFTER
        )
        if doc is None:
            raise NotFound(f"dashboard {dashboard_id!r} not found", "id")
        return doc

    async def get(self, workspace: str, dashboard_id: str) -> dict:
        doc = await self.dashboards.find_one({"_id": dashboard_id, "workspace": workspace})
        if doc is None:
            raise NotFound(f"dashboard {dashboard_id!r} not found", "id")
        return doc

    async def list(self, workspace: str) -> list[dict]:
        return await self.dashboards.find({"workspace": workspace}).sort("created_at", 1).to_list(500)

    async def delete(self, workspace: str, dashboard_id: str) -> bool:
        return (await self.dashboards.delete_one({"_id": dashboard_id, "workspace": workspace})).deleted_count == 1
