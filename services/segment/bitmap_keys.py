"""Where the bitmap index keeps what in Redis: every key name, in one place.

Keys are sharded by uid range (2^20 uids = 128 KiB per bitmap) with the
workspace and shard as the Redis Cluster hash tag, so all keys of one shard
share a slot (one Lua script can combine them) and shards spread over nodes.
Which bitmaps a value sets is in encoding.py. Besides the bitmaps
(`cdp:{<ws>:<shard>}:<suffix>`, see shard_key), each shard holds:

    cdp:{<ws>:<shard>}:alive               bitmap: every person of the shard not erased
    cdp:{<ws>:<shard>}:keys                set: every bitmap key of the shard (for erasing a person)
    cdp:{<ws>:<shard>}:keys:scanned        "1" once the registry was backfilled by a SCAN
    cdp:{<ws>:<shard>}:gone                hash uid -> "m:<ms>" merged away, "f:<ms>" forgotten,
                                           "r:<ms>" restored by an unmerge (see BitmapIndex.retire/restore)
    cdp:{<ws>:<shard>}:vs:<path>           set: value bitmaps ever set for an attribute (to clear the old value)
    cdp:{<ws>:<shard>}:ns                  hash path -> bit slices in use in this shard
    cdp:{<ws>:<shard>}:pid                 hash uid -> person id (for membership announcements)
    cdp:{<ws>:<shard>}:outbox              stream: membership transitions not yet on Kafka
    cdp:{<ws>:<shard>}:lock:<uid>          the replica working on this person now (see person_locks.py)
    cdp:{<ws>:<shard>}:erasing:<uid>       set: value bitmaps a forget still has to prune (survives a retry)
    cdp:ws:<ws>:shards                     set of shard numbers in use
    cdp:ws:<ws>:slices / :wide / :neg      what the compiler must know of numeric attributes (plan.Meta)
    cdp:outboxes                           set of outbox streams (for the relay)
"""

from __future__ import annotations

from typing import Any

from services.segment import encoding as enc
from services.segment.encoding import shard_of

OUTBOXES = "cdp:outboxes"


def tag(workspace: str, shard: int) -> str:
    return f"cdp:{{{workspace}:{shard}}}"


def alive_key(workspace: str, shard: int) -> str:
    return f"{tag(workspace, shard)}:alive"


def trait_key(workspace: str, shard: int, trait: str, value: Any) -> str | None:
    """The value bitmap of traits.<trait> = value (numbers: whole 0..200 only)."""
    path = f"traits.{trait}"
    number = enc.as_number(path, value)
    if number is not None:
        value = enc.small_int(path, number)
        if value is None:
            return None
    key = enc.value_key(path, value)
    return None if key is None else f"{tag(workspace, shard)}:{key}"


def shard_key(workspace: str, shard: int, suffix: str) -> str:
    return f"{tag(workspace, shard)}:{suffix}"


def erasing_key(workspace: str, shard: int, uid: int) -> str:
    return shard_key(workspace, shard, f"erasing:{uid}")


def shards_key(workspace: str) -> str:
    return f"cdp:ws:{workspace}:shards"


def meta_keys(workspace: str) -> tuple[str, str, str]:
    base = f"cdp:ws:{workspace}"
    return f"{base}:slices", f"{base}:wide", f"{base}:neg"


def steps_key(workspace: str) -> str:
    """Whole-number paths whose step bitmaps (encoding.step_key) cover every person."""
    return f"cdp:ws:{workspace}:steps"


def free_key(workspace: str) -> str:
    """Attributes with too many distinct values to index each value (hash tag: one slot with `vals`)."""
    return f"cdp:ws:{{{workspace}}}:free"


def values_key(workspace: str, path: str) -> str:
    return f"cdp:ws:{{{workspace}}}:vals:{path}"


def gone_key(workspace: str, shard: int) -> str:
    return f"{tag(workspace, shard)}:gone"


def registry_key(workspace: str, shard: int) -> str:
    return f"{tag(workspace, shard)}:keys"


def outbox_key(workspace: str, shard: int) -> str:
    return f"{tag(workspace, shard)}:outbox"


def pid_key(workspace: str, shard: int) -> str:
    return f"{tag(workspace, shard)}:pid"


def lock_key(workspace: str, uid: int) -> str:
    shard, _ = shard_of(uid)
    return f"{tag(workspace, shard)}:lock:{uid}"


def scanned_key(workspace: str, shard: int) -> str:
    return f"{tag(workspace, shard)}:keys:scanned"


def glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "\\*?[]" else c for c in text)
