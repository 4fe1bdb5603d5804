"""One engine interface, two drivers: chDB in this process (the embedded default) and a ClickHouse server.

Both receive the very same SQL text (rendered by sql.py and the models), so what
the tests run on chDB is what production runs on ClickHouse. Every result comes
back in one format (JSONCompact) whatever the driver, so result shaping cannot
differ either.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import re
import threading
from typing import Protocol
from urllib.parse import urlparse

_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`")

# Added to every SELECT by both drivers alike: 64-bit counts as JSON numbers, not strings, a bound
# on how long one query may run (an answer that takes longer is refused, not waited for), and FINAL
# merged within each partition only. That last one is safe because a row and its redelivered copy
# always share a partition (events partition by the month of their own time; the other tables are
# not partitioned), and it lets FINAL read a merged partition without merging it again (trend and
# paths 20% faster on the 1,000,000-event bench shop, bench/README.md).
OUTPUT_SETTINGS = (
    "output_format_json_quote_64bit_integers = 0, max_execution_time = 120, "
    "do_not_merge_across_partitions_select_final = 1"
)


class EngineError(Exception):
    """The engine refused a statement. The message keeps the engine's code and words but none of
    the quoted text, which may be data (a property value, a person id) that must not reach logs."""

    def __init__(self, message: str) -> None:
        first = (message.strip().splitlines() or [""])[0]
        super().__init__(_QUOTED.sub("'…'", first)[:300])


class EngineUnavailable(EngineError, ConnectionError):
    """The server is out of reach. A ConnectionError, so a Kafka consumer retries the batch later
    (and commits nothing) instead of dead-lettering its records."""


class Driver(Protocol):
    name: str

    def execute(self, sql: str) -> bytes:
        """Run one statement; returns the raw output (JSONCompact for SELECTs, empty otherwise)."""
        ...

    def close(self) -> None: ...


class ChdbDriver:
    """ClickHouse in this process. chDB allows one process per data path (a lock enforces it), so
    the analytics process owns its path; statements are serialised on the one session."""

    name = "chdb"

    def __init__(self, path: pathlib.Path) -> None:
        from chdb import session

        path.mkdir(parents=True, exist_ok=True)
        self._session = session.Session(str(path))
        self._lock = threading.Lock()

    def execute(self, sql: str) -> bytes:
        with self._lock:
            try:
                result = self._session.query(sql, "JSONCompact")
            except Exception as exc:  # chDB raises RuntimeError with the server's message
                self._flush()
                raise EngineError(str(exc)) from None
        return result.bytes() if result is not None else b""

    def _flush(self) -> None:
        """chDB keeps what a failed query had written (a timeout's or a memory limit's partial answer)
        and hands it out in front of the next query's answer, which then is not one JSON document:
        another caller's query would fail for this one's error. One throwaway query takes it."""
        try:
            self._session.query("SELECT 1", "JSONCompact")
        except Exception:  # the session is unusable; the next query says so itself
            pass

    def close(self) -> None:
        with self._lock:
            self._session.close()


class ClickHouseDriver:
    """A ClickHouse server (or cluster) over HTTP through clickhouse-connect: the service is stateless."""

    name = "clickhouse"

    def __init__(self, url: str) -> None:
        import clickhouse_connect

        parts = urlparse(url)
        self._client = clickhouse_connect.get_client(
            host=parts.hostname or "localhost",
            port=parts.port or 8123,
            username=parts.username or "default",
            password=parts.password or "",
            secure=parts.scheme == "https",
        )

    def execute(self, sql: str) -> bytes:
        from clickhouse_connect.driver.exceptions import OperationalError

        try:
            if _is_select(sql):
                return self._client.raw_query(sql, fmt="JSONCompact")
            self._client.command(sql)
            return b""
        except OperationalError as exc:
            raise EngineUnavailable(str(exc)) from None
        except Exception as exc:
            raise EngineError(str(exc)) from None

    def close(self) -> None:
        self._client.close()


def _is_select(sql: str) -> bool:
    head = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
    return head in ("SELECT", "WITH", "EXPLAIN")


class Engine:
    """What the store and the models call: async, one format, the same SQL on either driver."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver

    @property
    def name(self) -> str:
        return self.driver.name

    async def execute(self, sql: str) -> None:
        await asyncio.to_thread(self.driver.execute, sql)

    async def rows(self, sql: str) -> list[list]:
        """The rows of a SELECT (rendered without FORMAT/SETTINGS: both are added here, identically)."""
        raw = await asyncio.to_thread(self.driver.execute, finish_select(sql))
        try:
            return _answer(raw)["data"] if raw else []
        except CutShort:
            # Seen on chDB once, on the query right after one that passed the memory limit: its answer
            # came with more after it. Asked once more; a second such answer is the error.
            raw = await asyncio.to_thread(self.driver.execute, finish_select(sql))
            return _answer(raw)["data"] if raw else []

    async def table(self, sql: str, seconds: int) -> tuple[list[dict], list[list]]:
        """Columns (name, type) and rows of a SELECT that may run at most `seconds`."""
        raw = await asyncio.to_thread(self.driver.execute, finish_select(sql, seconds))
        if not raw:
            return [], []
        doc = _answer(raw)
        return [{"name": m["name"], "type": m["type"]} for m in doc.get("meta", [])], doc["data"]

    async def explain_ast(self, sql: str) -> str:
        """The engine's own parse of a statement (EXPLAIN AST), one node per line; nothing runs."""
        raw = await asyncio.to_thread(self.driver.execute, f"EXPLAIN AST {sql}")
        return "\n".join(row[0] for row in json.loads(raw)["data"]) if raw else ""

    def close(self) -> None:
        self.driver.close()


def _answer(raw: bytes) -> dict:
    """The engine's JSON answer. A query that fails after its first rows were written (its memory
    limit, mid-stream) leaves the error text after them instead of raising: that is an EngineError
    with the engine's message, not a parse error of ours."""
    try:
        return json.loads(raw)
    except ValueError:
        tail = raw[-400:].decode(errors="replace")
        found = tail.find("Code: ")
        if found >= 0:
            raise EngineError(tail[found:]) from None
        raise CutShort("the engine's answer was not one JSON document") from None


class CutShort(EngineError):
    """An answer that is not one JSON document, with no error of the engine in it."""


def finish_select(sql: str, seconds: int = 120) -> str:
    settings = OUTPUT_SETTINGS.replace("max_execution_time = 120", f"max_execution_time = {int(seconds)}")
    return f"{sql.rstrip().rstrip(';')}\nSETTINGS {settings}"


def connect(clickhouse_url: str, data_path: pathlib.Path) -> Engine:
    """ClickHouse server when a URL is configured (production), else chDB under the data path."""
    if clickhouse_url:
        return Engine(ClickHouseDriver(clickhouse_url))
    return Engine(ChdbDriver(data_path))
