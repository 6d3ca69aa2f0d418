"""Given / when / then for deciders: ``given(decider, *events).when(command).then(*events)``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from shared.decider import Decider, Refused


@dataclass
class _When:
    decider: Decider[Any, Any, Any]
    state: Any
    command: Any

    def then(self, *expected: Any) -> Sequence[Any]:
        produced = self.decider.decide(self.command, self.state)
        assert list(produced) == list(expected)
        return produced

    def refused(self, code: str, match: str | None = None) -> Refused:
        with pytest.raises(Refused, match=match) as caught:
            self.decider.decide(self.command, self.state)
        assert caught.value.code == code, caught.value.message
        return caught.value


@dataclass
class _Given:
    decider: Decider[Any, Any, Any]
    state: Any

    def when(self, command: Any) -> _When:
        return _When(self.decider, self.state, command)


def given(decider: Decider[Any, Any, Any], *events: Any) -> _Given:
    return _Given(decider, decider.fold(events))
