"""The CLI's text output: what a treasurer or coordinator reads in a terminal."""

from shared.cliclient import render


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
