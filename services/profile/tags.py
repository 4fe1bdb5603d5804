"""Tag definitions, the e-commerce template library, tag rules and assignments (pure, no I/O).

A tag assignment is {value, confidence, source, assigned_at, expires_at}. A
definition with a rule is computed: the service evaluates the rule after every
change to the person and the sweep re-evaluates it when time alone changes
the answer (lifecycle, RFM); such a tag cannot be assigned by API. A definition
without a rule is assigned by API (AssignTags, bulk jobs).

Rules are the kit's one rule language (services/kit/rules), limited to what one
profile holds: traits.* and computed.* conditions. A flag tag's rule is a
condition and holds ("true") while it holds; an enumerated or score tag's rule
is one field (computed.rfm_group), whose value the tag holds while it is present.
Rules are stored in canonical text; `canonical_rule` is also what the start-up
migration rewrites older stored forms with (rulebook.migrate_rules).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass
from typing import Any

from services.kit import rules
from services.kit.errors import InvalidInput
from services.profile.standing import RFM_GROUPS
from services.profile.traits import iso

CATEGORIES = ("value", "lifecycle", "preference", "demographic", "campaign", "custom")
SOURCES = ("own", "template", "computed", "partner")
VALUE_KINDS = ("flag", "enumerated", "score")
NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_TEXT = 512
MAX_VALUE = 128


@dataclass
class TagDefinition:
    name: str
    display_name_zh: str = ""
    display_name_en: str = ""
    category: str = "custom"
    source: str = "own"
    value_kind: str = "flag"
    description: str = ""
    rule: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def of(cls, doc: dict) -> "TagDefinition":
        return cls(**{k: doc.get(k) or "" for k in cls.__dataclass_fields__})

    def check(self) -> "TagDefinition":
        if not NAME.match(self.name or ""):
            raise InvalidInput("tag name must be 1-64 of a-z, 0-9 and _, starting with a letter", "name")
        for field, allowed in (("category", CATEGORIES), ("source", SOURCES), ("value_kind", VALUE_KINDS)):
            if getattr(self, field) not in allowed:
                raise InvalidInput(f"{field} must be one of {', '.join(allowed)}", field)
        for field in ("display_name_zh", "display_name_en", "description", "rule"):
            if len(getattr(self, field)) > MAX_TEXT:
                raise InvalidInput(f"{field} is longer than {MAX_TEXT} characters", field)
        if self.rule:
            self.rule = canonical_rule(self.rule, self.value_kind)
        return self


# -- the template library, loaded for every new workspace ----------------------------
def _t(name, zh, en, category, kind, description, rule="") -> TagDefinition:
    return TagDefinition(name, zh, en, category, "computed" if rule else "template", kind, description, rule)


TEMPLATES: list[TagDefinition] = [
    _t(
        "high_spender",
        "订单金额高",
        "High spender",
        "value",
        "flag",
        "Spent 1,000 or more in total (net of refunds).",
        "computed.ltv >= 1000",
    ),
    _t(
        "new_user",
        "新用户",
        "New user",
        "lifecycle",
        "flag",
        "Lifecycle stage is new: active recently, fewer than 2 orders.",
        'computed.lifecycle_stage = "new"',
    ),
    _t(
        "repeat_buyer",
        "复购用户",
        "Repeat buyer",
        "value",
        "flag",
        "Placed 2 or more orders.",
        "computed.order_count >= 2",
    ),
    _t(
        "fitness",
        "运动健身",
        "Fitness",
        "preference",
        "flag",
        "Bought from the fitness category (products[].category = fitness).",
        'computed.categories = "fitness"',
    ),
    _t(
        "mother_and_baby",
        "母婴",
        "Mother and baby",
        "preference",
        "flag",
        "Bought from the mother-and-baby category (products[].category = mother_baby).",
        'computed.categories = "mother_baby"',
    ),
    _t(
        "coupon_sensitive",
        "优惠券敏感",
        "Coupon-sensitive",
        "preference",
        "flag",
        "Used a coupon on 2 or more orders (Order Completed with a coupon).",
        "computed.coupon_order_count >= 2",
    ),
    _t(
        "frequent_refunder",
        "高退款",
        "Frequent refunder",
        "value",
        "flag",
        "Refunded 2 or more orders.",
        "computed.refund_count >= 2",
    ),
    _t(
        "rfm_group",
        "RFM分群",
        "RFM group",
        "value",
        "enumerated",
        "RFM group: " + ", ".join(f"{code} {zh}" for code, zh in RFM_GROUPS.items()) + ".",
        "computed.rfm_group",
    ),
    _t(
        "domestic_brand_preference",
        "国货品牌偏好",
        "Domestic-brand preference",
        "preference",
        "flag",
        "Prefers domestic (Chinese) brands; assigned by API or a partner model.",
    ),
    _t(
        "smart_shopper",
        "精明购",
        "Price-sensitive smart shopper",
        "preference",
        "flag",
        "Compares prices and waits for deals; assigned by API or a partner model.",
    ),
    _t(
        "household_main_buyer",
        "家庭主要购买者",
        "Household main buyer",
        "demographic",
        "flag",
        "Buys for the household; assigned by API or survey.",
    ),
    _t(
        "vip_level",
        "会员等级",
        "VIP level",
        "value",
        "enumerated",
        "Membership level from the loyalty system; assigned by API.",
    ),
    _t(
        "purchase_intent",
        "购买意向分",
        "Purchase intent score",
        "value",
        "score",
        "A model's purchase-intent score (0-100); assigned by a partner.",
    ),
]


# -- rules -----------------------------------------------------------------------------
Compiled = rules.Node | str  # a flag's condition, or the field an enumerated/score tag holds


def _is_field(text: str) -> bool:
    try:
        rules.field_path(text, rules.PROFILE_ONLY)
    except InvalidInput:
        return False
    return True


def parse_rule(text: str, kind: str = "flag") -> Compiled:
    """A tag rule -> what `rule_value` evaluates; InvalidInput (field `rule`) when it does not parse."""
    if kind == "flag":
        if _is_field(text):
            raise InvalidInput("a flag tag's rule must compare, e.g. computed.revenue >= 1000", "rule")
        return rules.parse(text, rules.PROFILE_ONLY)
    if not _is_field(text):
        raise InvalidInput("an enumerated or score tag's rule is one field, e.g. computed.rfm_group", "rule")
    return rules.field_path(text, rules.PROFILE_ONLY)


def canonical_rule(text: str, kind: str = "flag") -> str:
    compiled = parse_rule(text, kind)
    return compiled if isinstance(compiled, str) else rules.to_text(compiled)


def rule_value(compiled: Compiled, kind: str, profile: dict) -> str | None:
    """The tag value the rule gives for this profile, or None when the tag does not hold."""
    person = rules.Person(profile)
    if kind != "flag":
        value = person.field(compiled)
        if value is None or isinstance(value, (list, dict)):
            return None
        return _score_text(value) if kind == "score" else str(value)
    return "true" if rules.holds(compiled, person) else None


def _score_text(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else str(number)


# -- assignments ---------------------------------------------------------------------
def assignment(
    definition: TagDefinition,
    value: str,
    confidence: float | None,
    source: str,
    assigned_at: dt.datetime,
    expires_at: dt.datetime | None,
    now: dt.datetime,
    field: str,
) -> dict:
    """A checked assignment of a defined tag by API; InvalidInput names `field.<part>`."""
    if definition.rule:
        raise InvalidInput(f"tag {definition.name!r} is computed by its rule and cannot be assigned", f"{field}.name")
    value = (value or "").strip()
    if definition.value_kind == "flag":
        if value not in ("", "true"):
            raise InvalidInput(f"tag {definition.name!r} is a flag; its value is 'true' or empty", f"{field}.value")
        value = "true"
    elif definition.value_kind == "enumerated":
        if not value or len(value) > MAX_VALUE:
            raise InvalidInput(f"tag {definition.name!r} needs a value of 1-{MAX_VALUE} characters", f"{field}.value")
    else:
        try:
            value = _score_text(float(value))
        except ValueError:
            raise InvalidInput(
                f"tag {definition.name!r} is a score; its value must be a number", f"{field}.value"
            ) from None
    confidence = 1.0 if confidence is None else confidence
    if not 0.0 <= confidence <= 1.0:
        raise InvalidInput("confidence must be between 0 and 1", f"{field}.confidence")
    source = source or "own"
    if source not in SOURCES or source == "computed":
        raise InvalidInput("source must be own, template or partner", f"{field}.source")
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("expires_at must be in the future", f"{field}.expires_at")
    return {
        "value": value,
        "confidence": round(float(confidence), 4),
        "source": source,
        "assigned_at": assigned_at,
        "expires_at": expires_at,
    }


def stronger(a: dict | None, b: dict | None) -> dict | None:
    """The assignment a merge keeps: higher confidence, then the newer assignment."""
    if a is None or b is None:
        return a or b
    return a if (a["confidence"], a["assigned_at"]) >= (b["confidence"], b["assigned_at"]) else b


def live(assignment_: dict, now: dt.datetime) -> bool:
    expires = assignment_.get("expires_at")
    return expires is None or expires > now


def announced(assignment_: dict | None) -> dict | None:
    """A tag assignment as profile.changed carries it (ISO strings for times)."""
    if assignment_ is None:
        return None
    expires = assignment_.get("expires_at")
    return {
        "value": assignment_["value"],
        "confidence": assignment_["confidence"],
        "source": assignment_["source"],
        "assigned_at": iso(assignment_["assigned_at"]),
        "expires_at": iso(expires) if expires else None,
    }
