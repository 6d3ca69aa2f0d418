"""What ``shared.currencies`` leaves to its callers: the ledger's refusals of amounts (parsed through
it) are tested with the ledger, in tests/services/remittance/test_money.py."""

from __future__ import annotations

import pytest

from shared.currencies import format_minor, to_minor
from shared.decider import Refused


def test_zero_and_size_are_the_callers_to_refuse() -> None:
    """A need may cost nothing yet (donated in kind); a ledger caps what it moves, a price list
    does not. Only what is not a number, or not of this currency, is refused here."""
    assert to_minor("0", "MMK") == 0
    assert to_minor("10000000000000000", "MMK") == 10**18
    with pytest.raises(Refused) as refused:
        to_minor("9" * 21, "MMK")
    assert refused.value.code == "amount_too_large"


def test_negative_amounts_format_with_their_sign() -> None:
    assert format_minor(-1, "KWD") == "-0.001 KWD"
    assert format_minor(30_000_050, "MMK") == "300,000.50 MMK"
