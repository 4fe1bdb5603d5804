"""Reading persons with their identifiers, in batches (for gRPC and GraphQL)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from services.identity.store import IdentityStore


@dataclass
class PersonView:
    workspace: str
    id: str
    uid: int
    created_at: dt.datetime | None
    identifiers: list[tuple[str, str]] = field(default_factory=list)
    merged_into: str = ""


async def load_persons(store: IdentityStore, workspace: str, person_ids: list[str]) -> list[PersonView | None]:
    docs = await store.persons_by_ids(workspace, person_ids)
    idents = await store.identifiers_of(workspace, list(docs))
    out: list[PersonView | None] = []
    for pid in person_ids:
        doc = docs.get(pid)
        if doc is None:
            out.append(None)
            continue
        out.append(
            PersonView(
                workspace=workspace,
                id=pid,
                uid=doc["uid"],
                created_at=doc.get("created_at"),
                identifiers=[(d["type"], d["value"]) for d in idents.get(pid, [])],
                merged_into=doc.get("merged_into", ""),
            )
        )
    return out
