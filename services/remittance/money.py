"""Money as the ledger holds it: integers in minor units per ISO 4217 currency, exchange rates as exact
decimals, and the one refusal sentence for each way an amount can be wrong.

Amounts arrive as decimal strings in major units ("100.50"), never as floats: 0.1 + 0.2 is not 0.3 in
binary, and a ledger that rounds silently loses money. Parsing refuses rather than rounds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from shared.decider import Refused


# ISO 4217 minor-unit exponents: the currencies donors send and groups receive (diaspora corridors to
# Myanmar, Sudan, Timor-Leste and their neighbours), plus the common donor currencies.
def _codes(places: int, codes: str) -> dict[str, int]:
    return dict.fromkeys(codes.split(), places)


CURRENCIES: Mapping[str, int] = {
    **_codes(
        2,
        "AED AFN AUD BDT BRL CAD CHF CNY DKK EGP ETB EUR GBP HKD IDR ILS INR KES LBP MMK MXN MYR "
        "NGN NOK NZD PHP PKR PLN QAR SAR SDG SEK SGD SSP SYP THB TRY TWD UAH USD YER ZAR",
    ),
    **_codes(0, "JPY KRW UGX VND XAF XOF RWF CLP ISK DJF GNF"),
    **_codes(3, "BHD IQD JOD KWD LYD OMR TND"),
}

MAX_MINOR = 10**14
"""Largest single amount in minor units: far above any real transfer (a trillion units at two
decimals), far below where a sum of thousands of them could overflow SQLite's 64-bit integers."""
MAX_BALANCE = 10**17
"""Largest balance an account may reach: a decider refuses a movement that would pass it."""

_AMOUNT = re.compile(r"^[0-9]+(\.[0-9]+)?$")
_CODE = re.compile(r"^[A-Z]{3}$")
_RATE = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,12})?$")


def exponent(currency: str) -> int:
    """Decimal places of the currency's minor unit; refuses a code this ledger does not know."""
    places = CURRENCIES.get(currency) if isinstance(currency, str) else None
    if places is None:
        named = currency if isinstance(currency, str) and _CODE.fullmatch(currency) else "that"
        raise Refused(
            f"{named} is not a currency this ledger knows: use an ISO 4217 code such as "
            "USD, GBP, MMK or SDG",
            code="unknown_currency",
        )
    return places


def parse_amount(text: str, currency: str, *, allow_zero: bool = False) -> int:
    """A decimal string in major units ("100.50") to minor units, or a refusal that says why.
    ``allow_zero`` for the few amounts that may be nothing (a fee, a receipt corrected to zero)."""
    places = exponent(currency)
    if not isinstance(text, str):
        raise Refused('an amount must be a string such as "100.50"', code="invalid_amount")
    value = text.strip()
    if value.startswith("-"):
        raise Refused("an amount cannot be negative", code="negative_amount")
    if not _AMOUNT.fullmatch(value):
        raise Refused(
            'an amount must be digits with an optional decimal point, such as "100.50" '
            "(no signs, spaces, commas or exponents)",
            code="invalid_amount",
        )
    whole, _, fraction = value.partition(".")
    whole, fraction = whole.lstrip("0"), fraction.rstrip("0")  # neither changes the amount
    given = len(fraction)
    if given > places:
        raise Refused(
            f"{currency} has {places} decimal place{'s' if places != 1 else ''}; "
            f"the amount has {given}",
            code="too_many_decimals",
        )
    if len(whole) > len(str(MAX_MINOR)):  # only digits, but far too many: never made an int
        raise _too_large("an amount", currency)
    minor: int = int(whole or "0") * 10**places + int((fraction + "0" * places)[:places] or "0")
    if not (allow_zero and minor == 0):
        check_minor(minor, currency)
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


def format_minor(amount: int, currency: str) -> str:
    """Minor units as a human amount, e.g. ``475,000.00 MMK``."""
    places = CURRENCIES.get(currency, 2)
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 10**places)
    text = f"{whole:,}" + (f".{fraction:0{places}d}" if places else "")
    return f"{sign}{text} {currency}"


def major(amount: int, currency: str) -> str:
    """Minor units as a plain decimal string in major units ("100.50"): what the API returns."""
    places = CURRENCIES.get(currency, 2)
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 10**places)
    return f"{sign}{whole}" + (f".{fraction:0{places}d}" if places else "")
