"""How what a command can raise reads at the edges (NATS, HTTP, the CLI alike)."""

from __future__ import annotations

from shared.endpoints import REUSED_ID, describe
from shared.eventstore import EventConflict
from shared.ids import uuid7


def test_a_reused_command_id_is_a_conflict_said_in_a_sentence_anyone_can_act_on() -> None:
    """It answered ``event id 01a2... already used for a different event elsewhere in the stream``:
    the store's words, about ids a coordinator never sees."""
    for detail in ("", " in this aggregate", " elsewhere in the stream"):
        status, body = describe(EventConflict(uuid7(), detail))
        assert (status, body.code) == (409, "conflict")
        assert body.message == REUSED_ID
    assert "command id" in REUSED_ID and "new id" in REUSED_ID
