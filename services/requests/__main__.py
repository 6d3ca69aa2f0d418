"""Composition root: ``python -m services.requests`` at the hub or a field site."""

from __future__ import annotations

from services.requests.service import build
from shared.service import main

if __name__ == "__main__":
    main("requests", build)
