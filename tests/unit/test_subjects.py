"""Names that become subject tokens: nothing but the characters a subject may hold."""

from __future__ import annotations

import pytest

from services.comms.addresses import is_address
from shared.subjects import InvalidName, site_id, token


@pytest.mark.parametrize("bad", ["a\n", "a b", "a.b", "a*", "a>", "", "x" * 129, "é"])
def test_a_token_holds_only_letters_digits_dash_and_underscore(bad: str) -> None:
    """A trailing newline matters most: ``$`` in a regular expression matches before one, and a
    newline in a subject would break the NATS protocol line it is sent on."""
    with pytest.raises(InvalidName):
        token(bad, "an id")


@pytest.mark.parametrize("bad", ["dili\n", "Dili", "-dili", "dili.hub", "all"])
def test_a_site_id_is_lowercase_letters_digits_and_dashes(bad: str) -> None:
    with pytest.raises(InvalidName):
        site_id(bad)


def test_good_names_pass_unchanged() -> None:
    assert token("vol-1_a", "an id") == "vol-1_a"
    assert site_id("dili") == "dili"


def test_an_address_with_a_trailing_newline_is_not_an_address() -> None:
    assert is_address("site:dili")
    assert not is_address("site:dili\n")
