"""The rule language: parsed into an AST, errors name the column."""

from __future__ import annotations

import pytest

from services.kit.errors import InvalidInput
from services.kit.rules import And, Compare, Not, Or, parse


def TraitEquals(name, value):
    return Compare(f"traits.{name}", "=", value)


def test_precedence_parentheses_in_and_not_equal():
    node = parse(
        'traits.gender = "female" AND (traits.city IN ["上海", "北京"] OR NOT traits.vip = true) AND traits.age != 30'
    )
    assert node == And(
        (
            TraitEquals("gender", "female"),
            Or((Or((TraitEquals("city", "上海"), TraitEquals("city", "北京"))), Not(TraitEquals("vip", True)))),
            Not(TraitEquals("age", 30)),
        )
    )


def test_or_binds_looser_than_and_and_keywords_ignore_case():
    assert parse("traits.a = 1 or traits.b = 2 and traits.c = 3") == Or(
        (TraitEquals("a", 1), And((TraitEquals("b", 2), TraitEquals("c", 3))))
    )


def test_string_escapes_and_numbers():
    assert parse(r'traits.name = "say \"hi\""') == TraitEquals("name", 'say "hi"')
    assert parse("traits.score = -2.5") == TraitEquals("score", -2.5)


@pytest.mark.parametrize(
    "rule,message",
    [
        ("traits.agee", "expected a comparison, BETWEEN, IN, CONTAINS or EXISTS at column 12"),
        ("traits.gender = ", "expected a value after '=' at column 17"),
        ("foo.x = 1", "unknown field 'foo.x' at column 1"),
        ("traits.a = 1 AND", "expected a condition at column 17"),
        ("(traits.a = 1", "expected ')' at column 14"),
        ("traits.a = 1 1", "unexpected '1' at column 14"),
        ("traits.a = 1; DROP", "unexpected character ';' at column 13"),
        ("", "rule is empty"),
    ],
)
def test_errors_name_the_position(rule, message):
    with pytest.raises(InvalidInput) as err:
        parse(rule)
    assert message in err.value.message
    assert err.value.field == "rule"


def test_rules_are_never_evaluated_as_code():
    with pytest.raises(InvalidInput):
        parse('__import__("os").system("true")')


# -- the full language --------------------------------------------------------------
from services.kit.rules import (  # noqa: E402
    NUMBER,
    TEXT,
    Between,
    Did,
    Exists,
    HasTag,
    InSegment,
    Schema,
    to_text,
)

SCHEMA = Schema(traits={"age": {NUMBER}, "gender": {TEXT}, "city": {TEXT}}, tags={"fitness", "rfm_group"})

FULL = (
    'traits.gender = "female" AND traits.age BETWEEN 25 AND 34 AND computed.revenue >= 1000 '
    'AND NOT computed.lifecycle_stage = "churned" AND (tags.fitness WITH CONFIDENCE >= 0.8 '
    'OR DID "Order Completed" WHERE category = "fruit" AT LEAST 2 TIMES IN LAST 30 DAYS) '
    'AND DID NOT "App Opened" IN LAST 7 DAYS AND traits.city EXISTS AND computed.rfm_group = "重要价值"'
)


def test_text_form_covers_every_condition():
    node = parse(FULL, SCHEMA)
    assert node == And(
        (
            Compare("traits.gender", "=", "female"),
            Between("traits.age", 25, 34),
            Compare("computed.revenue", ">=", 1000),
            Not(Compare("computed.lifecycle_stage", "=", "churned")),
            Or((HasTag("fitness", None, 0.8), Did("Order Completed", 30, 2, "category", "fruit"))),
            Not(Did("App Opened", 7)),
            Exists("traits.city"),
            Compare("computed.rfm_group", "=", "important_value"),
        )
    )
    assert parse(to_text(node), SCHEMA) == node


def test_json_form_gives_the_same_ast():
    doc = {
        "and": [
            {"trait": "gender", "op": "=", "value": "female"},
            {"trait": "age", "op": "between", "value": [25, 34]},
            {"computed": "revenue", "op": ">=", "value": 1000},
            {"not": {"computed": "lifecycle_stage", "op": "=", "value": "churned"}},
            {
                "or": [
                    {"tag": "fitness", "min_confidence": 0.8},
                    {"did": "Order Completed", "where": {"category": "fruit"}, "at_least": 2, "days": 30},
                ]
            },
            {"did_not": "App Opened", "days": 7},
            {"trait": "city", "op": "exists"},
            {"computed": "rfm_group", "value": "重要价值"},
        ]
    }
    assert parse(doc, SCHEMA) == parse(FULL, SCHEMA)
    import json

    assert parse(json.dumps(doc), SCHEMA) == parse(FULL, SCHEMA)


@pytest.mark.parametrize(
    "rule,message",
    [
        ('traits.gender = "f" AND traits.agee > 3', "unknown trait 'agee' at column 25"),
        ("computed.revenu > 3", "unknown computed trait 'revenu' at column 1"),
        ('traits.gender > "a"', "is not a number or time"),
        ("tags.fitnes", "unknown tag 'fitnes' at column 1"),
        ("tags.fitness WITH CONFIDENCE >= 0.75", "multiple of 0.1 (tags are indexed by tenths) at column 33"),
        ('DID "x" AT LEAST 9 TIMES IN LAST 3 DAYS', "times must be a whole number from 1 to 8 at column 18"),
        ('DID "x" IN LAST 400 DAYS', "days must be a whole number from 1 to 120 at column 17"),
        ('DID "x" WHERE colour = "red" IN LAST 3 DAYS', "property 'colour' is not indexed"),
        ('computed.lifecycle_stage = "dead"', "lifecycle_stage is one of new, growing, loyal, silent, churned"),
        ('computed.rfm_group = "nope"', "rfm_group is one of important_value"),
        ('IN SEGMENT "nope"', "unknown segment 'nope' at column 12"),
    ],
)
def test_errors_name_position_and_problem(rule, message):
    schema = Schema(SCHEMA.traits, SCHEMA.tags, segment=lambda ref: None)
    with pytest.raises(InvalidInput) as err:
        parse(rule, schema)
    assert message in err.value.message


def test_json_errors_name_the_path():
    with pytest.raises(InvalidInput) as err:
        parse({"and": [{"trait": "gender", "value": "f"}, {"not": {"trait": "agee", "op": ">", "value": 3}}]}, SCHEMA)
    assert "unknown trait 'agee' at $.and[1].not.trait" in err.value.message
    with pytest.raises(InvalidInput) as err:
        parse({"and": [{"did": "x", "days": 0}]}, SCHEMA)
    assert "at $.and[0].days" in err.value.message


def test_segment_references_resolve_by_id_or_name():
    found = {"seg_1": ("seg_1", "x"), "VIP": ("seg_1", "x")}
    schema = Schema(SCHEMA.traits, SCHEMA.tags, segment=found.get)
    assert parse('IN SEGMENT "VIP" OR IN SEGMENT "seg_1"', schema) == Or((InSegment("seg_1"), InSegment("seg_1")))
