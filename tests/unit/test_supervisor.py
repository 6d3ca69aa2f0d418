"""The supervisor's restart of a service that died, when the restart itself fails (the process
cannot be made): the deployment goes on, and the restart is tried again after the pause."""

from __future__ import annotations

import errno
import sys
from pathlib import Path

import pytest

from shared.deployment import Deployment, ServiceEndpoint
from shared.processes import Child
from shared.supervisor import RESTART_BACKOFF_SECONDS, Supervisor


def test_a_restart_that_cannot_make_the_process_is_tried_again_after_the_pause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dep = Deployment.plan(tmp_path / "var", ["dili"], base_port=0)
    supervisor = Supervisor(dep, [])
    child = Child(
        "idle@dili",
        [sys.executable, "-c", "import time; time.sleep(60)"],
        log_path=tmp_path / "idle.log",
        pid_path=tmp_path / "idle.pid",
    )
    child.start()
    assert child.process is not None
    child.process.kill()
    child.process.wait()
    child.started_at -= RESTART_BACKOFF_SECONDS
    dep.services[child.name] = ServiceEndpoint("idle", "dili", 0)
    supervisor.children.append(child)

    def fork_fails(self: Child) -> None:
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(Child, "start", fork_fails)
    supervisor._revive()  # the run loop's step: an exception here stopped every server and service
    assert not child.alive()
    monkeypatch.undo()
    supervisor._revive()
    assert not child.alive(), "tried again at once: a failing fork would spin"
    child.started_at -= RESTART_BACKOFF_SECONDS
    supervisor._revive()
    try:
        assert child.alive()
        assert child.restarts == 2
    finally:
        child.stop()
