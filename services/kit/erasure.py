"""What services may keep of an erased person: one-way digests, never the id or an identifier itself."""

from __future__ import annotations

import hashlib


def erased_digest(workspace: str, person_id: str) -> str:
    """Lets a service recognise (and refuse) late data of an erased person without storing who it was."""
    return hashlib.sha256(f"{workspace}:{person_id}".encode()).hexdigest()


def identifier_digest(workspace: str, id_type: str, value: str) -> str:
    """Lets identity refuse a forgotten identifier (normalised form) without keeping its value.

    The "suppressed:" prefix keeps these apart from the person digests above.
    """
    return hashlib.sha256(f"suppressed|{workspace}|{id_type}|{value}".encode()).hexdigest()
