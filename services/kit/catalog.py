"""The computed-trait catalog, as objects: what every layer reads instead of a copy of its own.

The declaration is proto/cdp/profile/v1/computed_traits.yaml; `./suite generate`
turns it into cdp.profile.v1.computed_traits, read here. Profile folds events
and combines merges by it, its GraphQL type and gRPC mapping are built from it,
and the rule language checks `computed.<name>` against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cdp.profile.v1.computed_traits import TRAITS

# The rule language's kinds of value (services.kit.rules uses the same strings).
NUMBER, TEXT, BOOL, LIST, TIME = "number", "text", "bool", "list", "time"
_KIND = {"int": NUMBER, "float": NUMBER, "time": TIME, "text": TEXT, "enum": TEXT, "list": LIST}


@dataclass(frozen=True)
class Choice:
    code: str
    zh: str
    en: str


@dataclass(frozen=True)
class ComputedTrait:
    name: str
    type: str  # int | float | time | text | list | enum
    default: Any
    range: tuple[int, int] | None
    values: tuple[Choice, ...]
    label_zh: str
    label_en: str
    description: str
    update: str  # event | derived | standing
    merge: str  # sum | sum_money | min | max | union | with:<trait> | derived | standing

    @property
    def kind(self) -> str:
        """The rule language's kind of this trait's values."""
        return _KIND[self.type]

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.values)

    def code_of(self, value: Any) -> str | None:
        """An enum value given as its code or either label -> the code; None when it is none of them."""
        for choice in self.values:
            if value in (choice.code, choice.zh, choice.en):
                return choice.code
        return None


def _trait(doc: dict) -> ComputedTrait:
    return ComputedTrait(
        name=doc["name"],
        type=doc["type"],
        default=doc["default"],
        range=doc["range"],
        values=tuple(Choice(*v) for v in doc["values"]),
        label_zh=doc["label"][0],
        label_en=doc["label"][1],
        description=doc["description"],
        update=doc["update"],
        merge=doc["merge"],
    )


# In declaration order (the order of the GraphQL type's fields).
COMPUTED: dict[str, ComputedTrait] = {t.name: t for t in map(_trait, TRAITS)}


def of_update(kind: str) -> list[ComputedTrait]:
    """The traits updated a given way (event, derived or standing), in declaration order."""
    return [t for t in COMPUTED.values() if t.update == kind]
