"""The rule language: parsed into an AST, errors name the column."""

from __future__ import annotations

import pytest

from services.kit.errors import InvalidInput
from services.segment.rules import And, Not, Or, TraitEquals, parse, traits_used


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
    assert traits_used(node) == {"gender", "city", "vip", "age"}


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
        ("traits.agee", "expected '=', '!=' or IN at column 12"),
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
