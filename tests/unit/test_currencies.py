"""Major units as people type them, minor units as events carry them: one table for the services."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.currencies import CURRENCIES, format_minor, major, to_minor
from shared.decider import Refused


@given(minor=st.integers(0, 10**18), currency=st.sampled_from(sorted(CURRENCIES)))
def test_a_formatted_amount_reads_back_as_the_same_minor_units(minor: int, currency: str) -> None:
    assert to_minor(major(minor, currency), currency) == minor
    assert format_minor(minor, currency).endswith(f" {currency}")


@pytest.mark.parametrize(
    ("text", "currency", "code"),
    [
        ("1.5", "JPY", "too_many_decimals"),
        ("1.2345", "KWD", "too_many_decimals"),
        ("-1", "USD", "negative_amount"),
        ("1e3", "USD", "invalid_amount"),
        ("1 000", "USD", "invalid_amount"),
        ("9" * 40, "USD", "amount_too_large"),
        ("10", "XYZ", "unknown_currency"),
    ],
)
def test_what_is_not_an_amount_is_refused_not_rounded(text: str, currency: str, code: str) -> None:
    with pytest.raises(Refused) as refused:
        to_minor(text, currency)
    assert refused.value.code == code


def test_trailing_zeros_and_leading_zeros_change_nothing() -> None:
    assert to_minor("0300000.500", "MMK") == 30_000_050
    assert format_minor(30_000_050, "MMK") == "300,000.50 MMK"
    assert format_minor(-1, "KWD") == "-0.001 KWD"
