"""Guards for user-supplied keys that end up in MongoDB documents."""

from __future__ import annotations

from typing import Any

from services.kit.errors import InvalidInput

MAX_KEY_LENGTH = 128
MAX_DEPTH = 8


def check_key(key: Any, path: str) -> str:
    """One key of a document under `path`; see check_keys."""
    if not isinstance(key, str) or not key:
        raise InvalidInput(f"{path} has an empty or non-string key", path)
    if key.startswith("$") or "." in key or "\x00" in key:
        raise InvalidInput(f"key {key!r} in {path} may not start with '$' or contain '.' or NUL", f"{path}.{key}")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(f"key in {path} is longer than {MAX_KEY_LENGTH} characters", f"{path}.{key[:32]}")
    return key


def check_keys(value: Any, path: str, depth: int = 0) -> None:
    """Refuse keys that MongoDB would read as operators or paths.

    A key starting with `$` or containing `.` or NUL would turn user data into
    query/update syntax; reject it at the edge with the failing key named.
    """
    if depth > MAX_DEPTH:
        raise InvalidInput(f"{path} is nested deeper than {MAX_DEPTH} levels", path)
    if isinstance(value, dict):
        for key, inner in value.items():
            check_key(key, path)
            check_keys(inner, f"{path}.{key}", depth + 1)
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            check_keys(inner, f"{path}[{i}]", depth + 1)
