"""Decider tests in given / when / then form: ``given(decider, *events).when(command)`` then
``.then(*events)`` or ``.refused(code, words)``."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from shared.decider import Decider, Refused
from shared.envelope import EventPayload


@dataclass
class Scenario:
    decider: Decider[Any, Any, EventPayload]
    history: Sequence[EventPayload]
    command: object = None

    def when(self, command: object) -> Scenario:
        self.command = command
        return self

    @property
    def state(self) -> Any:
        return self.decider.fold(self.history)

    def then(self, *expected: EventPayload) -> Any:
        """The events decided, and the state after them (for further checks)."""
        produced = list(self.decider.decide(self.command, self.state))
        assert produced == list(expected)
        after = self.decider.fold(produced, self.state)
        again = list(self.decider.decide(self.command, after))
        assert again == [], "deciding the same command twice must change nothing"
        return after

    def refused(self, code: str, *words: str) -> Refused:
        with pytest.raises(Refused) as caught:
            self.decider.decide(self.command, self.state)
        assert caught.value.code == code, caught.value.message
        for word in words:
            assert word in caught.value.message
        return caught.value


def given(decider: Decider[Any, Any, EventPayload], *history: EventPayload) -> Scenario:
    return Scenario(decider, list(history))


def command_id_at(moment: datetime) -> str:
    """A client's UUIDv7 made at ``moment``, as a command's time comes from its id. ``uuid7(ms)``
    keeps a process's ids in order, so once it has made one now it makes no earlier one."""
    ms = int(moment.timestamp() * 1000)
    rand = int.from_bytes(os.urandom(10), "big")
    value = ms << 80 | 0x7 << 76 | (rand >> 68) << 64 | 0b10 << 62 | rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))
