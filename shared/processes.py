"""Child processes of the supervisor: started in their own session, recorded by PID, stopped in order.

Children get their own session so that Ctrl-C reaches only the supervisor, which then stops services
before the servers they write to (stopping a server first would fail their last appends).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from shared.natsserver import kill_stale, stop_pid


@dataclass
class Child:
    name: str
    argv: list[str]
    log_path: Path
    pid_path: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0

    def start(self) -> None:
        kill_stale(self.pid_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.pid_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                start_new_session=True,
            )
        self.pid_path.write_text(str(self.process.pid))
        self.started_at = time.monotonic()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is not None:
            stop_pid(self.process.pid, timeout, self.process)
            self.process = None
        self.pid_path.unlink(missing_ok=True)


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
