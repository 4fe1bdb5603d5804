"""Profile documents as API values (shared by gRPC and GraphQL)."""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from typing import Any

from services.kit.catalog import COMPUTED


def computed_values(profile: dict | None) -> dict[str, Any]:
    """Every catalog trait of a profile as the APIs show it: the stored value, else the catalog's default."""
    computed = (profile or {}).get("computed") or {}
    out = {}
    for trait in COMPUTED.values():
        value = computed.get(trait.name)
        out[trait.name] = copy.copy(trait.default) if value is None else value
    return out


@dataclass
class TagView:
    name: str
    value: str
    source: str
    confidence: float
    assigned_at: dt.datetime
    expires_at: dt.datetime | None

    @classmethod
    def all_of(cls, profile: dict | None) -> list["TagView"]:
        tags = (profile or {}).get("tags") or {}
        return [
            cls(
                name=name,
                value=t["value"],
                source=t["source"],
                confidence=t["confidence"],
                assigned_at=t["assigned_at"],
                expires_at=t.get("expires_at"),
            )
            for name, t in sorted(tags.items())
        ]
