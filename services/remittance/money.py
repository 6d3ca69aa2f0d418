"""Money as the ledger holds it: the ledger's limits on amounts in minor units, exchange rates as
exact decimals, and the one refusal sentence for each way an amount can be wrong. Currencies and
the major/minor conversions are ``shared.currencies`` (the requests service prices needs in them).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from shared.currencies import CURRENCIES, exponent, format_minor, major, to_minor
from shared.decider import Refused

__all__ = [
    "CURRENCIES",
    "MAX_BALANCE",
    "MAX_MINOR",
    "check_minor",
    "convert",
    "exponent",
    "format_minor",
    "major",
    "parse_amount",
    "parse_rate",
]

MAX_MINOR = 10**14
"""Largest single amount in minor units: far above any real transfer (a trillion units at two
decimals), far below where a sum of thousands of them could overflow SQLite's 64-bit integers."""
MAX_BALANCE = 10**17
"""Largest balance an account may reach: a decider refuses a movement that would pass it."""

_RATE = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,12})?$")


def parse_amount(
    text: str, currency: str, *, allow_zero: bool = False, what: str = "the amount"
) -> int:
    """A decimal string in major units ("100.50") to minor units, or a refusal that says why and
    of what. ``allow_zero`` for the few amounts that may be nothing (a fee, a receipt corrected to
    zero)."""
    minor = to_minor(text, currency, what)
    if not (allow_zero and minor == 0):
        check_minor(minor, currency, what)
    return minor


def check_minor(amount: int, currency: str, what: str = "an amount") -> None:
    """The rules every amount in minor units obeys, wherever it enters a decision."""
    exponent(currency)
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise Refused(f"{what} must be a whole number of minor units", code="invalid_amount")
    if amount < 0:
        raise Refused(f"{what} cannot be negative", code="negative_amount")
    if amount == 0:
        raise Refused(f"{what} must be more than zero", code="zero_amount")
    if amount > MAX_MINOR:
        raise _too_large(what, currency)


def _too_large(what: str, currency: str) -> Refused:
    return Refused(
        f"{what} is larger than this ledger accepts ({format_minor(MAX_MINOR, currency)})",
        code="amount_too_large",
    )


def parse_rate(text: str) -> Decimal:
    """An exchange rate exactly as the agent gave it: units of the receiving currency per unit of
    the sending currency, as a plain decimal ("4850.25"). Kept as a string in events."""
    if not isinstance(text, str) or not _RATE.fullmatch(text.strip()):
        raise Refused(
            'an exchange rate must be a plain decimal such as "4850.25" (at most 12 digits '
            "before and after the point; no signs, commas or exponents)",
            code="invalid_rate",
        )
    try:
        rate = Decimal(text.strip())
    except InvalidOperation:  # pragma: no cover - the pattern already guarantees a decimal
        raise Refused("the exchange rate is not a number", code="invalid_rate") from None
    if rate <= 0:
        raise Refused("an exchange rate must be more than zero", code="invalid_rate")
    return rate


def convert(amount: int, source: str, target: str, rate: Decimal) -> int:
    """``amount`` minor units of ``source`` at ``rate`` into whole minor units of ``target``,
    rounded down: a ledger never promises the receiving side a fraction nobody hands over.

    In integers, as a fraction: Decimal arithmetic rounds every product to its context's 28 digits
    (half-even) before anything else, and up to 10^14 minor units at a rate of up to 24 digits make
    up to 39, so a product just below a whole unit could round up to it and then stay there."""
    shift = exponent(target) - exponent(source)
    scale: int = 10 ** abs(shift)
    numerator, denominator = rate.as_integer_ratio()
    if shift > 0:
        numerator *= scale
    else:
        denominator *= scale
    return amount * numerator // denominator
