"""A scripted day at a field site (``make demo``): written next."""

from __future__ import annotations


def run() -> int:
    print("the requests demo is not written yet")
    return 0
