"""A stand-in service for the supervisor's tests: it runs until SIGTERM and does nothing else, so a
deployment under test costs two nats-servers, not every real service."""

from __future__ import annotations

import signal

if __name__ == "__main__":
    signal.pause()
