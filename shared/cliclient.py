"""What service subcommands of ``aidmesh`` share: find the site's server in the running deployment,
send a command over NATS request-reply, print the answer or the refusal in one sentence."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import nats
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from shared.deployment import Deployment
from shared.endpoints import Reply


def site_url(site: str) -> str:
    override = os.environ.get("AIDMESH_NATS_URL")
    if override:
        return override
    return Deployment.load().endpoint(site).url


async def send(url: str, subject: str, payload: dict[str, Any], timeout: float = 10.0) -> Reply:
    nc = await nats.connect(url, connect_timeout=3, max_reconnect_attempts=0)
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


def render(result: Any) -> str:
    """Readable text for a terminal: a list of records as rows, a record as key: value lines."""
    if isinstance(result, list):
        return (
            "\n".join(render(item) if not isinstance(item, dict) else _row(item) for item in result)
            or "(none)"
        )
    if isinstance(result, dict):
        return "\n".join(f"{k}: {v}" for k, v in result.items())
    return str(result)


def _row(item: dict[str, Any]) -> str:
    return "  ".join(f"{k}={v}" for k, v in item.items())
