"""The chart of accounts and the postings of each movement, in one place.

Accounts are ``<kind>:<holder>`` per currency. Positive balances are what a holder has (a collector's
cash, a group's purse, what a kitchen need received); a donor's account runs negative by what the
donor gave. FX uses a trading account per agent that holds the sold currency and owes the bought one,
so every currency still sums to zero on its own and no rate ever has to be applied to a balance.

| kind | holder | balance rule (enforced by the aggregate that moves the money) |
|---|---|---|
| donor | donor reference | <= 0: never refunded more than given (transfer) |
| collector | collector or rail | >= 0: dispatches and refunds only what it funded (transfer) |
| fees, fx | agent | none: the agent's charges and its currency exchange |
| transit | transfer id | sent minus received: 0 once settled; a dispute resolves the rest |
| group | group id | >= 0: cannot disburse more than received (account at the site) |
| need, spend | need id, group:purpose | >= 0: only ever receive |
| loss, receivable | agent | written off, or owed by the agent, after a dispute |
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from services.remittance.events import Posting

DONOR, COLLECTOR, FEES, FX, TRANSIT, GROUP = "donor", "collector", "fees", "fx", "transit", "group"
NEED, SPEND, LOSS, RECEIVABLE = "need", "spend", "loss", "receivable"
NEVER_NEGATIVE = frozenset({COLLECTOR, GROUP, NEED, SPEND, FEES})
NEVER_POSITIVE = frozenset({DONOR})


def account(kind: str, *holder: str) -> str:
    return f"{kind}:{':'.join(holder)}"


def kind_of(name: str) -> str:
    return name.split(":", 1)[0]


def move(source: str, target: str, currency: str, amount: int) -> tuple[Posting, ...]:
    """``amount`` from ``source`` to ``target``: the simplest balanced pair (nothing if zero)."""
    if amount == 0:
        return ()
    return (
        Posting(account=source, currency=currency, amount_minor=-amount),
        Posting(account=target, currency=currency, amount_minor=amount),
    )


def funding(donor: str, collector: str, currency: str, amount: int) -> tuple[Posting, ...]:
    return move(account(DONOR, donor), account(COLLECTOR, collector), currency, amount)


def refund(donor: str, collector: str, currency: str, amount: int) -> tuple[Posting, ...]:
    return move(account(COLLECTOR, collector), account(DONOR, donor), currency, amount)


def dispatch(
    *,
    transfer_id: str,
    collector: str,
    agent: str,
    sent: tuple[str, int],
    fee: int,
    delivered: tuple[str, int],
) -> tuple[Posting, ...]:
    """The collector hands ``sent`` to the agent; the agent keeps ``fee``, exchanges the rest and
    owes ``delivered`` to the group, which sits in the transfer's in-transit account until the group
    confirms it. Without an exchange the remainder goes straight into transit."""
    (src, amount), (dst, owed) = sent, delivered
    out = [Posting(account=account(COLLECTOR, collector), currency=src, amount_minor=-amount)]
    if fee:
        out.append(Posting(account=account(FEES, agent), currency=src, amount_minor=fee))
    transit = account(TRANSIT, transfer_id)
    if src == dst:
        out.append(Posting(account=transit, currency=dst, amount_minor=amount - fee))
        return tuple(out)
    fx = account(FX, agent)
    out.append(Posting(account=fx, currency=src, amount_minor=amount - fee))
    out.append(Posting(account=fx, currency=dst, amount_minor=-owed))
    out.append(Posting(account=transit, currency=dst, amount_minor=owed))
    return tuple(out)


def receipt(transfer_id: str, group: str, currency: str, amount: int) -> tuple[Posting, ...]:
    """Money in the group's hands for a transfer; a negative amount takes a receipt back."""
    return move(account(TRANSIT, transfer_id), account(GROUP, group), currency, amount)


def disbursement(
    group: str, purpose: str, need_id: str | None, currency: str, amount: int
) -> tuple[Posting, ...]:
    target = account(NEED, need_id) if need_id else account(SPEND, group, purpose)
    return move(account(GROUP, group), target, currency, amount)


def settle_transit(
    transfer_id: str, target: str, outstanding: Mapping[str, int]
) -> tuple[Posting, ...]:
    """Close what is still in transit (per currency; negative: more arrived than was sent) into
    ``target``, a loss or receivable account."""
    out: list[Posting] = []
    for currency, amount in sorted(outstanding.items()):
        out.extend(move(account(TRANSIT, transfer_id), target, currency, amount))
    return tuple(out)


def totals(postings: Iterable[Posting]) -> dict[tuple[str, str], int]:
    """Balance per (account, currency) of a set of postings."""
    out: dict[tuple[str, str], int] = {}
    for leg in postings:
        key = (leg.account, leg.currency)
        out[key] = out.get(key, 0) + leg.amount_minor
    return out
