"""``aidmesh remit ...``: the collector's and the treasurer's commands, over NATS request-reply.

Every record gets its id here, and is written to the outbox (``var/remit-outbox/``) before it is
sent: if nothing answers (the service is restarting, the laptop sleeps), ``aidmesh remit retry``
sends the very same record again later, and the service recognises it instead of counting it twice.
A donor's registration has an id too but holds an e-mail, so it is not kept (see ``_donor``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared import cliclient
from shared.deployment import var_dir
from shared.endpoints import Reply
from shared.ids import UUID7_PATTERN, uuid7
from shared.subjects import HUB, command_subject

CONTEXT = "remit"
_UUID7 = re.compile(UUID7_PATTERN, re.I)  # the API takes either case
if TYPE_CHECKING:
    Sub = argparse._SubParsersAction[argparse.ArgumentParser]


def outbox() -> Path:
    return var_dir() / "remit-outbox"


def _when(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SystemExit(
            "aidmesh: give the time as an ISO time with its zone, e.g. 2025-03-02T14:05+06:30"
        ) from None
    if moment.tzinfo is None:
        raise SystemExit("aidmesh: give the time with its zone, e.g. 2025-03-02T14:05+06:30")
    return moment.isoformat()


def send(
    site: str, command: str, payload: dict[str, Any], *, as_json: bool, keep: str | None
) -> int:
    """Send one command and print the answer; with ``keep`` (the record's id) it stays in the
    outbox until the service has answered, whatever the answer."""
    box = outbox()
    entry = box / f"{keep}.json" if keep else None
    if entry is not None:
        box.mkdir(parents=True, exist_ok=True)
        draft = entry.with_suffix(".tmp")  # renamed whole: a power cut leaves no half record
        draft.write_text(json.dumps({"site": site, "command": command, "payload": payload}))
        draft.replace(entry)
    subject = command_subject(site, CONTEXT, command)
    try:
        reply = asyncio.run(cliclient.send(cliclient.site_url(site), subject, payload))
    except OSError as exc:
        reply = Reply(
            ok=False, error={"code": "no_service", "message": f"cannot reach {site}: {exc}"}
        )
    return _print(reply, entry, as_json)


def _print(reply: Reply, entry: Path | None, as_json: bool) -> int:
    code = cliclient.show(reply, as_json=as_json)
    if code == 2:
        if entry is not None:
            print("kept in the outbox: aidmesh remit retry sends it again", file=sys.stderr)
        return 2
    if entry is not None:
        entry.unlink(missing_ok=True)
    return code


def _id(args: argparse.Namespace) -> str:
    """A new id, or the one given to resend a record: checked here, because it also names the
    record's file in the outbox (``../x`` would write, then delete, a file outside it)."""
    if args.id and not _UUID7.fullmatch(args.id):
        raise SystemExit("aidmesh: --id must be the UUIDv7 of the record to resend")
    return str(args.id or uuid7())


def register(subparsers: Sub) -> None:
    remit = subparsers.add_parser("remit", help="diaspora payments and the ledger")
    sub = remit.add_subparsers(dest="remit_command", required=True, metavar="ACTION")
    _hub_commands(sub)
    _site_commands(sub)
    _queries(sub)


def _common(parser: argparse.ArgumentParser, with_id: bool = True) -> argparse.ArgumentParser:
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    if with_id:
        parser.add_argument("--id", help="the record's id (to resend one exactly); default: new")
    return parser


def _hub_commands(sub: Sub) -> None:
    group = _common(sub.add_parser("group", help="register a group that receives money (hub)"))
    group.add_argument("group_id")
    group.add_argument("--site", required=True, help="where its treasurer confirms receipts")
    group.add_argument("--label", required=True, help="the group's public name")
    group.set_defaults(
        handler=lambda a: _hub(
            a,
            "register_group",
            {"registration_id": _id(a), "group_id": a.group_id, "site": a.site, "label": a.label},
        )
    )

    donor = _common(sub.add_parser("donor", help="register a donor (contact kept in the vault)"))
    donor.add_argument("--email")
    donor.add_argument("--name", dest="display_name")
    donor.set_defaults(handler=_donor)

    pledge = _common(sub.add_parser("pledge", help="a donor's pledge to a group or kitchen need"))
    pledge.add_argument("--donor", required=True, help="the donor reference")
    pledge.add_argument("--group", required=True)
    pledge.add_argument("--need", help="a kitchen need of the group's site")
    pledge.add_argument("--amount", required=True, help='major units, e.g. "100.00"')
    pledge.add_argument("--currency", required=True)
    pledge.add_argument("--expires-hours", type=int, default=72)
    pledge.add_argument("--rail", choices=["manual", "sandbox"], default="manual")
    pledge.set_defaults(
        handler=lambda a: _hub(
            a,
            "pledge",
            _some(
                transfer_id=_id(a),
                donor_ref=a.donor,
                group_id=a.group,
                need_id=a.need,
                amount=a.amount,
                currency=a.currency,
                expires_in_hours=a.expires_hours,
                rail=a.rail,
            ),
        )
    )

    fund = _common(sub.add_parser("fund", help="a collector records the money received"))
    fund.add_argument("transfer_id")
    fund.add_argument("--amount", required=True)
    fund.add_argument("--currency", required=True)
    fund.add_argument("--collector", required=True, help="the collector's reference")
    fund.add_argument("--rail-ref", help="receipt number or provider reference")
    fund.add_argument("--at", help="when it was received (ISO time with zone)")
    fund.set_defaults(
        handler=lambda a: _hub(
            a,
            "fund",
            _some(
                funding_id=_id(a),
                transfer_id=a.transfer_id,
                amount=a.amount,
                currency=a.currency,
                collector_ref=a.collector,
                rail_ref=a.rail_ref,
                funded_at=_when(a.at),
            ),
        )
    )

    dispatch = _common(sub.add_parser("dispatch", help="the money handed to an agent or channel"))
    dispatch.add_argument("transfer_id")
    dispatch.add_argument("--agent", required=True, help="the agent's reference")
    dispatch.add_argument(
        "--channel", default="agent", choices=["agent", "mobile_money", "bank", "hand_carry"]
    )
    dispatch.add_argument("--fee", default="0", help="in the sending currency")
    dispatch.add_argument(
        "--rate", help="receiving units per sending unit, exact (needed when converting)"
    )
    dispatch.add_argument("--to-currency", help="what arrives (default: the pledge's currency)")
    dispatch.add_argument("--delivered", help="what the agent said would arrive (checked)")
    dispatch.add_argument("--at", help="when it was handed over (ISO time with zone)")
    dispatch.set_defaults(
        handler=lambda a: _hub(
            a,
            "dispatch",
            _some(
                dispatch_id=_id(a),
                transfer_id=a.transfer_id,
                channel=a.channel,
                agent_ref=a.agent,
                fee=a.fee,
                rate=a.rate,
                to_currency=a.to_currency,
                delivered=a.delivered,
                dispatched_at=_when(a.at),
            ),
        )
    )

    cancel = _common(sub.add_parser("cancel", help="cancel before dispatch (refunds if funded)"))
    cancel.add_argument("transfer_id")
    cancel.add_argument(
        "--reason",
        default="donor_request",
        choices=["donor_request", "duplicate", "collector_unavailable", "other"],
    )
    cancel.set_defaults(
        handler=lambda a: _hub(
            a,
            "cancel",
            {"cancellation_id": _id(a), "transfer_id": a.transfer_id, "reason": a.reason},
        )
    )

    resolve = _common(sub.add_parser("resolve", help="close a dispute by correcting entries"))
    resolve.add_argument("transfer_id")
    resolve.add_argument(
        "--as", dest="resolution", required=True, choices=["write_off", "agent_owes"]
    )
    resolve.set_defaults(
        handler=lambda a: _hub(
            a,
            "resolve",
            {"resolution_id": _id(a), "transfer_id": a.transfer_id, "resolution": a.resolution},
        )
    )


def _donor(args: argparse.Namespace) -> int:
    """A registration has an id like every record (sent again, the hub answers the same reference
    and stores nothing new), but is not kept in the outbox: it holds the donor's e-mail, which
    lives only in the hub's vault (encrypted, forgettable), never in a plain file here. When
    nothing answered, its id is said instead, to send it again by hand."""
    registration_id = _id(args)
    payload = {"registration_id": registration_id} | _some(
        email=args.email, display_name=args.display_name
    )
    code = send(HUB, "register_donor", payload, as_json=args.json, keep=None)
    if code == 2:
        print(
            "not kept in the outbox (it holds personal data): send it again with "
            f"--id {registration_id} and the same --email and --name",
            file=sys.stderr,
        )
    return code


def _site_commands(sub: Sub) -> None:
    confirm = _common(sub.add_parser("confirm", help="the treasurer confirms money received"))
    _site_group(confirm)
    confirm.add_argument("--transfer", required=True, help="the transfer id on the agent's slip")
    confirm.add_argument("--amount", required=True)
    confirm.add_argument("--currency", required=True)
    confirm.add_argument("--at", help="when it was received (ISO time with zone)")
    confirm.add_argument(
        "--additional", action="store_true", help="more money for a transfer already confirmed"
    )
    confirm.set_defaults(
        handler=lambda a: _site(
            a,
            "confirm_receipt",
            _some(
                confirmation_id=_id(a),
                group_id=a.group,
                transfer_id=a.transfer,
                amount=a.amount,
                currency=a.currency,
                received_at=_when(a.at),
                additional=a.additional or None,
            ),
        )
    )

    correct = _common(sub.add_parser("correct", help="correct a confirmed amount"))
    _site_group(correct)
    correct.add_argument("--confirmation", required=True)
    correct.add_argument("--amount", required=True, help="the right amount (0: nothing came)")
    correct.set_defaults(
        handler=lambda a: _site(
            a,
            "correct_receipt",
            {
                "correction_id": _id(a),
                "group_id": a.group,
                "confirmation_id": a.confirmation,
                "amount": a.amount,
            },
        )
    )

    disburse = _common(sub.add_parser("disburse", help="the group spends money"))
    _site_group(disburse)
    disburse.add_argument("--amount", required=True)
    disburse.add_argument("--currency", required=True)
    disburse.add_argument(
        "--purpose",
        required=True,
        choices=[
            "kitchen_need",
            "cash_assistance",
            "food",
            "supplies",
            "medical",
            "shelter",
            "transport",
            "other",
        ],
    )
    disburse.add_argument("--need", help="the kitchen need (purpose kitchen_need)")
    disburse.add_argument("--receipt", required=True, help="receipt-book reference, e.g. 4/17")
    disburse.add_argument(
        "--transfer",
        help="spend this transfer's money (default: the need's own money first, then money "
        "pledged to no need, oldest first)",
    )
    disburse.add_argument("--at", help="when it was spent (ISO time with zone)")
    disburse.set_defaults(
        handler=lambda a: _site(
            a,
            "disburse",
            _some(
                disbursement_id=_id(a),
                group_id=a.group,
                amount=a.amount,
                currency=a.currency,
                purpose=a.purpose,
                need_id=a.need,
                receipt_ref=a.receipt,
                transfer_id=a.transfer,
                disbursed_at=_when(a.at),
            ),
        )
    )

    dispute = _common(sub.add_parser("dispute", help="less arrived than was sent"))
    _site_group(dispute)
    dispute.add_argument("--transfer", required=True)
    dispute.add_argument(
        "--reason", default="less_than_sent", choices=["less_than_sent", "nothing_arrived", "other"]
    )
    dispute.set_defaults(
        handler=lambda a: _site(
            a,
            "dispute",
            {
                "dispute_id": _id(a),
                "group_id": a.group,
                "transfer_id": a.transfer,
                "reason": a.reason,
            },
        )
    )


def _queries(sub: Sub) -> None:
    def query(
        name: str, help_text: str, command: str, arg: str | None, *, paged: bool = False
    ) -> None:
        parser = _common(sub.add_parser(name, help=help_text), False)
        parser.add_argument("--site", default=HUB)
        if arg:
            parser.add_argument(arg)
        if paged:  # as ``aidmesh requests list``; the answer's next_offset is the next --offset
            parser.add_argument("--limit", type=int, default=100)
            parser.add_argument(
                "--offset", type=int, default=0, help="skip this many (the next page)"
            )
        parser.set_defaults(
            handler=lambda a: send(
                a.site, command, _query(a, arg, paged), as_json=a.json, keep=None
            )
        )

    query("status", "a transfer's state and timeline", "transfer_status", "transfer_id")
    query("history", "a donor's transfers", "donor_history", "donor_ref", paged=True)
    query("report", "what a donor's money did", "donor_report", "donor_ref", paged=True)
    query("transparency", "a group's public ledger", "group_report", "group_id")
    query("balance", "what a group holds and whose it is", "group_balance", "group_id", paged=True)
    query("ledger", "check that the ledger balances", "ledger_check", None, paged=True)
    query("needs", "kitchen needs a pledge can name", "open_needs", None, paged=True)

    box = sub.add_parser("outbox", help="records kept because nothing answered")
    box.set_defaults(handler=_list_outbox)
    retry = sub.add_parser("retry", help="send the kept records again, same ids")
    retry.add_argument("--json", action="store_true")
    retry.set_defaults(handler=_retry)


def _query(args: argparse.Namespace, arg: str | None, paged: bool) -> dict[str, Any]:
    payload = {arg: getattr(args, arg)} if arg else {}
    if paged:
        payload |= {"limit": args.limit, "offset": args.offset}
    return payload


def _site_group(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--site", required=True, help="the group's site (its own server)")
    parser.add_argument("--group", required=True)


def _some(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def _hub(args: argparse.Namespace, command: str, payload: dict[str, Any]) -> int:
    keep = next(v for k, v in payload.items() if k.endswith("_id"))
    return send(HUB, command, payload, as_json=args.json, keep=keep)


def _site(args: argparse.Namespace, command: str, payload: dict[str, Any]) -> int:
    keep = next(v for k, v in payload.items() if k.endswith("_id"))
    return send(args.site, command, payload, as_json=args.json, keep=keep)


def _kept(path: Path) -> dict[str, Any] | None:
    """A record kept in the outbox, or None, said in a sentence, when its file cannot be read (cut
    short by an older version's write, or edited by hand): the other records are still listed and
    sent."""
    try:
        kept = json.loads(path.read_text())
        if not isinstance(kept, dict) or not {"site", "command", "payload"} <= kept.keys():
            raise ValueError(path.name)
    except ValueError:
        print(f"{path.name} in the outbox cannot be read: it is left there", file=sys.stderr)
        return None
    return kept


def _list_outbox(args: argparse.Namespace) -> int:
    entries = sorted(outbox().glob("*.json")) if outbox().exists() else []
    code = 0
    for path in entries:
        kept = _kept(path)
        if kept is None:
            code = 1
            continue
        print(f"{path.stem}  {kept['command']} at {kept['site']}")
    if not entries:
        print("(the outbox is empty)")
    return code


def _retry(args: argparse.Namespace) -> int:
    code = 0
    for path in sorted(outbox().glob("*.json")) if outbox().exists() else []:
        kept = _kept(path)
        if kept is None:
            code = max(code, 1)
            continue
        print(f"{path.stem}: {kept['command']} at {kept['site']}")
        code = max(
            code,
            send(kept["site"], kept["command"], kept["payload"], as_json=args.json, keep=path.stem),
        )
    return code
