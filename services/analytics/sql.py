"""SQL text from values: every literal goes through here, so user input never becomes SQL syntax.

Literals are rendered (not bound as driver parameters) because chDB and
clickhouse-connect bind differently; rendering once keeps the text of a query
the same for both drivers, which tests/test_analytics_engine.py checks.
"""

from __future__ import annotations

import datetime as dt
import math


def string(value: str) -> str:
    """A ClickHouse string literal: backslashes and quotes escaped, control bytes as escapes."""
    out = []
    for ch in value:
        if ch == "\\":
            out.append("\\\\")
        elif ch == "'":
            out.append("\\'")
        elif ord(ch) < 0x20 or ch == "\x7f":
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "'" + "".join(out) + "'"


def number(value: float | int) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    return repr(int(value)) if isinstance(value, int) else repr(float(value))


def strings(values) -> str:
    """A tuple literal for IN: ('a', 'b')."""
    items = [string(v) for v in values]
    return "(" + ", ".join(items) + ")" if items else "('')"


def instant(value: dt.datetime) -> str:
    """A UTC instant as DateTime64(3) (naive values are UTC)."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return f"toDateTime64({string(value.isoformat(sep=' ', timespec='milliseconds'))}, 3, 'UTC')"


def stamp(value: dt.datetime) -> str:
    """The text form ClickHouse parses into DateTime64(3, 'UTC') in JSONEachRow inserts."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(sep=" ", timespec="milliseconds")


def json_path(column: str, path: str) -> str:
    """The arguments after the JSON column for JSONExtract*: "a.b" -> column, 'a', 'b'."""
    return ", ".join([column, *(string(p) for p in path.split("."))])


def json_text(column: str, path: str) -> str:
    """A property as text whatever its JSON type (a string's value, a number's digits), '' when absent."""
    args = json_path(column, path)
    return f"if(JSONType({args}) = 'String', JSONExtractString({args}), JSONExtractRaw({args}))"


def json_number(column: str, path: str) -> str:
    """A property as a number (a numeric string counts too); NULL when absent or not a number."""
    args = json_path(column, path)
    return f"if(JSONHas({args}), toFloat64OrNull(trim(BOTH '\"' FROM JSONExtractRaw({args}))), NULL)"
