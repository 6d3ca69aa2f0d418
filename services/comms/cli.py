"""``aidmesh msg ...`` and ``aidmesh alert ...``: commands to a site's comms service over NATS
request-reply, with the site taken from the address where there is one."""

from __future__ import annotations

import argparse
import asyncio
import json
import mimetypes
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.comms import addresses
from services.comms.events import MAX_ATTACHMENT_BYTES
from shared import cliclient
from shared.cliclient import send, site_url
from shared.deployment import Deployment
from shared.ids import uuid7
from shared.subjects import HUB, command_subject

_SPAN = re.compile(r"^(\d+)([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
Show = Callable[[Any], str]


def lifetime(text: str) -> int:
    match = _SPAN.fullmatch(text.strip())
    if not match:
        raise argparse.ArgumentTypeError("a lifetime is a number with s, m, h or d: 90s, 30m, 2d")
    return int(match.group(1)) * _UNIT[match.group(2)]


def _sites(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def _site_of(address: str, fallback: str | None) -> str:
    if not addresses.is_address(address):
        # Said before it was "has no site", for person:Ana@dili: the capital was at fault.
        raise SystemExit(
            f"aidmesh: {address!r} is not an address: person:NAME@SITE or role:NAME@SITE, the "
            "name in lower-case letters, digits, '.', '_' or '-' (or site:SITE, channel:NAME, all)"
        )
    site = addresses.site_of(address)
    if site is None and fallback is None:
        raise SystemExit(f"aidmesh: say which site with --site (the address {address!r} has none)")
    return fallback or str(site)


def call(site: str, command: str, payload: dict[str, Any], as_json: bool, show: Show) -> int:
    """Send, print the answer (or the refusal in one sentence). Exit 0 ok, 1 refused, 2 no answer."""
    subject = command_subject(site, "comms", command)
    reply = asyncio.run(send(site_url(site), subject, payload))
    return cliclient.show(reply, as_json=as_json, text=show)


def _fields(result: Any) -> str:
    if isinstance(result, dict):
        return "\n".join(f"{k}: {v}" for k, v in result.items())
    return str(result)


def _body(item: dict[str, Any]) -> str:
    body = item.get("body")
    return "(sealed: this site holds no key for the channel)" if body is None else str(body)


def _more(page: dict[str, Any]) -> list[str]:
    """Where the next page starts, as the flag to type."""
    return [f"(more: the next page with --before {page['next']})"] if page["more"] else []


def show_inbox(page: dict[str, Any]) -> str:
    if not page["items"]:
        return "(no messages)"
    lines = []
    for m in page["items"]:
        mark = " " if m.get("read_at") else "*"
        lines.append(
            f"{mark} [{m['priority']}] {m['sent_at'][:19]} from {m['sender']} "
            f"({m['message_id']})\n    {_body(m)}"
        )
        for a in m.get("attachments", []):
            lines.append(f"    attachment {a['media_type']} {a['size']:,} B: {a['sha256']}")
    return "\n".join(lines + _more(page))


def show_tracked(m: dict[str, Any]) -> str:
    lines = [
        f"{m['message_id']} [{m['priority']}] {m.get('state', '')} from {m['sender']} "
        f"to {', '.join(m['to'])}",
        f"  sent {m['sent_at'][:19]}, expires {m['expires_at'][:19]}"
        + (f", queued for {m['queued_for_seconds']} s" if "queued_for_seconds" in m else ""),
    ]
    for d in m.get("destinations", []):
        reason = f" ({d['reason']})" if d.get("reason") else ""
        reads = ", ".join(r["reader"] for r in d.get("read_by", []))
        lines.append(
            f"  {d['site']:<16} {d['state']:<10} since {d['since'][:19]}{reason}"
            + (f"; read by {reads}" if reads else "")
        )
    if "delivered_here" in m:
        lines.append(f"  delivered here at {m['delivered_here']['at'][:19]}")
    if m.get("resent_as"):
        lines.append(f"  resent as {m['resent_as']}")
    return "\n".join(lines)


def show_outbox(page: dict[str, Any]) -> str:
    if not page["items"]:
        return "(nothing sent from this site)"
    return "\n".join([show_tracked(m) for m in page["items"]] + _more(page))


def show_board(page: dict[str, Any]) -> str:
    if not page["items"]:
        return "(no alerts)"
    lines = []
    for a in page["items"]:
        text = a["text"] if a["text"] is not None else "(sealed)"
        lines.append(
            f"[{a['severity']}] {a['raised_at'][:19]} from {a['origin']} ({a['alert_id']}): {text}"
        )
        for s in a["sites"]:
            state = (
                f"acknowledged by {', '.join(s['acknowledged_by'])}"
                if s["acknowledged_at"]
                else ("received" if s["received_at"] else "not yet received")
            )
            lines.append(f"    {s['site']:<16} {state}")
    return "\n".join(lines + _more(page))


def show_traffic(result: dict[str, Any]) -> str:
    lines = ["events that crossed (or wait to cross) each link, per class:"]
    for row in result["events"]:
        lines.append(
            f"  {row['site']:<16} {row['direction']:<5} {row['class']:<10} "
            f"{row['events']:>8} events {row['bytes']:>12,} B"
        )
    for link in result["link"]:
        lines.append(
            f"link {link['site']}: {link['state']}, up {link['bytes_up']:,} B, "
            f"down {link['bytes_down']:,} B (all traffic, compressed)"
        )
    return "\n".join(lines)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    msg = subparsers.add_parser("msg", help="store-and-forward messages between sites")
    sub = msg.add_subparsers(dest="msg_command", required=True, metavar="ACTION")
    _message_commands(sub)
    _directory_commands(sub)
    alert = subparsers.add_parser("alert", help="alerts to every site or an area, with acks")
    asub = alert.add_subparsers(dest="alert_command", required=True, metavar="ACTION")
    _alert_commands(asub)


def _paged(p: argparse.ArgumentParser, limit: int) -> None:
    p.add_argument("--limit", type=int, default=limit, help=f"this many at most (default {limit})")
    p.add_argument("--before", default=None, metavar="ID", help="the next page: the id printed")


def _common(p: argparse.ArgumentParser, site: bool = True) -> None:
    if site:
        p.add_argument("--site", default=None, help="which site's service (default: the address's)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _message_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("send", help="send a message")
    p.add_argument("text", help="the message ('-' reads it from standard input)")
    p.add_argument(
        "--from", dest="sender", required=True, help="person:NAME@SITE or role:NAME@SITE"
    )
    p.add_argument("--to", action="append", required=True, help="recipient (repeat for more)")
    p.add_argument("--priority", choices=["emergency", "high", "normal", "bulk"], default="normal")
    p.add_argument("--channel", default="main", help="channel whose key seals it (default main)")
    p.add_argument("--lifetime", type=lifetime, default=None, help="e.g. 30m, 6h, 3d")
    p.add_argument("--attach", action="append", default=[], metavar="FILE", help="attach a file")
    _common(p)
    p.set_defaults(handler=_send)

    p = sub.add_parser("fetch", help="fetch a message's attachment (from its site, first time)")
    p.add_argument("message_id")
    p.add_argument("sha256")
    p.add_argument("--out", type=Path, required=True, help="where to write the file")
    _common(p)
    p.set_defaults(handler=_fetch)

    p = sub.add_parser("inbox", help="a person's or role's inbox")
    p.add_argument("address")
    p.add_argument("--unread", action="store_true")
    _paged(p, 50)
    _common(p)
    p.set_defaults(handler=_inbox)

    p = sub.add_parser("outbox", help="what a site sent, per destination state and age")
    p.add_argument("--from", dest="sender", default=None)
    _paged(p, 50)
    _common(p)
    p.set_defaults(handler=_outbox)

    p = sub.add_parser("status", help="one message's delivery state")
    p.add_argument("message_id")
    _common(p)
    p.set_defaults(handler=_status)

    p = sub.add_parser("read", help="mark a message read")
    p.add_argument("message_id")
    p.add_argument("--as", dest="reader", required=True, help="who read it")
    _common(p)
    p.set_defaults(handler=_read)

    p = sub.add_parser("resend", help="resend a message to the destinations it has not reached")
    p.add_argument("message_id")
    p.add_argument("--priority", choices=["emergency", "high", "normal", "bulk"], default=None)
    p.add_argument("--lifetime", type=lifetime, default=None)
    _common(p)
    p.set_defaults(handler=_resend)

    p = sub.add_parser("traffic", help="bytes per priority class over each link")
    _common(p)
    p.set_defaults(handler=_traffic)


def _directory_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, help_text in (("list", "list an address here"), ("unlist", "unlist an address")):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("address", help="person:NAME@SITE or role:NAME@SITE")
        _common(p)
        p.set_defaults(handler=_listing(name))

    p = sub.add_parser("directory", help="sites, addresses and channels known at a site")
    _common(p)
    p.set_defaults(handler=_directory)

    p = sub.add_parser("channel", help="open a channel, or change its sites (at the hub)")
    p.add_argument("action", choices=["open", "sites"])
    p.add_argument("name")
    p.add_argument("--public", action="store_true", help="bodies travel in clear (no key)")
    p.add_argument("--sites", type=_sites, default=[], help="member sites (default: every site)")
    _common(p, site=False)
    p.set_defaults(handler=_channel)

    p = sub.add_parser("key", help="store a channel key at a site (generated when not given)")
    p.add_argument("channel")
    p.add_argument("--key", default=None, help="base64 of 32 bytes, as printed at another site")
    p.add_argument("--replace", action="store_true", help="replace the key this site holds")
    _common(p)
    p.set_defaults(handler=_key)


def _alert_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("raise", help="raise an alert")
    p.add_argument("text")
    p.add_argument("--by", required=True, help="person:NAME@SITE or role:NAME@SITE")
    p.add_argument(
        "--severity", choices=["info", "warning", "urgent", "evacuate"], default="warning"
    )
    p.add_argument("--area", type=_sites, default=[], help="sites (default: every site)")
    sealing = p.add_mutually_exclusive_group()
    sealing.add_argument(
        "--channel", default="main", help="channel whose key seals it (default main)"
    )
    sealing.add_argument(
        "--public",
        action="store_true",
        help="send the text in clear, for every server on the way to store and show: never a "
        "name, a phone or an address",
    )
    _common(p)
    p.set_defaults(handler=_raise)

    p = sub.add_parser("board", help="alerts and who has acknowledged them")
    _paged(p, 20)
    _common(p)
    p.set_defaults(handler=_board)

    p = sub.add_parser("ack", help="acknowledge an alert at your site")
    p.add_argument("alert_id")
    p.add_argument("--by", required=True)
    _common(p)
    p.set_defaults(handler=_ack)


def _send(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.text == "-" else args.text
    site = _site_of(args.sender, args.site)
    payload: dict[str, Any] = {
        "message_id": uuid7(),
        "sender": args.sender,
        "to": args.to,
        "priority": args.priority,
        "channel": args.channel,
        "body": text,
        "attachments": [_upload(site, args.channel, Path(f)) for f in args.attach],
    }
    if args.lifetime is not None:  # 0s is given, and refused by the service, not the default
        payload["lifetime_seconds"] = args.lifetime
    return call(site, "send", payload, args.json, _fields)


def _http(site: str, method: str, path: str, body: bytes | None = None) -> tuple[bytes, str]:
    """The site's comms HTTP API (files are too large for one NATS command)."""
    url = Deployment.load().service_url("comms", site) + path
    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.read(), response.headers.get("content-type", "")
    except urllib.error.HTTPError as exc:
        error = json.loads(exc.read() or b"{}").get("error", {})
        raise SystemExit(f"refused ({error.get('code')}): {error.get('message')}") from None


def _upload(site: str, channel: str, path: Path) -> dict[str, Any]:
    # Checked here: the service refuses an oversize upload as it streams and closes the
    # connection, which reached the sender as "connection reset by peer".
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SystemExit(f"aidmesh: cannot read {str(path)!r}: {exc.strerror}") from None
    if not 0 < size <= MAX_ATTACHMENT_BYTES:
        raise SystemExit(
            f"aidmesh: {str(path)!r} is {size:,} bytes; an attachment is 1 byte to "
            f"{MAX_ATTACHMENT_BYTES // 2**20} MB"
        )
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    query = urllib.parse.urlencode({"channel": channel, "media_type": media_type})
    data, _ = _http(site, "PUT", f"/attachments?{query}", path.read_bytes())
    result: dict[str, Any] = json.loads(data)["result"]
    return result


def _fetch(args: argparse.Namespace) -> int:
    data, media_type = _http(
        args.site or HUB, "GET", f"/attachments/{args.message_id}/{args.sha256}"
    )
    args.out.write_bytes(data)
    print(f"wrote {args.out} ({len(data):,} bytes, {media_type})")
    return 0


def _page(args: argparse.Namespace) -> dict[str, Any]:
    return {"limit": args.limit, "before": args.before}


def _inbox(args: argparse.Namespace) -> int:
    payload = {"address": args.address, "unread_only": args.unread, **_page(args)}
    return call(_site_of(args.address, args.site), "inbox", payload, args.json, show_inbox)


def _outbox(args: argparse.Namespace) -> int:
    site = _site_of(args.sender, args.site) if args.sender else (args.site or HUB)
    payload = {"sender": args.sender, **_page(args)}
    return call(site, "outbox", payload, args.json, show_outbox)


def _status(args: argparse.Namespace) -> int:
    payload = {"message_id": args.message_id}
    return call(args.site or HUB, "status", payload, args.json, show_tracked)


def _read(args: argparse.Namespace) -> int:
    payload = {"command_id": uuid7(), "message_id": args.message_id, "reader": args.reader}
    return call(_site_of(args.reader, args.site), "read", payload, args.json, _fields)


def _resend(args: argparse.Namespace) -> int:
    payload: dict[str, Any] = {"message_id": uuid7(), "original": args.message_id}
    if args.priority:
        payload["priority"] = args.priority
    if args.lifetime is not None:  # 0s is given, and refused by the service, not the default
        payload["lifetime_seconds"] = args.lifetime
    return call(args.site or HUB, "resend", payload, args.json, _fields)


def _traffic(args: argparse.Namespace) -> int:
    return call(args.site or HUB, "traffic", {}, args.json, show_traffic)


def _listing(command: str) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        payload = {"command_id": uuid7(), "address": args.address}
        site = _site_of(args.address, args.site)
        return call(site, f"{command}_address", payload, args.json, _fields)

    return handler


def _directory(args: argparse.Namespace) -> int:
    return call(args.site or HUB, "directory", {}, args.json, _fields)


def _channel(args: argparse.Namespace) -> int:
    payload = {
        "command_id": uuid7(),
        "name": args.name,
        "public": args.public,
        "sites": args.sites,
    }
    command = "open_channel" if args.action == "open" else "set_channel_sites"
    return call(HUB, command, payload, args.json, _fields)


def _key(args: argparse.Namespace) -> int:
    payload = {"channel": args.channel, "key": args.key, "replace": args.replace}
    return call(args.site or HUB, "set_key", payload, args.json, _fields)


def _raise(args: argparse.Namespace) -> int:
    payload = {
        "alert_id": uuid7(),
        "raised_by": args.by,
        "severity": args.severity,
        "text": args.text,
        "area": args.area,
        # Sealed unless asked otherwise, as messages are: an alert is typed in a hurry, and an
        # "evacuate Joana Belo, Rua Lecidere 9" in clear sat in every site's stream and board.
        "channel": None if args.public else args.channel,
    }
    return call(_site_of(args.by, args.site), "raise_alert", payload, args.json, _fields)


def _board(args: argparse.Namespace) -> int:
    return call(args.site or HUB, "board", _page(args), args.json, show_board)


def _ack(args: argparse.Namespace) -> int:
    payload = {"command_id": uuid7(), "alert_id": args.alert_id, "by": args.by}
    return call(_site_of(args.by, args.site), "ack_alert", payload, args.json, _fields)
