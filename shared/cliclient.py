"""What service subcommands of ``aidmesh`` share: find the site's server in the running deployment,
send a command over NATS request-reply, print the answer or the refusal in one sentence."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable
from typing import Any, cast

import nats
from nats.errors import NoRespondersError, NoServersError
from nats.errors import TimeoutError as NatsTimeout

from shared.deployment import Deployment
from shared.endpoints import Reply


class ExactParser(argparse.ArgumentParser):
    """Takes options only as spelled. argparse's default prefix matching read ``--site dili`` as
    ``--sites dili`` on a command that has ``--sites`` and no ``--site`` (a comms channel opened
    for one site instead of being sent to one). Subcommand parsers inherit the class."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def commands(self, **kwargs: Any) -> argparse._SubParsersAction[argparse.ArgumentParser]:
        """``add_subparsers``, typed as every ``register(subparsers)`` takes it (the action's type
        is invariant); the parsers it makes are ExactParsers all the same."""
        return cast(
            "argparse._SubParsersAction[argparse.ArgumentParser]", self.add_subparsers(**kwargs)
        )


def site_url(site: str) -> str:
    override = os.environ.get("AIDMESH_NATS_URL")
    if override:
        return override
    return Deployment.load().endpoint(site).url


async def send(url: str, subject: str, payload: dict[str, Any], timeout: float = 10.0) -> Reply:
    """One command, one answer. A server that is not there is an answer too (``unavailable``), at
    once: nats-py would otherwise keep retrying the first connection, printing a traceback each
    time, and a treasurer's terminal would hang instead of saying the field node is down."""
    try:
        nc = await nats.connect(url, **ONE_SHOT)
    except (NoServersError, OSError, TimeoutError) as exc:
        return Reply(
            ok=False,
            error={
                "code": "unavailable",
                "message": f"cannot reach the server at {url} ({type(exc).__name__}): is the "
                "field node running? (`aidmesh status`)",
            },
        )
    try:
        msg = await nc.request(subject, json.dumps(payload).encode(), timeout=timeout)
    except NoRespondersError:
        return Reply(
            ok=False, error={"code": "no_service", "message": f"nothing answers {subject}"}
        )
    except NatsTimeout:
        return Reply(ok=False, error={"code": "timeout", "message": f"no answer on {subject}"})
    finally:
        await nc.close()
    return Reply.model_validate_json(msg.data)


async def _quiet(_: Exception) -> None:
    """Connection errors end in an answer; nats-py's default would print each one."""


ONE_SHOT: dict[str, Any] = {
    "connect_timeout": 3,
    "max_reconnect_attempts": 1,  # two tries, then NoServersError (0 would mean: try for ever)
    "reconnect_time_wait": 0.2,
    "allow_reconnect": False,
    "error_cb": _quiet,
}
"""Connection options for a command-line call: give up quickly, quietly, with an error."""


UNANSWERED = ("no_service", "timeout", "unavailable")


def run(site: str, subject: str, payload: dict[str, Any], *, as_json: bool = False) -> int:
    """Send and print. Exit 0 on success, 1 when refused or invalid, 2 when nothing answered."""
    return show(asyncio.run(send(site_url(site), subject, payload)), as_json=as_json)


def show(reply: Reply, *, as_json: bool, text: Callable[[Any], str] | None = None) -> int:
    """Print an answer (``text`` renders a result for the terminal) or the refusal in one sentence.
    Exit 0 on success, 1 when refused or invalid, 2 when nothing answered."""
    if reply.ok:
        if as_json:
            print(json.dumps(reply.result, indent=2, ensure_ascii=False))
        else:
            print((text or render)(reply.result))
        return 0
    assert reply.error is not None
    if as_json:
        print(reply.model_dump_json(indent=2))
    else:
        print(f"refused ({reply.error.code}): {reply.error.message}", file=sys.stderr)
        for detail in reply.error.details:
            print(f"  {detail.get('field')}: {detail.get('problem')}", file=sys.stderr)
    return 2 if reply.error.code in UNANSWERED else 1


def render(result: Any, depth: int = 0) -> str:
    """Readable text for a terminal: a list of flat records as rows, a record as key: value lines,
    nested records indented beneath their key, an amount as "150.00 GBP" and nothing as "-" (a
    treasurer reads this, not a Python literal)."""
    pad = "  " * depth
    if _flat(result):
        return pad + _scalar(result)
    if isinstance(result, list):
        if all(isinstance(item, dict) and all(map(_flat, item.values())) for item in result):
            return "\n".join(pad + _row(item) for item in result)
        return "\n".join(_item(item, depth) for item in result)
    lines = []
    for key, value in result.items():
        if key == "next_offset" and depth == 0:  # a page of a list: say how to read the next
            lines += [f"(more: the next page with --offset {value})"] if value is not None else []
        elif _flat(value):
            lines.append(f"{pad}{key}: {_scalar(value)}")
        else:
            lines += [f"{pad}{key}:", render(value, depth + 1)]
    return "\n".join(lines)


def _item(item: Any, depth: int) -> str:
    """One entry of a list of records: its block, marked with a dash."""
    block = render(item, depth + 1)  # every line indented one step: the dash takes the first's
    return "  " * depth + "- " + block[2 * (depth + 1) :]


def _is_money(value: Any) -> bool:
    return isinstance(value, dict) and value.keys() == {"amount", "currency"}


def _flat(value: Any) -> bool:
    if isinstance(value, list):
        return not any(isinstance(v, (dict, list)) and not _is_money(v) for v in value)
    if isinstance(value, dict):
        return not value or _is_money(value)
    return True


def _scalar(value: Any) -> str:
    if value is None:
        return "-"
    if _is_money(value):
        return f"{value['amount']} {value['currency']}"
    if isinstance(value, (list, dict)):
        return ", ".join(_scalar(v) for v in value) if value else "(none)"
    return str(value)


def _row(item: dict[str, Any]) -> str:
    return "  ".join(f"{k}={_scalar(v)}" for k, v in item.items())
