"""The plain-address fast path never accepts what email_validator refuses: same verdicts, same messages."""

from __future__ import annotations

import email_validator
import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import example, given, settings
from hypothesis import strategies as st

from compliance.loading.emails import SPECIAL_USE_DOMAINS, _plainly_valid, email_problem


def _oracle(address: str) -> str | None:
    """The verdict of email_validator alone, as the directory words it."""
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        return f"'{address}' is not a valid email address: {exc}"
    return None


# Mostly well-formed parts, so that many addresses reach the fast path, mixed with parts that cross
# each of its lines: atext it leaves out, specials, non-ASCII letters and digits, look-alike dots,
# hyphens at the ends or doubled, labels and addresses around the length limits, special-use names.
_LOCAL = st.one_of(
    st.from_regex(r"[A-Za-z0-9_+-]{1,12}(\.[A-Za-z0-9_+-]{1,12}){0,2}", fullmatch=True),
    st.text(alphabet="aZ09_+-.!#'/=`~\"@<> é١", min_size=0, max_size=12),
    st.integers(60, 250).map(lambda n: "a" * n),
)
_LABEL = st.one_of(
    st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,10}[A-Za-z0-9])?", fullmatch=True),
    st.text(alphabet="aZ09-", min_size=0, max_size=8),
    st.integers(60, 66).map(lambda n: "b" * n),
    st.sampled_from(["xn--p1ai", "ab--cd", "a--b", "a-", "-a", "é", "a_b", "a．b", "ſ", "K"]),
)
_TLD = st.one_of(
    st.from_regex(r"[A-Za-z]{2,6}", fullmatch=True),
    st.text(alphabet="aZ09-", min_size=0, max_size=4),
    st.integers(62, 65).map(lambda n: "c" * n),
    st.sampled_from([*SPECIAL_USE_DOMAINS, "TEST", "Local", "ARPA", "c", "xn--p1ai", "123", "vn1"]),
)
_AT = st.sampled_from(["@", "@", "@", "@@", "", " @", "＠"])


@st.composite
def _addresses(draw: st.DrawFn) -> str:
    labels = draw(st.lists(_LABEL, min_size=0, max_size=4))
    return draw(_LOCAL) + draw(_AT) + ".".join([*labels, draw(_TLD)])


@given(address=st.one_of(_addresses(), st.text(max_size=300)))
@settings(max_examples=1500, deadline=None)
@example(address="chutich.ha-noi@example.gov.vn")
@example(address="a@b.test")
@example(address="a@b.co--x.vn")
@example(address="a" * 64 + "@" + ".".join(["b" * 63] * 3) + ".vn")  # 259 characters: too long
@example(address="a" * 70 + "@" + "b" * 63 + ".vn")  # a long local part is fine outside strict mode
def test_fast_path_agrees_with_email_validator(address: str) -> None:
    expected = _oracle(address)
    if _plainly_valid(address):
        assert expected is None
    assert email_problem(address) == expected


@pytest.mark.parametrize(
    "address",
    [
        "chutich.ha-noi@example.gov.vn",
        "vanphong.xa-1-2@example.gov.vn",
        "Nguyen_Van+A@Sub.Example.COM",
        "a" * 70 + "@" + "b" * 63 + ".vn",
    ],
)
def test_common_addresses_take_the_fast_path(address: str) -> None:
    assert _plainly_valid(address)
    assert _oracle(address) is None


@pytest.mark.parametrize(
    "address",
    ["a@b.test", "a@b.LOCAL", "a@xn--p1ai.vn", "a@b..vn", "a@-b.vn", "a@b.vn.", "a@b.c0m", "é@b.vn"],
)
def test_other_addresses_go_to_email_validator(address: str) -> None:
    assert not _plainly_valid(address)


def test_special_use_names_are_email_validators() -> None:
    assert set(email_validator.SPECIAL_USE_DOMAIN_NAMES) == SPECIAL_USE_DOMAINS
