"""SQL analysis: an operator's own read-only SELECT over a per-workspace virtual schema.

The operator's query names virtual tables (`events`, `person_traits`,
`message_statuses`); each is a CTE holding only the caller's workspace, merges
applied, put in front of the query, which then runs as a subquery. Nothing else
is reachable: the query is parsed by the engine itself (`EXPLAIN AST`, so what
is checked is what would run) and refused when it is not one SELECT, names a
database (`system.*`, the analytics database), a table that is not a virtual one
or the query's own CTE, a table function (`file`, `url`, `numbers`, ...), a
function that reads outside the query's rows (dictionaries, joinGet,
hasColumnInTable, settings and server facts), or carries SETTINGS. Rows and run
time are capped; the answer says when rows were cut.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.analytics import sql
from services.analytics.store import mappings_sql, overrides_sql
from services.kit.errors import InvalidInput

MAX_TEXT = 10_000
MAX_ROWS = 10_000
SECONDS = 30
VIRTUAL_TABLES = ("events", "person_traits", "message_statuses")
# Databases a dotted name could reach; the configured analytics database is added per query.
DATABASES = frozenset({"system", "default", "information_schema"})
# Functions that read something other than the rows of the query.
FORBIDDEN_FUNCTIONS = frozenset(
    {
        "joinget", "joingetornull", "hascolumnintable", "getsetting", "getsettingordefault", "currentdatabase",
        "currentuser", "currentschemas", "hostname", "fqdn", "getmacro", "getserverport", "filesystemavailable",
        "filesystemcapacity", "filesystemunreserved", "uptime", "version", "tcpport", "shardnum", "shardcount",
        "getclientheader", "initialqueryid", "queryid", "currentprofiles", "currentroles", "enabledprofiles",
        "enabledroles", "defaultprofiles", "defaultroles", "serveruuid", "getoscpu",
    }
)  # fmt: skip
_LITERALS = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`(?:[^`\\]|\\.)*`")
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)
_CTE = re.compile(r"(?:\bWITH\b|,)\s*([A-Za-z_][A-Za-z0-9_]*)\s+AS\s*\(", re.I)
_NODE = re.compile(r"^(\s*)(\S+)(?: (.*?))?(?: \(alias [^)]*\))?(?: \(children \d+\))?$")


@dataclass(frozen=True)
class Checked:
    text: str
    ctes: frozenset[str]


def precheck(text: str) -> Checked:
    """What can be told without the engine: size, one statement, the query's own CTE names."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("sql is required", "sql")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"sql is longer than {MAX_TEXT} characters", "sql")
    body = text.strip()
    while body.endswith(";"):
        body = body[:-1].rstrip()
    bare = _COMMENTS.sub(" ", _LITERALS.sub("''", body))
    if ";" in bare:
        raise InvalidInput("sql must be one statement", "sql")
    if re.search(r"\bFORMAT\b|\bINTO\s+OUTFILE\b", bare, re.I):
        raise InvalidInput("sql may not set FORMAT or INTO OUTFILE: results come back as rows", "sql")
    ctes = frozenset(m.group(1).lower() for m in _CTE.finditer(bare))
    return Checked(body, ctes)


def check_ast(ast: str, checked: Checked, database: str) -> None:
    """Refuse anything in the parsed query that reaches beyond the virtual tables (the module says what)."""
    lines = [line for line in ast.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("SelectWithUnionQuery"):
        raise InvalidInput("sql must be a SELECT (or WITH ... SELECT)", "sql")
    databases = DATABASES | {database.lower()}
    tables = set(VIRTUAL_TABLES) | checked.ctes
    parent_at: dict[int, str] = {}
    for line in lines:
        m = _NODE.match(line)
        if not m:
            continue
        depth, kind, arg = len(m.group(1)), m.group(2), (m.group(3) or "").strip()
        parent = parent_at.get(depth - 1, "")
        parent_at[depth] = kind
        if kind in ("Set", "SetQuery"):
            raise InvalidInput("sql may not carry SETTINGS: limits are set by the service", "sql")
        if kind == "TableIdentifier":
            name = arg.split(" ")[0].strip("`").lower()
            if "." in name or name not in tables:
                raise InvalidInput(
                    f"unknown table {name!r}: the tables are {', '.join(VIRTUAL_TABLES)} (and the query's own WITH)",
                    "sql",
                )
        elif kind == "Function":
            fname = arg.split(" ")[0].lower()
            if parent == "TableExpression":
                raise InvalidInput(f"table function {fname!r} is not allowed: query the virtual tables", "sql")
            if fname.startswith("dict") or fname in FORBIDDEN_FUNCTIONS:
                raise InvalidInput(f"function {fname!r} is not allowed in SQL analysis", "sql")
        elif kind == "Identifier":
            head = arg.split(" ")[0].strip("`").split(".")[0].lower()
            if "." in arg and head in databases:
                raise InvalidInput(f"database {head!r} is not reachable: query the virtual tables", "sql")


def virtual_tables(db: str, workspace: str) -> str:
    """The WITH clause that defines every virtual table as the workspace's rows, merges applied."""
    ws = sql.string(workspace)
    # Traits are never squashed: they are joined through every merge, the others through the pending ones.
    over, every = overrides_sql(db, workspace), mappings_sql(db, workspace)
    person = "if(o.person_id = '', x.person_id, o.person_id)"
    return (
        "WITH "
        f"events AS (SELECT x.message_id AS message_id, {person} AS person, x.type AS type, x.event AS event, "
        "x.name AS name, x.ts AS ts, x.properties AS properties, x.products AS products "
        f"FROM {db}.events AS x FINAL LEFT JOIN ({over}) AS o ON o.old_person_id = x.person_id "
        f"WHERE x.workspace = {ws}), "
        f"person_traits AS (SELECT {person} AS person, x.key AS key, x.value AS value, x.ts AS ts "
        f"FROM {db}.person_traits AS x FINAL LEFT JOIN ({every}) AS o ON o.old_person_id = x.person_id "
        f"WHERE x.workspace = {ws}), "
        f"message_statuses AS (SELECT x.message_id AS message_id, {person} AS person, x.campaign_id AS campaign_id, "
        "x.status AS status, x.reason AS reason, x.ts AS ts "
        f"FROM {db}.message_statuses AS x FINAL LEFT JOIN ({over}) AS o ON o.old_person_id = x.person_id "
        f"WHERE x.workspace = {ws})"
    )


def wrapped(db: str, workspace: str, checked: Checked, max_rows: int) -> str:
    """The query as it runs: the virtual tables in front, the operator's query as a subquery, one row past the cap
    (so the answer can say it was cut)."""
    return f"{virtual_tables(db, workspace)}\nSELECT * FROM (\n{checked.text}\n) LIMIT {max_rows + 1}"
