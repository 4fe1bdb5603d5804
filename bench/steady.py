"""Steady state for the write benchmarks: a store past 20,000 writes, and what each unit of work costs it.

SecantusDB (the embedded default) has costs that only show after many writes
(issue 12: its retryable-write registry scanned on every write past 10,000), so
a write benchmark that starts from an empty store measures a store nobody
runs. `reach_steady_state` tops the server up to STEADY_WRITES write commands
(counted by the server itself, `serverStatus` opcounters) before a benchmark
starts; `Meter` then reads, over a benchmark's window, the server process's
CPU seconds (from /proc) and what the clients asked of it (commands, documents
written, documents read back: services.kit.mongo.CommandCounts in every service
process, published to a directory this module gives them, plus the
benchmark's own clients when they do the work themselves).
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import time
from dataclasses import dataclass, field

from pymongo import AsyncMongoClient, UpdateOne

from services.kit.mongo import CommandCounts

STEADY_WRITES = 20_000


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process (all its threads) has used so far (Linux /proc)."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def counts_dir(stack) -> pathlib.Path:
    """Where service processes publish their command counts; set before the services start."""
    path = stack.data_dir / "mongo-counts"
    path.mkdir(parents=True, exist_ok=True)
    stack.service_env["CDP_MONGO_COUNTS"] = str(path)
    return path


async def server_writes(client: AsyncMongoClient) -> int:
    ops = (await client.admin.command("serverStatus"))["opcounters"]
    return int(ops["insert"]) + int(ops["update"]) + int(ops["delete"])


async def reach_steady_state(stack, writes: int = STEADY_WRITES, in_flight: int = 16) -> tuple[int, float]:
    """Write single documents until the server has taken `writes` write commands; returns (added, seconds)."""
    client = AsyncMongoClient(stack.mongo_url)
    try:
        missing = writes - await server_writes(client)
        started = time.perf_counter()
        if missing > 0:
            coll = client["bench_warmup"]["writes"]
            queue = iter(range(missing))

            async def worker() -> None:
                for n in queue:
                    # Upserts by _id of a few thousand documents: inserts first, then updates.
                    await coll.update_one({"_id": n % 5000}, {"$inc": {"n": 1}}, upsert=True)

            await asyncio.gather(*(worker() for _ in range(in_flight)))
        return max(0, missing), time.perf_counter() - started
    finally:
        await client.close()


@dataclass
class Reading:
    at: float
    cpu: float
    commands: int
    written: int
    read: int
    # (service, command name) -> [commands, documents written, documents read]
    detail: dict[tuple[str, str], list[int]] = field(default_factory=dict)


class Meter:
    """CPU of the store process and what the clients asked of it, between two readings."""

    def __init__(self, stack, local: CommandCounts | None = None, services: bool = True) -> None:
        self.pid = stack.procs["mongo"].pid
        self.dir = stack.data_dir / "mongo-counts" if services else None
        self.local = local

    def _counts(self) -> list[tuple[str, dict]]:
        """(service, counts) of every process; files are named <service>-<pid>.json."""
        out = []
        if self.dir is not None and self.dir.exists():
            for path in self.dir.glob("*.json"):
                try:
                    out.append((path.stem.rsplit("-", 1)[0], json.loads(path.read_text())))
                except (OSError, ValueError):
                    continue  # being replaced; the next reading has it
        if self.local is not None:
            out.append(("bench", self.local.snapshot()))
        return out

    def read(self) -> Reading:
        counts = self._counts()
        detail: dict[tuple[str, str], list[int]] = {}
        for service, c in counts:
            for name, n in c["commands"].items():
                row = detail.setdefault((service, name), [0, 0, 0])
                row[0] += n
            for name, (written, read) in c.get("by_command", {}).items():
                row = detail.setdefault((service, name), [0, 0, 0])
                row[1] += written
                row[2] += read
        return Reading(
            at=time.perf_counter(),
            cpu=cpu_seconds(self.pid),
            commands=sum(sum(c["commands"].values()) for _, c in counts),
            written=sum(c["written"] for _, c in counts),
            read=sum(c["read"] for _, c in counts),
            detail=detail,
        )

    async def settled(self) -> Reading:
        """A reading after the service processes published their latest counts."""
        await asyncio.sleep(0.6)
        return self.read()


def per_unit(before: Reading, after: Reading, units: int, unit: str) -> str:
    """The store's cost per event or message over a window, as one line."""
    units = max(1, units)
    return (
        f"store per {unit}: {(after.cpu - before.cpu) * 1000 / units:.2f} ms CPU,"
        f" {(after.commands - before.commands) / units:.2f} commands,"
        f" {(after.written - before.written) / units:.2f} docs written,"
        f" {(after.read - before.read) / units:.2f} docs read"
    )


def breakdown(before: Reading, after: Reading, units: int, unit: str) -> list[str]:
    """Commands and documents per unit by service and command name, largest first (what to cut)."""
    units = max(1, units)
    rows = []
    for key, (n, written, read) in after.detail.items():
        b = before.detail.get(key, [0, 0, 0])
        n, written, read = n - b[0], written - b[1], read - b[2]
        if n or written or read:
            rows.append((n, written, read, *key))
    rows.sort(reverse=True)
    out = [f"per {unit}, by service and command (commands, docs written, docs read):"]
    for service in sorted({r[3] for r in rows}):
        mine = [r for r in rows if r[3] == service]
        total = sum(r[0] for r in mine) / units
        parts = ", ".join(f"{r[4]} {r[0] / units:.2f}/{r[1] / units:.2f}/{r[2] / units:.2f}" for r in mine)
        out.append(f"  {service:<10} {total:5.2f}: {parts}")
    return out


def bulk_floor_ops(docs: list[dict]) -> list[UpdateOne]:
    """Upserts by _id of `docs`, for a floor that writes the same documents in one bulk_write."""
    return [UpdateOne({"_id": d["_id"]}, {"$set": d}, upsert=True) for d in docs]
