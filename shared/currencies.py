"""ISO 4217 currencies as aidmesh writes money: integers in minor units, typed by people in major units.

Reference data, not a business rule: the requests service prices a kitchen need and the remittance
ledger moves money, and both must agree that 300,000 MMK is 30000000 minor units (two decimals) while
300,000 JPY is 300000 (none). A copy in each service would drift; a need priced in a code the ledger
does not know could never be funded.

Amounts arrive as decimal strings in major units ("100.50"), never as floats: 0.1 + 0.2 is not 0.3 in
binary, and money that rounds silently is lost. Parsing refuses rather than rounds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from shared.decider import Refused


def _codes(places: int, codes: str) -> dict[str, int]:
    return dict.fromkeys(codes.split(), places)


CURRENCIES: Mapping[str, int] = {
    # The currencies donors send and groups receive (diaspora corridors to Myanmar, Sudan,
    # Timor-Leste and their neighbours), plus the common donor currencies.
    **_codes(
        2,
        "AED AFN AUD BDT BRL CAD CHF CNY DKK EGP ETB EUR GBP HKD IDR ILS INR KES LBP MMK MXN MYR "
        "NGN NOK NZD PHP PKR PLN QAR SAR SDG SEK SGD SSP SYP THB TRY TWD UAH USD YER ZAR",
    ),
    **_codes(0, "JPY KRW UGX VND XAF XOF RWF CLP ISK DJF GNF"),
    **_codes(3, "BHD IQD JOD KWD LYD OMR TND"),
}
"""Code -> decimal places of its minor unit."""

_AMOUNT = re.compile(r"^[0-9]+(\.[0-9]+)?$")
_CODE = re.compile(r"^[A-Z]{3}$")
MAX_DIGITS = 20
"""More whole digits than any amount anyone means; such a string is never turned into an int."""


def exponent(currency: str) -> int:
    """Decimal places of the currency's minor unit; refuses a code aidmesh does not know."""
    places = CURRENCIES.get(currency) if isinstance(currency, str) else None
    if places is None:
        named = currency if isinstance(currency, str) and _CODE.fullmatch(currency) else "that"
        raise Refused(
            f"{named} is not a currency this ledger knows: use an ISO 4217 code such as "
            "USD, GBP, MMK or SDG",
            code="unknown_currency",
        )
    return places


def to_minor(text: str, currency: str, what: str = "the amount") -> int:
    """A decimal string in major units ("100.50") as minor units, or a refusal that says why (and
    of what: "the fee cannot be negative"). Zero and size limits are the caller's: a fee may be
    nothing, a ledger caps what it moves."""
    places = exponent(currency)
    if not isinstance(text, str):
        raise Refused(f'{what} must be a string such as "100.50"', code="invalid_amount")
    value = text.strip()
    if value.startswith("-"):
        raise Refused(f"{what} cannot be negative", code="negative_amount")
    if not _AMOUNT.fullmatch(value):
        raise Refused(
            f'{what} must be digits with an optional decimal point, such as "100.50" '
            "(no signs, spaces, commas or exponents)",
            code="invalid_amount",
        )
    whole, _, fraction = value.partition(".")
    whole, fraction = whole.lstrip("0"), fraction.rstrip("0")  # neither changes the amount
    given = len(fraction)
    if given > places:
        raise Refused(
            f"{currency} has {places} decimal place{'s' if places != 1 else ''}; "
            f"{what} has {given}",
            code="too_many_decimals",
        )
    if len(whole) > MAX_DIGITS:
        raise Refused("that amount is larger than any aidmesh accepts", code="amount_too_large")
    minor: int = int(whole or "0") * 10**places + int((fraction + "0" * places)[:places] or "0")
    return minor


def format_minor(amount: int, currency: str) -> str:
    """Minor units as a human amount, e.g. ``475,000.00 MMK``."""
    return f"{_major(amount, currency, ',')} {currency}"


def major(amount: int, currency: str) -> str:
    """Minor units as a plain decimal string in major units ("100.50"): what APIs return."""
    return _major(amount, currency, "")


def amount(minor: int, currency: str) -> dict[str, str]:
    """An amount as every API answers it, ``{"amount": "300000.00", "currency": "MMK"}``: major
    units as a string, beside its currency (the CLI prints it as ``300000.00 MMK``)."""
    return {"amount": major(minor, currency), "currency": currency}


def _major(amount: int, currency: str, grouping: str) -> str:
    places = CURRENCIES.get(currency, 2)
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 10**places)
    text = f"{whole:{grouping}}" + (f".{fraction:0{places}d}" if places else "")
    return sign + text
