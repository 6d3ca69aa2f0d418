"""The decider pattern: ``decide(command, state) -> events``, ``evolve(state, event) -> state``.

Pure by contract: no I/O, no clock, no randomness; time and ids arrive on the command. That is what
lets the same decider run in a field node, a test and a replay, and give the same answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Generic, TypeVar

C = TypeVar("C")
S = TypeVar("S")
E = TypeVar("E")


@dataclass(frozen=True, slots=True)
class Decider(Generic[C, S, E]):
    decide: Callable[[C, S], Sequence[E]]
    evolve: Callable[[S, E], S]
    initial_state: S

    def fold(self, events: Iterable[E], state: S | None = None) -> S:
        start = self.initial_state if state is None else state
        return reduce(self.evolve, events, start)

    def run(self, commands: Iterable[C], state: S | None = None) -> tuple[S, list[E]]:
        """Decide and evolve a sequence of commands in memory: the serial replay tests compare to."""
        current = self.initial_state if state is None else state
        produced: list[E] = []
        for command in commands:
            events = self.decide(command, current)
            produced.extend(events)
            current = self.fold(events, current)
        return current, produced


class Refused(Exception):
    """The rules refuse this command. ``code`` is stable for clients; the message is a sentence a
    coordinator can read and act on."""

    code: str = "refused"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
