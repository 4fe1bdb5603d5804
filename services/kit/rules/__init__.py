"""The one rule language: one tree, text and JSON forms, a canonical text, bounded nesting.

Segment compiles a tree to a bitmap program (services/segment/plan.py);
profile's computed tags and, next, journey branches evaluate it on one
person (evaluate.py). Rules are parsed, never evaluated as code. Which
fields exist is the Schema's business: computed traits come from the
catalog (services/kit/catalog.py), traits and tags from what the workspace
has seen. Adding an operator: its syntax in text_form.py and json_form.py,
its node (or a reuse of one) in ast.py, its text in canonical.py, and its
meaning in evaluate.py and segment's plan.py; tests/test_rules_language.py
checks that both forms and both interpreters agree.
"""

from __future__ import annotations

import json

from services.kit.catalog import BOOL, LIST, NUMBER, TEXT, TIME
from services.kit.errors import InvalidInput
from services.kit.rules import json_form, text_form
from services.kit.rules.ast import (
    And,
    Between,
    Compare,
    Did,
    Exists,
    HasTag,
    InSegment,
    Leaf,
    Node,
    Not,
    Or,
    Value,
    leaves,
    segments_referenced,
    uses,
    windowed,
)
from services.kit.rules.canonical import to_text
from services.kit.rules.evaluate import Person, holds
from services.kit.rules.limits import (
    CONFIDENCE_STEPS,
    INDEXED_PROPERTIES,
    MAX_DAYS,
    MAX_DEPTH,
    MAX_LEAVES,
    MAX_RULE_LENGTH,
    MAX_TIMES,
)
from services.kit.rules.schema import BEHAVIOUR, FIELDS, PROFILE_ONLY, SEGMENTS, TAGS, UNCHECKED, Schema
from services.kit.rules.text_form import field_path

__all__ = [
    "BEHAVIOUR", "BOOL", "CONFIDENCE_STEPS", "FIELDS", "INDEXED_PROPERTIES", "LIST", "MAX_DAYS", "MAX_DEPTH",
    "MAX_LEAVES", "MAX_RULE_LENGTH", "MAX_TIMES", "NUMBER", "PROFILE_ONLY", "SEGMENTS", "TAGS", "TEXT", "TIME",
    "UNCHECKED", "And", "Between", "Compare", "Did", "Exists", "HasTag", "InSegment", "Leaf", "Node", "Not", "Or",
    "Person", "Schema", "Value", "field_path", "holds", "leaves", "parse", "segments_referenced", "to_text", "uses",
    "windowed",
]  # fmt: skip


def parse(rule: str | dict, schema: Schema = UNCHECKED) -> Node:
    """Text or JSON form (a dict, or a string starting with '{') -> the tree; InvalidInput names where."""
    if isinstance(rule, dict):
        return json_form.Parser(schema).node(rule, "$")
    if not isinstance(rule, str) or not rule.strip():
        raise InvalidInput("rule is empty", "rule")
    if len(rule) > MAX_RULE_LENGTH:
        raise InvalidInput(f"rule is longer than {MAX_RULE_LENGTH} characters", "rule")
    if rule.lstrip().startswith("{"):
        try:
            doc = json.loads(rule)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"rule is not valid JSON: {exc.msg} at column {exc.colno}", "rule") from None
        except RecursionError:
            raise InvalidInput(f"rule is nested more than {MAX_DEPTH} levels deep", "rule") from None
        return json_form.Parser(schema).node(doc, "$")
    return text_form.Parser(rule, schema).whole_rule()
