"""Log lines carry no personal data whatever a caller hands the logger: fields named for it at any
depth, an exception as a field, a traceback, a message quoting an exception."""

from __future__ import annotations

import io
import json
import logging
import sqlite3
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
import structlog
from pydantic import BaseModel, StringConstraints, ValidationError

from shared import telemetry
from shared.decider import Refused
from shared.eventstore import StoreUnavailable

NAME = "Daw Khin Myint Aye"
PHONE = "+95 9 7312 4455"
EMAIL = "khin.myint@example.org"
PLANTED = (NAME, "Khin Myint", PHONE, "7312 4455", EMAIL)


class Contact(BaseModel):
    name: Annotated[str, StringConstraints(max_length=10)]
    phone: Annotated[str, StringConstraints(pattern=r"^[0-9]{6,}$")]


def invalid_contact() -> ValidationError:
    try:
        Contact.model_validate({"name": NAME, "phone": PHONE})
    except ValidationError as exc:
        return exc
    raise AssertionError("the contact should be invalid")


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    config = structlog.get_config()
    handlers = logging.getLogger().handlers[:]
    telemetry.configure_logging("tests", "hub", stream=stream)
    yield stream
    structlog.configure(**config)
    logging.getLogger().handlers[:] = handlers


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    text = stream.getvalue()
    for planted in PLANTED:
        assert planted not in text, text
    return [json.loads(line) for line in text.splitlines()]


def test_fields_named_for_personal_data_are_redacted_at_any_depth(out: io.StringIO) -> None:
    telemetry.get_logger("t").info(
        "intake",
        need=f"insulin for {NAME}",
        display_name=NAME,
        request={"category": "medicine", "contact": {"phone": PHONE}, "name": NAME},
        donors=[{"email": EMAIL, "ref": "d-abc"}],
    )
    (line,) = lines(out)
    assert line["need"] == line["display_name"] == "[redacted]"
    assert line["request"] == {
        "category": "medicine",
        "contact": "[redacted]",
        "name": "[redacted]",
    }
    assert line["donors"] == [{"email": "[redacted]", "ref": "d-abc"}]


def test_an_exception_as_a_field_is_its_type_and_fields_not_its_values(out: io.StringIO) -> None:
    log = telemetry.get_logger("t")
    log.warning("failed", error=KeyError(EMAIL))
    log.warning("invalid", error=invalid_contact())
    first, second = lines(out)
    assert first["error"] == "KeyError"
    assert second["error"] == (
        "ValidationError: name (string_too_long), phone (string_pattern_mismatch)"
    )


def test_a_logged_traceback_keeps_its_frames_and_drops_what_was_said(out: io.StringIO) -> None:
    try:
        try:
            raise invalid_contact()
        except ValidationError as exc:
            raise RuntimeError(f"cannot store {EMAIL}") from exc
    except RuntimeError:
        telemetry.get_logger("t").exception("store.failed")
    (line,) = lines(out)
    assert "exc_info" not in line
    assert "test_a_logged_traceback_keeps_its_frames_and_drops_what_was_said" in line["exception"]
    assert "phone (string_pattern_mismatch)" in line["exception"]
    assert line["exception"].endswith("RuntimeError")


def test_a_standard_library_record_quoting_its_exception_is_scrubbed(out: io.StringIO) -> None:
    """As asyncio reports a task's unretrieved exception, and uvicorn an application's."""
    exc = KeyError(PHONE)
    message = "Task exception was never retrieved\nfuture: <Task finished exception=%r>"
    logging.getLogger("asyncio").error(message, exc, exc_info=(KeyError, exc, None))
    (line,) = lines(out)
    assert line["event"].endswith("exception=KeyError>")
    assert line["exception"].endswith("KeyError")


def test_what_operators_need_is_kept() -> None:
    refused = Refused("the claim expired", code="expired")
    assert telemetry.error_text(refused) == "Refused: the claim expired"
    unavailable = StoreUnavailable("no stream listens on ev.requests.dili.request.x")
    assert telemetry.error_text(unavailable) == (
        "StoreUnavailable: no stream listens on ev.requests.dili.request.x"
    )
    duplicate = sqlite3.IntegrityError("UNIQUE constraint failed: contacts.phone")
    assert telemetry.error_text(duplicate) == (
        "IntegrityError: UNIQUE constraint failed: contacts.phone"
    )
    try:
        json.loads(f'{{"name": "{NAME}", ')
    except json.JSONDecodeError as exc:
        assert telemetry.error_text(exc).startswith("JSONDecodeError: Expecting property name")
        assert NAME not in telemetry.error_text(exc)
    assert telemetry.error_text(UnicodeEncodeError("utf-8", NAME, 0, 1, "bad")) == (
        "UnicodeEncodeError"
    )
