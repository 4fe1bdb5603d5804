"""What services may keep of an erased person: a one-way digest, never the id itself."""

from __future__ import annotations

import hashlib


def erased_digest(workspace: str, person_id: str) -> str:
    """Lets a service recognise (and refuse) late data of an erased person without storing who it was."""
    return hashlib.sha256(f"{workspace}:{person_id}".encode()).hexdigest()
