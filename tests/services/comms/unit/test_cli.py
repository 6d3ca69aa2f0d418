"""What the comms subcommands send, without a server: the traps a coordinator fell into."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.comms import cli
from shared.cli import build_parser


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, dict[str, Any]]]:
    calls: list[tuple[str, str, dict[str, Any]]] = []

    def call(site: str, command: str, payload: dict[str, Any], as_json: bool, show: Any) -> int:
        calls.append((site, command, payload))
        return 0

    monkeypatch.setattr(cli, "call", call)
    return calls


def _run(*argv: str) -> int:
    args = build_parser().parse_args(list(argv))
    code: int = args.handler(args)
    return code


def test_an_alert_is_sealed_unless_asked_to_be_public(sent: list[Any]) -> None:
    """Messages were sealed by default and alerts were not: a hurried "evacuate Joana Belo,
    Rua Lecidere 9" sat in clear in every site's stream and board."""
    _run("alert", "raise", "evacuate ward 3", "--by", "person:ana@dili")
    _run("alert", "raise", "the bridge is out", "--by", "person:ana@dili", "--public")
    assert [payload["channel"] for _, _, payload in sent] == ["main", None]
    with pytest.raises(SystemExit):
        _run("alert", "raise", "x", "--by", "person:ana@dili", "--public", "--channel", "ops")


def test_a_lifetime_of_nothing_is_sent_as_given(sent: list[Any]) -> None:
    """``--lifetime 0s`` read as "not given" and the message lived the default seven days."""
    _run("msg", "send", "hello", "--from", "person:ana@dili", "--to", "all", "--lifetime", "0s")
    assert sent[0][2]["lifetime_seconds"] == 0


def test_an_option_is_taken_only_as_spelled() -> None:
    """``channel open ops --site dili`` was read as ``--sites dili``: a one-site channel."""
    with pytest.raises(SystemExit):
        build_parser().parse_args(["msg", "channel", "open", "ops", "--site", "dili"])


def test_a_handle_in_capitals_is_named_as_the_fault(sent: list[Any]) -> None:
    with pytest.raises(SystemExit) as refused:
        _run("msg", "send", "hi", "--from", "person:Ana@dili", "--to", "all")
    assert "is not an address" in str(refused.value) and "lower-case" in str(refused.value)


def test_a_file_too_large_to_attach_is_refused_before_it_is_sent(
    sent: list[Any], tmp_path: Path
) -> None:
    big = tmp_path / "scan.pdf"
    with big.open("wb") as f:
        f.truncate(cli.MAX_ATTACHMENT_BYTES + 1)
    with pytest.raises(SystemExit) as refused:
        _run("msg", "send", "hi", "--from", "person:ana@dili", "--to", "all", "--attach", str(big))
    assert "an attachment is 1 byte to 16 MB" in str(refused.value)
    with pytest.raises(SystemExit) as missing:
        _run("msg", "send", "hi", "--from", "person:ana@dili", "--to", "all", "--attach", "nope")
    assert "cannot read 'nope'" in str(missing.value)
    assert sent == []
