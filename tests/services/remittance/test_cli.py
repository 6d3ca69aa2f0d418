"""``aidmesh remit``: the commands exist, and a record that nothing answered is kept in the outbox and
sent again later under the same id (so the service recognises it instead of counting it twice)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from services.remittance import cli
from shared import cliclient
from shared.cli import build_parser, main
from shared.endpoints import Reply
from shared.ids import UUID7_PATTERN
from shared.natsserver import NatsServer

CONFIRM = [
    "remit",
    "confirm",
    "--site",
    "dili",
    "--group",
    "err-7",
    "--transfer",
    "0195a0c0-0000-7000-8000-000000000001",
    "--amount",
    "475000",
    "--currency",
    "MMK",
    "--at",
    "2025-03-02T08:30+06:30",
]


def test_the_remit_commands_are_part_of_aidmesh() -> None:
    assert build_parser().parse_args(CONFIRM).handler is not None
    for action in ("pledge", "fund", "dispatch", "disburse", "dispute", "report", "ledger"):
        assert build_parser().parse_args(["remit", action, *_minimal(action)]).handler


def _minimal(action: str) -> list[str]:
    return {
        "pledge": ["--donor", "d", "--group", "g", "--amount", "1", "--currency", "USD"],
        "fund": ["t", "--amount", "1", "--currency", "USD", "--collector", "c"],
        "dispatch": ["t", "--agent", "a", "--rate", "1", "--to-currency", "USD"],
        "disburse": [
            "--site",
            "dili",
            "--group",
            "g",
            "--amount",
            "1",
            "--currency",
            "USD",
            "--purpose",
            "food",
            "--receipt",
            "r",
        ],
        "dispute": ["--site", "dili", "--group", "g", "--transfer", "t"],
        "report": ["d-1"],
        "ledger": [],
    }[action]


def test_a_record_nobody_answered_is_kept_and_resent_with_the_same_id(
    tmp_path: Path,
    nats_server: NatsServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AIDMESH_VAR", str(tmp_path))
    monkeypatch.setenv("AIDMESH_NATS_URL", nats_server.url)  # a server where nothing answers
    assert main(CONFIRM) == 2
    (kept,) = cli.outbox().glob("*.json")
    record = json.loads(kept.read_text())
    assert record["payload"]["confirmation_id"] == kept.stem
    assert record["payload"]["received_at"] == "2025-03-02T08:30:00+06:30"  # when it happened
    assert "kept in the outbox" in capsys.readouterr().err

    sent: list[tuple[str, dict[str, Any]]] = []

    async def answering(
        url: str, subject: str, payload: dict[str, Any], timeout: float = 10
    ) -> Reply:
        sent.append((subject, payload))
        return Reply(ok=True, result={"confirmation_id": payload["confirmation_id"]})

    monkeypatch.setattr(cliclient, "send", answering)
    assert main(["remit", "retry"]) == 0
    assert sent == [("cmd.dili.remit.confirm_receipt", record["payload"])]
    assert list(cli.outbox().glob("*.json")) == []


def test_a_time_without_its_zone_is_refused() -> None:
    with pytest.raises(SystemExit, match="zone"):
        main([*CONFIRM[:-1], "2025-03-02T08:30"])


@pytest.mark.parametrize("when", ["yesterday", "2025-13-02T08:30+06:30", "08:30"])
def test_a_time_that_is_not_a_time_is_refused_in_a_sentence(
    when: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIDMESH_VAR", str(tmp_path))
    with pytest.raises(SystemExit, match="ISO time"):
        main([*CONFIRM[:-1], when])
    assert not cli.outbox().exists()  # nothing kept, nothing sent


@pytest.mark.parametrize("record_id", ["../notes", "a/b", "not-an-id"])
def test_an_id_that_is_not_a_uuid7_is_refused_before_anything_is_written(
    record_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIDMESH_VAR", str(tmp_path))
    notes = tmp_path / "notes.json"
    notes.write_text("kept")
    with pytest.raises(SystemExit, match="UUIDv7"):
        main([*CONFIRM, "--id", record_id])
    assert notes.read_text() == "kept"
    assert not cli.outbox().exists()


def test_a_record_cut_short_in_the_outbox_is_reported_and_the_others_are_still_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A power cut while the outbox was written leaves a broken file: retry says so and carries on."""
    monkeypatch.setenv("AIDMESH_VAR", str(tmp_path))
    box = cli.outbox()
    box.mkdir(parents=True)
    (box / "0195a0c0-0000-7000-8000-000000000001.json").write_text('{"site": "dili", "comm')
    good = {"site": "dili", "command": "dispute", "payload": {"dispute_id": "x"}}
    (box / "0195a0c0-0000-7000-8000-000000000002.json").write_text(json.dumps(good))
    sent: list[str] = []

    async def answering(
        url: str, subject: str, payload: dict[str, Any], timeout: float = 10
    ) -> Reply:
        sent.append(subject)
        return Reply(ok=True, result={})

    monkeypatch.setattr(cliclient, "send", answering)
    monkeypatch.setattr(cliclient, "site_url", lambda site: "nats://127.0.0.1:4222")
    assert main(["remit", "outbox"]) == 1
    assert main(["remit", "retry"]) == 1
    assert sent == ["cmd.dili.remit.dispute"]
    assert "cannot be read" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "command", "payload"),
    [
        (["history", "d-1"], "donor_history", {"donor_ref": "d-1", "limit": 100, "offset": 0}),
        (
            ["report", "d-1", "--limit", "20", "--offset", "40"],
            "donor_report",
            {"donor_ref": "d-1", "limit": 20, "offset": 40},
        ),
        (
            ["balance", "g-1", "--site", "dili", "--limit", "5"],
            "group_balance",
            {"group_id": "g-1", "limit": 5, "offset": 0},
        ),
        (["ledger", "--offset", "100"], "ledger_check", {"limit": 100, "offset": 100}),
        (["needs", "--limit", "10"], "open_needs", {"limit": 10, "offset": 0}),
        (["status", "t-1"], "transfer_status", {"transfer_id": "t-1"}),  # one record: no pages
    ],
)
def test_the_lists_that_grow_are_asked_for_by_page(
    args: list[str], command: str, payload: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As ``aidmesh requests list``: ``--limit`` and ``--offset`` (the answer's next_offset)."""
    sent: list[tuple[str, dict[str, Any]]] = []

    async def answering(
        url: str, subject: str, payload: dict[str, Any], timeout: float = 10
    ) -> Reply:
        sent.append((subject, payload))
        return Reply(ok=True, result={"next_offset": None})

    monkeypatch.setattr(cliclient, "send", answering)
    monkeypatch.setattr(cliclient, "site_url", lambda site: "nats://127.0.0.1:4222")
    assert main(["remit", *args, "--json"]) == 0
    site = "dili" if "dili" in args else "hub"
    assert sent == [(f"cmd.{site}.remit.{command}", payload)]


def test_a_donor_registration_carries_an_id_and_is_sent_again_with_it_but_never_kept(
    tmp_path: Path,
    nats_server: NatsServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The hub answers a registration sent again with the same reference; the e-mail it holds
    stays out of the outbox (a plain file), so the id is said instead when nothing answered."""
    monkeypatch.setenv("AIDMESH_VAR", str(tmp_path))
    monkeypatch.setenv("AIDMESH_NATS_URL", nats_server.url)  # a server where nothing answers
    donor = ["remit", "donor", "--email", "ana@example.org", "--name", "Ana"]
    assert main(donor) == 2
    assert not cli.outbox().exists() or list(cli.outbox().iterdir()) == []
    said = re.search(r"--id (\S+)", capsys.readouterr().err)
    assert said is not None and re.fullmatch(UUID7_PATTERN, said.group(1))

    sent: list[tuple[str, dict[str, Any]]] = []

    async def answering(
        url: str, subject: str, payload: dict[str, Any], timeout: float = 10
    ) -> Reply:
        sent.append((subject, payload))
        return Reply(ok=True, result={"donor_ref": "d-1"})

    monkeypatch.setattr(cliclient, "send", answering)
    assert main([*donor, "--id", said.group(1)]) == 0
    assert main(["remit", "donor", "--json"]) == 0
    again, anonymous = sent
    assert again == (
        "cmd.hub.remit.register_donor",
        {"registration_id": said.group(1), "email": "ana@example.org", "display_name": "Ana"},
    )
    assert set(anonymous[1]) == {"registration_id"}
    assert anonymous[1]["registration_id"] != said.group(1)
    assert said.group(1) not in capsys.readouterr().out  # the id is not printed by the reference
