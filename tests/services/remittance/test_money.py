"""Amounts and rates: parsed exactly, refused with a sentence that says what is wrong."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.remittance.money import (
    CURRENCIES,
    MAX_MINOR,
    convert,
    format_minor,
    major,
    parse_amount,
    parse_rate,
)
from shared.decider import Refused


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("100.50", "GBP", 10_050),
        ("100.5", "GBP", 10_050),
        ("100.500", "GBP", 10_050),
        ("475324.50", "MMK", 47_532_450),
        ("1000", "JPY", 1_000),
        ("1.234", "KWD", 1_234),
        (" 7 ", "USD", 700),
        ("1." + "0" * 21, "USD", 100),  # trailing zeros are not decimals, however many
        ("0" * 30 + "5", "USD", 500),
    ],
)
def test_amounts_in_major_units_become_exact_minor_units(
    text: str, currency: str, minor: int
) -> None:
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency", "code"),
    [
        ("-1", "USD", "negative_amount"),
        ("0", "USD", "zero_amount"),
        ("0.000", "KWD", "zero_amount"),
        ("1.001", "USD", "too_many_decimals"),
        ("1.5", "JPY", "too_many_decimals"),
        ("1", "ABC", "unknown_currency"),
        ("1", "", "unknown_currency"),
        ("1000000000000.01", "USD", "amount_too_large"),
        ("1" + "0" * 20, "USD", "amount_too_large"),  # only digits: too large, not malformed
        ("9" * 39, "JPY", "amount_too_large"),
        ("1e2", "USD", "invalid_amount"),
        ("1,00", "USD", "invalid_amount"),
        ("", "USD", "invalid_amount"),
        ("+1", "USD", "invalid_amount"),
        ("NaN", "USD", "invalid_amount"),
    ],
)
def test_bad_amounts_are_refused_with_their_own_code(text: str, currency: str, code: str) -> None:
    with pytest.raises(Refused) as refused:
        parse_amount(text, currency)
    assert refused.value.code == code
    if len(text.strip()) > 3:
        assert text.strip() not in refused.value.message  # input is never echoed


def test_a_zero_fee_is_allowed_where_zero_is_meaningful() -> None:
    assert parse_amount("0.00", "USD", allow_zero=True) == 0


@given(minor=st.integers(1, MAX_MINOR), currency=st.sampled_from(sorted(CURRENCIES)))
def test_formatting_and_parsing_round_trip(minor: int, currency: str) -> None:
    assert parse_amount(major(minor, currency), currency) == minor


def test_amounts_read_as_people_write_them() -> None:
    assert format_minor(47_532_450, "MMK") == "475,324.50 MMK"
    assert format_minor(1_000, "JPY") == "1,000 JPY"
    assert format_minor(-5, "KWD") == "-0.005 KWD"


@pytest.mark.parametrize("text", ["4850.25", "1", "0.000123456789", "123456789012.123456789012"])
def test_rates_are_kept_exactly(text: str) -> None:
    assert parse_rate(text) == Decimal(text)


@pytest.mark.parametrize(
    "text", ["0", "-1", "1e3", "4,850.25", "abc", "", "1.1234567890123", "1234567890123"]
)
def test_bad_rates_are_refused(text: str) -> None:
    with pytest.raises(Refused) as refused:
        parse_rate(text)
    assert refused.value.code == "invalid_rate"


def test_conversion_rounds_down_between_exponents() -> None:
    assert convert(9_800, "GBP", "MMK", Decimal("4850.25")) == 47_532_450
    assert convert(9_999, "USD", "JPY", Decimal("150.55")) == 15_053  # 99.99 * 150.55 = 15053.49
    assert convert(1, "USD", "KWD", Decimal("0.307")) == 3  # 0.01 USD = 0.00307 KWD


def test_conversion_is_exact_where_28_digits_would_round_up_to_the_next_unit() -> None:
    """10,000,000,000.001 KWD at 9009.999999999999 JPY per KWD is 90,100,000,000,008.999999999999999
    JPY: rounded to Decimal's 28 digits it became 90,100,000,000,009, a yen nobody hands over."""
    rate = Decimal("9009.999999999999")
    assert convert(10_000_000_000_001, "KWD", "JPY", rate) == 90_100_000_000_008


_RATES = st.builds(
    lambda whole, places, fraction: (
        Decimal(f"{whole}.{fraction % 10**places:0{places}d}") if places else Decimal(whole)
    ),
    st.integers(0, 10**12 - 1),
    st.integers(0, 12),
    st.integers(0, 10**12 - 1),
).filter(lambda rate: rate > 0)


@given(
    amount=st.integers(1, MAX_MINOR),
    rate=_RATES,
    source=st.sampled_from(["KWD", "USD", "JPY"]),
    target=st.sampled_from(["KWD", "MMK", "JPY"]),
)
def test_conversion_is_the_exact_product_rounded_down(
    amount: int, rate: Decimal, source: str, target: str
) -> None:
    exact = (
        Fraction(amount)
        * Fraction(rate)
        * Fraction(10) ** (CURRENCIES[target] - CURRENCIES[source])
    )
    assert convert(amount, source, target, rate) == math.floor(exact)
