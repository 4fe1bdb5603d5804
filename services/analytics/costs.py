"""What a message costs per channel, per workspace: the price side of a journey's ROI and of a
campaign's return on spend.

`analytics_settings`: {_id: workspace, message_costs: [{channel, cost}], updated_at}. Channels are
kept as values in a list, never as field names, so a channel name can not become an operator.
"""

from __future__ import annotations

import datetime as dt
import math
import re

from pymongo.asynchronous.database import AsyncDatabase

from services.kit.errors import InvalidInput

MAX_CHANNELS = 50
MAX_COST = 1_000_000.0
_CHANNEL = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_costs(costs: list[dict]) -> list[dict]:
    """[{channel, cost}] checked (errors name the item), in channel order; a channel at most once."""
    if not isinstance(costs, list) or len(costs) > MAX_CHANNELS:
        raise InvalidInput(f"costs must be a list of at most {MAX_CHANNELS} channels", "costs")
    seen: dict[str, float] = {}
    for i, item in enumerate(costs):
        channel, cost = item.get("channel"), item.get("cost")
        if not isinstance(channel, str) or not _CHANNEL.match(channel):
            raise InvalidInput("channel must be 1-64 letters, digits, '-' or '_'", f"costs[{i}].channel")
        if channel in seen:
            raise InvalidInput(f"channel {channel!r} is given twice", f"costs[{i}].channel")
        if isinstance(cost, bool) or not isinstance(cost, int | float) or not 0 <= cost <= MAX_COST or math.isnan(cost):
            raise InvalidInput(f"cost must be a number from 0 to {MAX_COST:g}", f"costs[{i}].cost")
        seen[channel] = float(cost)
    return [{"channel": c, "cost": seen[c]} for c in sorted(seen)]


class CostStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.settings = db["analytics_settings"]

    async def get(self, workspace: str) -> list[dict]:
        doc = await self.settings.find_one({"_id": workspace})
        return list(doc.get("message_costs", [])) if doc else []

    async def prices(self, workspace: str) -> dict[str, float]:
        return {c["channel"]: float(c["cost"]) for c in await self.get(workspace)}

    async def set(self, workspace: str, costs: list[dict], now: dt.datetime) -> list[dict]:
        checked = check_costs(costs)
        await self.settings.update_one(
            {"_id": workspace}, {"$set": {"message_costs": checked, "updated_at": now}}, upsert=True
        )
        return checked


def priced(by_channel: dict[str, int], prices: dict[str, float]) -> tuple[list[dict], float]:
    """Messages per channel at the workspace's prices: ([{channel, messages, cost, priced}], total cost);
    a channel with no price counts at 0 and says so."""
    lines = [
        {"channel": c, "messages": n, "cost": n * prices.get(c, 0.0), "priced": c in prices}
        for c, n in sorted(by_channel.items())
    ]
    return lines, sum(line["cost"] for line in lines)
