"""Trend formulas are parsed (letters, numbers, + - * / and parentheses), never evaluated as code."""

from __future__ import annotations

import pytest

from services.analytics.models import formulas
from services.kit.errors import InvalidInput

VALUES = {"A": [2.0, 4.0, 0.0], "B": [1.0, 3.0, 5.0]}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("B / A", [0.5, 0.75, 0.0]),  # a division by zero is 0
        ("A + B * 2", [4.0, 10.0, 10.0]),
        ("(A + B) * 2", [6.0, 14.0, 10.0]),
        ("-A + 10", [8.0, 6.0, 10.0]),
        ("(A - B) / A * 100", [50.0, 25.0, 0.0]),
    ],
)
def test_formulas_compute_per_bucket(text, expected):
    assert formulas.parse(text, 2)(VALUES, 3) == expected


@pytest.mark.parametrize(
    "text", ["", "A / C", "A +", "(A", "A B", "__import__('os')", "A ** 2", "a / b", "1e3", "A" * 201]
)
def test_anything_else_is_refused_with_the_field_named(text):
    with pytest.raises(InvalidInput) as err:
        formulas.parse(text, 2, "formulas[1]")
    assert err.value.field == "formulas[1]"
