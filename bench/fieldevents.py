"""Representative field events for link benchmarks: what a help request looks like on the wire
(categories, wards, household sizes, a sentence of need), not a counter that compresses to nothing."""

from __future__ import annotations

import random

from shared.envelope import EventPayload, EventRegistry

CATEGORIES = ["food", "medicine", "shelter", "transport", "evacuation", "cash", "care", "other"]
WORDS = [
    "rice",
    "oil",
    "water",
    "family",
    "elderly",
    "child",
    "fever",
    "insulin",
    "roof",
    "flood",
    "road",
    "blocked",
    "clinic",
    "pickup",
    "tonight",
    "tomorrow",
    "neighbour",
    "phone",
    "charger",
    "blanket",
    "tarpaulin",
    "diapers",
    "formula",
    "bandages",
    "ward",
    "street",
    "market",
    "kitchen",
    "meals",
    "lentils",
    "beans",
    "salt",
    "sugar",
    "soap",
    "candles",
    "torch",
    "batteries",
    "cough",
    "asthma",
    "wheelchair",
    "pregnant",
    "twins",
    "shelter",
    "school",
    "generator",
    "fuel",
    "boat",
    "bridge",
    "checkpoint",
]


class NeedRecorded(EventPayload):
    event_type = "NeedRecorded"
    category: str
    urgency: int
    ward: str
    street: str
    household: int
    summary: str


_RNG = random.Random(7)


def need(i: int, rng: random.Random = _RNG) -> NeedRecorded:
    return NeedRecorded(
        category=rng.choice(CATEGORIES),
        urgency=rng.randint(1, 4),
        ward=f"ward-{rng.randint(1, 24)}",
        street=f"st-{rng.randint(1, 300)}",
        household=rng.randint(1, 12),
        summary=" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 24))),
    )


registry = EventRegistry(NeedRecorded)
