"""Identity rules: identifier types, normalisation, blocked values, priorities, limits.

Pure functions. Stored forms (what `identities.value` holds and what lookups
must use after the same normalisation):
- email: trimmed and lower-cased as a whole ("Li.Na@Example.COM " -> "li.na@example.com").
- phone: E.164 ("+8613800138000"); a number without country code is read in the
  workspace's default region (CN unless configured). Unparseable phones are dropped.
- every other type: trimmed, otherwise as sent.

Blocked-value patterns are a workspace's own regexes, matched against every
identifier of every event: they run on RE2 (google-re2), whose matching time is
linear in the value whatever the pattern. Python's backtracking `re` takes
seconds for `(a+)+b` on 26 characters and would stall the resolver for every
workspace. RE2 refuses what it cannot run in linear time (backreferences,
lookaround), so such patterns are refused when set.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass, field

import phonenumbers
import re2

from services.kit.errors import InvalidInput

BUILTIN_TYPES = ("user_id", "anonymous_id", "device_id", "email", "phone", "wechat_openid", "wechat_unionid")
DEFAULT_PRIORITY = ("user_id", "wechat_unionid", "phone", "email", "wechat_openid", "device_id", "anonymous_id")
DEFAULT_LIMITS = {
    "user_id": 1,
    "phone": 1,
    "email": 3,
    "device_id": 5,
    "anonymous_id": 20,
    "wechat_unionid": 1,
    "wechat_openid": 5,
}
DEFAULT_BLOCKED = ("", "null", "none", "nil", "undefined", "unknown", "anonymous", "0", "-1", "nan", "[]", "{}")
DEFAULT_BLOCKED_PATTERNS = (
    r"0{8}-0{4}-0{4}-0{4}-0{12}",  # all-zero UUID (iOS IDFA with tracking off)
    r"0+",  # all-zero ids of any length
    r"f{8}-f{4}-f{4}-f{4}-f{12}",
)
TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_VALUE_LENGTH = 256
MAX_PATTERN_LENGTH = 256
MAX_PATTERNS = 100

log = logging.getLogger(__name__)

Identifier = tuple[str, str]


class Suppressed(InvalidInput):
    """The item carries an identifier of a forgotten person: it must not bring them back."""


@dataclass(frozen=True)
class Rules:
    """One workspace's identity rules (defaults when the workspace configured none)."""

    priority: tuple[str, ...] = DEFAULT_PRIORITY
    limits: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    blocked: frozenset[str] = frozenset(DEFAULT_BLOCKED)
    blocked_patterns: tuple[str, ...] = DEFAULT_BLOCKED_PATTERNS
    custom_types: tuple[str, ...] = ()
    default_region: str = "CN"

    @classmethod
    def from_document(cls, doc: dict | None) -> Rules:
        if not doc:
            return cls()
        custom = tuple(doc.get("custom_types") or ())
        priority = tuple(doc.get("priority") or DEFAULT_PRIORITY)
        return cls(
            priority=priority + tuple(t for t in custom if t not in priority),
            limits={**DEFAULT_LIMITS, **(doc.get("limits") or {})},
            blocked=frozenset(DEFAULT_BLOCKED) | {str(v).strip().lower() for v in doc.get("blocked") or ()},
            blocked_patterns=DEFAULT_BLOCKED_PATTERNS + tuple(doc.get("blocked_patterns") or ()),
            custom_types=custom,
            default_region=doc.get("default_region") or "CN",
        )

    def known(self, id_type: str) -> bool:
        return id_type in BUILTIN_TYPES or id_type in self.custom_types

    def rank(self, id_type: str) -> int:
        try:
            return self.priority.index(id_type)
        except ValueError:
            return len(self.priority)

    def limit(self, id_type: str) -> int:
        return int(self.limits.get(id_type, 10))

    def is_blocked(self, value: str) -> bool:
        lowered = value.strip().lower()
        if lowered in self.blocked:
            return True
        matcher = _blocked_matcher(self.blocked_patterns)
        return matcher is not None and matcher.fullmatch(lowered) is not None

    def normalise(self, id_type: str, value: object) -> str | None:
        """The stored form of a value, or None when it must not identify anyone."""
        if value is None or isinstance(value, bool):
            return None
        text = str(value).strip()
        if not text or len(text) > MAX_VALUE_LENGTH or self.is_blocked(text):
            return None
        if id_type == "email":
            text = text.lower()
            return text if "@" in text and not self.is_blocked(text) else None
        if id_type == "phone":
            return _e164(text, self.default_region)
        return text

    def prepare(self, identifiers: list[tuple[str, object]]) -> list[Identifier]:
        """Normalised, unblocked, de-duplicated identifiers, highest priority first."""
        out: list[Identifier] = []
        for id_type, value in identifiers:
            if not self.known(id_type):
                continue
            norm = self.normalise(id_type, value)
            if norm is not None and (id_type, norm) not in out:
                out.append((id_type, norm))
        return sorted(out, key=lambda i: self.rank(i[0]))


def validate_rules_document(doc: dict) -> dict:
    """Check a workspace's rule settings before they are stored."""
    custom = doc.get("custom_types") or []
    for t in custom:
        if not isinstance(t, str) or not TYPE_NAME.match(t) or t in BUILTIN_TYPES:
            raise InvalidInput(f"custom identifier type {t!r} must be lower_snake_case and new", "custom_types")
    for t in doc.get("priority") or []:
        if t not in BUILTIN_TYPES and t not in custom:
            raise InvalidInput(f"unknown identifier type {t!r} in priority", "priority")
    for t, n in (doc.get("limits") or {}).items():
        if not isinstance(n, int) or n < 1:
            raise InvalidInput(f"limit of {t!r} must be a positive integer", "limits")
    region = doc.get("default_region") or "CN"
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidInput(f"unknown region {region!r}", "default_region")
    patterns = doc.get("blocked_patterns") or []
    if len(patterns) > MAX_PATTERNS:
        raise InvalidInput(f"at most {MAX_PATTERNS} blocked patterns", "blocked_patterns")
    for i, p in enumerate(patterns):
        where = f"blocked_patterns[{i}]"
        if not isinstance(p, str) or not p:
            raise InvalidInput("a blocked pattern must be a non-empty string", where)
        if len(p) > MAX_PATTERN_LENGTH:
            raise InvalidInput(f"blocked pattern is longer than {MAX_PATTERN_LENGTH} characters", where)
        try:
            compile_pattern(p)
        except re2.error as exc:
            raise InvalidInput(
                f"blocked pattern {p!r} is not a regular expression RE2 can run "
                f"(no backreferences or lookaround): {_reason(exc)}",
                where,
            ) from None
    return doc


def _re2_options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is the caller's error, not a line on our stderr
    return options


_OPTIONS = _re2_options()


def compile_pattern(pattern: str):
    """One pattern compiled by RE2; raises re2.error when RE2 cannot run it."""
    return re2.compile(pattern, _OPTIONS)


def _reason(exc: Exception) -> str:
    detail = exc.args[0] if exc.args else exc
    return detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)


@functools.lru_cache(maxsize=1024)
def _blocked_matcher(patterns: tuple[str, ...]):
    """All of a workspace's patterns as one RE2 alternation (one linear pass a value), or None.

    Cached by the tuple of patterns, so each rules change compiles once. A stored
    pattern RE2 cannot run (set before patterns were checked for RE2) is left out
    with a warning rather than failing every event of its workspace.
    """
    usable = []
    for p in patterns:
        try:
            compile_pattern(p)
        except re2.error as exc:
            log.warning("blocked pattern left out: RE2 cannot run it", extra={"reason": _reason(exc)})
            continue
        usable.append(p)
    if not usable:
        return None
    try:
        return compile_pattern("|".join(f"(?:{p})" for p in usable))
    except re2.error:  # together beyond RE2's memory budget: one pass a pattern, still linear each
        return _AnyOf([compile_pattern(p) for p in usable])


class _AnyOf:
    def __init__(self, compiled: list) -> None:
        self.compiled = compiled

    def fullmatch(self, value: str):
        return next((m for m in (c.fullmatch(value) for c in self.compiled) if m is not None), None)


def _e164(text: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@dataclass
class Plan:
    """What resolving one event's identifiers will do."""

    persons: list[str]  # existing persons to end up as one (first = oldest = winner)
    attach: list[Identifier]  # unowned identifiers to give to the winner
    dropped: list[Identifier]  # identifiers left out so as not to break a limit


def plan(
    identifiers: list[Identifier],
    owners: dict[Identifier, str],
    holdings: dict[str, list[Identifier]],
    age: dict[str, tuple],
    rules: Rules,
) -> Plan:
    """Decide the persons to merge and identifiers to attach, never breaking a limit.

    `identifiers` come highest priority first. When the union of everything the
    involved persons hold plus the new identifiers would exceed a type's limit,
    the event's lowest-priority identifier is dropped and the rest tried again;
    so two persons with different values of a limit-1 type are never merged.
    """
    candidates = list(identifiers)
    dropped: list[Identifier] = []
    while candidates:
        persons = sorted({owners[i] for i in candidates if i in owners}, key=lambda p: age[p])
        attach = [i for i in candidates if i not in owners]
        if _within_limits(persons, attach, holdings, rules):
            return Plan(persons, attach, dropped)
        dropped.append(candidates.pop())
    return Plan([], [], dropped)


def _within_limits(persons: list[str], attach: list[Identifier], holdings: dict, rules: Rules) -> bool:
    held = [i for person in persons for i in holdings.get(person, [])]
    return not over_limits(held + attach, rules)


def over_limits(identifiers: list[Identifier], rules: Rules) -> str:
    """Which limits one person holding all these identifiers would break ("" when none)."""
    values: dict[str, set[str]] = {}
    for id_type, value in identifiers:
        values.setdefault(id_type, set()).add(value)
    broken = [
        f"{len(v)} {t} values (limit {rules.limit(t)})" for t, v in sorted(values.items()) if len(v) > rules.limit(t)
    ]
    return ", ".join(broken)
