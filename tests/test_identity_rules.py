"""Identity rules, pure: normalisation, blocked values, priority, limits and the merge plan."""

from __future__ import annotations

import time

import pytest

from services.identity.rules import MAX_PATTERN_LENGTH, Rules, plan, validate_rules_document
from services.kit.errors import InvalidInput


def test_normalisation_of_email_and_phone():
    rules = Rules()
    assert rules.normalise("email", "  Li.Na@Example.COM ") == "li.na@example.com"
    assert rules.normalise("email", "not-an-email") is None
    assert rules.normalise("phone", "138 0013 8000") == "+8613800138000"
    assert rules.normalise("phone", "+86 138-0013-8000") == "+8613800138000"
    assert rules.normalise("phone", "0086 13800138000") == "+8613800138000"
    assert Rules(default_region="US").normalise("phone", "(650) 253-0000") == "+16502530000"
    assert rules.normalise("phone", "12") is None


def test_blocked_values_exact_and_by_pattern():
    rules = Rules.from_document({"blocked": ["test-device"], "blocked_patterns": [r"guest-\d+"]})
    for value in [
        "",
        "null",
        "undefined",
        "Unknown",
        "anonymous",
        "0",
        "-1",
        "00000000-0000-0000-0000-000000000000",
        "0000",
        "test-device",
        "guest-42",
    ]:
        assert rules.normalise("device_id", value) is None, value
    assert rules.normalise("device_id", "guest-x") == "guest-x"
    assert rules.normalise("user_id", True) is None


def test_a_catastrophic_pattern_matches_a_256_character_value_in_under_10_ms():
    # `(a+)+b` backtracks exponentially in Python's re: seconds at 26 characters, forever at 256.
    rules = Rules.from_document(validate_rules_document({"blocked_patterns": ["(a+)+b"]}))
    value = "a" * 256
    assert rules.normalise("anonymous_id", value) == value  # compiles and caches the matcher
    slowest = 0.0
    for _ in range(20):
        started = time.perf_counter()
        assert not rules.is_blocked(value)
        slowest = max(slowest, time.perf_counter() - started)
    assert slowest < 0.010, f"{slowest * 1000:.2f} ms"
    assert rules.is_blocked("a" * 255 + "b")


def test_existing_patterns_keep_their_meaning_on_re2():
    rules = Rules.from_document(
        validate_rules_document({"blocked_patterns": [r"(?i)TEST-\d{2,4}", r"[\w.]+@example\.invalid", "x|y"]})
    )
    assert rules.is_blocked("test-123") and not rules.is_blocked("test-1")
    assert rules.is_blocked("li.na@example.invalid") and not rules.is_blocked("li.na@example.com")
    assert rules.is_blocked("x") and not rules.is_blocked("xy")  # each pattern matches the whole value


@pytest.mark.parametrize(
    "pattern,why",
    [
        ("(unclosed", "missing )"),
        (r"(a)\1", "backreference"),
        ("(?<=a)b", "lookbehind"),
        ("a" * (MAX_PATTERN_LENGTH + 1), "longer than 256"),
        ("", "non-empty"),
    ],
)
def test_patterns_re2_cannot_run_or_too_long_are_refused_naming_the_field(pattern, why):
    with pytest.raises(InvalidInput) as err:
        validate_rules_document({"blocked_patterns": ["ok-\\d+", pattern]})
    assert err.value.field == "blocked_patterns[1]", why
    if len(pattern) > MAX_PATTERN_LENGTH:
        assert "longer than 256 characters" in err.value.message
    elif pattern:
        assert "RE2" in err.value.message


def test_a_stored_pattern_re2_cannot_run_is_left_out_and_the_others_still_block():
    rules = Rules.from_document({"blocked_patterns": [r"(a)\1", "guest-\\d+"]})
    assert rules.is_blocked("guest-7")
    assert not rules.is_blocked("aa")


def test_prepare_orders_by_priority_and_drops_unknown_types():
    rules = Rules.from_document({"custom_types": ["member_card"]})
    ids = rules.prepare(
        [
            ("anonymous_id", "a"),
            ("member_card", "m1"),
            ("email", "X@y.com"),
            ("user_id", "u"),
            ("shoe_size", "42"),
            ("anonymous_id", "a"),
        ]
    )
    assert ids == [("user_id", "u"), ("email", "x@y.com"), ("anonymous_id", "a"), ("member_card", "m1")]


AGE = {"P1": (1, "P1"), "P2": (2, "P2"), "P3": (3, "P3")}


def test_plan_merges_persons_sharing_identifiers_into_the_oldest():
    owners = {("email", "e"): "P2", ("anonymous_id", "a"): "P1"}
    holdings = {"P1": [("anonymous_id", "a")], "P2": [("email", "e")]}
    decided = plan([("user_id", "u"), ("email", "e"), ("anonymous_id", "a")], owners, holdings, AGE, Rules())
    assert decided.persons == ["P1", "P2"]
    assert decided.attach == [("user_id", "u")]
    assert decided.dropped == []


def test_plan_never_merges_two_user_ids_and_drops_the_lowest_priority_identifier():
    owners = {("user_id", "dad"): "P2", ("anonymous_id", "tablet"): "P1"}
    holdings = {"P1": [("user_id", "mum"), ("anonymous_id", "tablet")], "P2": [("user_id", "dad")]}
    decided = plan([("user_id", "dad"), ("anonymous_id", "tablet")], owners, holdings, AGE, Rules())
    assert decided.persons == ["P2"]
    assert decided.dropped == [("anonymous_id", "tablet")]


def test_plan_respects_per_type_limits():
    rules = Rules.from_document({"limits": {"device_id": 2}})
    owners = {("user_id", "u"): "P1"}
    holdings = {"P1": [("user_id", "u"), ("device_id", "d1"), ("device_id", "d2")]}
    decided = plan([("user_id", "u"), ("device_id", "d3")], owners, holdings, AGE, rules)
    assert decided.persons == ["P1"] and decided.attach == [] and decided.dropped == [("device_id", "d3")]
