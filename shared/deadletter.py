"""The dead-letter stream: where a message that cannot be handled goes, with the reason, so the
consumer can carry on and an operator can read, fix and replay it later."""

from __future__ import annotations

from collections.abc import Mapping

from nats.js import JetStreamContext

from shared import subjects

REASON = "Aidmesh-Dlq-Reason"
SOURCE_STREAM = "Aidmesh-Dlq-Stream"
SOURCE_SEQ = "Aidmesh-Dlq-Seq"
SOURCE_SUBJECT = "Aidmesh-Dlq-Subject"
CONSUMER = "Aidmesh-Dlq-Consumer"
_MAX_REASON = 1000


class DeadLetters:
    def __init__(self, js: JetStreamContext, site: str) -> None:
        self._js = js
        self.site = site
        self.stream = subjects.dlq_stream(site)

    async def send(
        self,
        *,
        consumer: str,
        reason: str,
        data: bytes,
        subject: str,
        stream: str = "",
        seq: int = 0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        clean = " ".join(reason.split())[:_MAX_REASON] or "unspecified"
        out = {k: v for k, v in (headers or {}).items() if not k.startswith("Nats-")}
        out |= {
            REASON: clean,
            SOURCE_SUBJECT: subject,
            CONSUMER: consumer,
            SOURCE_STREAM: stream,
            SOURCE_SEQ: str(seq),
        }
        if stream and seq:
            # A crash between dead-lettering and recording the position redelivers the message;
            # the id makes the second dead letter a duplicate the stream drops.
            out["Nats-Msg-Id"] = f"dlq:{consumer}:{stream}:{seq}"
        await self._js.publish(subjects.dlq_subject(self.site, consumer), data, headers=out)
