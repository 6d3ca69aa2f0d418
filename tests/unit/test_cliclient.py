"""The CLI's text output: what a treasurer or coordinator reads in a terminal; and its answer
when the server is not there."""

import asyncio

from shared.cliclient import render, send, show
from shared.natsserver import free_port


def test_a_record_reads_as_lines_with_amounts_and_nothing_spelled_out() -> None:
    text = render(
        {
            "transfer_id": "t-1",
            "pledged": {"amount": "150.00", "currency": "GBP"},
            "dispute_reason": None,
            "group": {"group_id": "ert-north", "label": "ERR North"},
        }
    )
    assert text.splitlines() == [
        "transfer_id: t-1",
        "pledged: 150.00 GBP",
        "dispute_reason: -",
        "group:",
        "  group_id: ert-north",
        "  label: ERR North",
    ]


def test_flat_records_are_rows_and_nested_ones_are_dashed_blocks() -> None:
    assert render([{"state": "funded", "at": "today"}]) == "state=funded  at=today"
    nested = render(
        {
            "disbursements": [
                {"id": "d-1", "total": {"amount": "3.00", "currency": "MMK"}, "need": {"met": 1}}
            ]
        }
    )
    assert nested.splitlines() == [
        "disbursements:",
        "  - id: d-1",
        "    total: 3.00 MMK",
        "    need:",
        "      met: 1",
    ]


def test_empty_answers_say_so() -> None:
    assert render([]) == "(none)"
    assert render({"items": [], "tags": ["a", "b"]}) == "items: (none)\ntags: a, b"


def test_a_list_of_amounts_is_one_line() -> None:
    given = [{"amount": "150.00", "currency": "GBP"}, {"amount": "9.50", "currency": "EUR"}]
    assert render({"given": given}) == "given: 150.00 GBP, 9.50 EUR"


def test_a_page_says_how_to_read_the_next_one() -> None:
    page = {"items": [{"id": "a"}, {"id": "b"}], "next_offset": 2}
    assert render(page) == "items:\n  id=a\n  id=b\n(more: the next page with --offset 2)"
    assert render(page | {"next_offset": None}) == "items:\n  id=a\n  id=b"


async def test_a_server_that_is_not_there_is_an_answer_at_once() -> None:
    """nats-py reads ``max_reconnect_attempts=0`` as "try for ever": the CLI hung, printing a
    traceback every two seconds, when the field node was down."""
    url = f"nats://127.0.0.1:{free_port()}"  # nothing listens there
    async with asyncio.timeout(10):
        reply = await send(url, "cmd.requests.dili.list_requests", {})
    assert not reply.ok and reply.error is not None
    assert reply.error.code == "unavailable"
    assert show(reply, as_json=False) == 2


def test_a_refusal_that_stands_is_not_read_as_nothing_answering() -> None:
    """A volunteer who marked themself unavailable was refused with code ``unavailable``, the code
    of a server that does not answer: the CLI exited 2 and a script would have retried."""
    from services.requests.events import VolunteerAvailabilityChanged, VolunteerRegistered
    from services.requests.volunteer import TakeClaim, volunteer_decider
    from shared.decider import Refused
    from shared.endpoints import failure

    state = volunteer_decider.fold(
        [
            VolunteerRegistered(
                volunteer_id="vol-1", ward="w1", area_id="w1", skills=("food",), command_id="c1"
            ),
            VolunteerAvailabilityChanged(available=False, command_id="c2"),
        ]
    )
    try:
        volunteer_decider.decide(TakeClaim("claim-1", "r1", 3), state)
    except Refused as refusal:
        assert show(failure(refusal), as_json=False) == 1
    else:
        raise AssertionError("an unavailable volunteer took a claim")
