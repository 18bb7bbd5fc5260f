"""Heads' links (compliance.signing): what a token carries, and that nothing else passes for one."""

from __future__ import annotations

import datetime as dt

import pytest

from compliance.model.config import Config, DeploymentConfig
from compliance.signing import (
    BadLinkError,
    HeadGrant,
    head_link,
    head_path,
    head_token,
    link_expiry,
    read_head_token,
)

SECRET = "a-secret-of-at-least-16-chars"
DAY = dt.date(2023, 7, 31)


def config(base_url: str) -> Config:
    return Config(deployment=DeploymentConfig(name="x", base_url=base_url))


def test_a_token_carries_agency_head_and_last_day() -> None:
    token = head_token("so-a", "GiamDoc.SoA@example.gov.vn", expires_on=DAY, secret=SECRET)
    grant = read_head_token(token, secret=SECRET)
    assert grant == HeadGrant("so-a", "giamdoc.soa@example.gov.vn", DAY)
    assert grant.valid_on(DAY) and not grant.valid_on(DAY + dt.timedelta(days=1))


def test_links_are_relative_to_base_url() -> None:
    path = head_path("so-a", "a@b.vn", expires_on=DAY, secret=SECRET)
    assert path.startswith("/h/") and "?" not in path
    assert head_path("so-a", "a@b.vn", expires_on=DAY, secret=SECRET, task_id=7) == path + "?task=7"
    assert head_link(
        config("https://cchc.example.gov.vn/"), "so-a", "a@b.vn", expires_on=DAY, secret=SECRET
    ) == ("https://cchc.example.gov.vn" + path)
    assert head_link(config(""), "so-a", "a@b.vn", expires_on=DAY, secret=SECRET) == ""


def test_default_expiry_is_thirty_days_after_sending() -> None:
    assert link_expiry(dt.date(2023, 7, 1)) == DAY


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        head_token("so-a", "a@b.vn", expires_on=DAY, secret="another-secret-16-chars"),
        head_token("so-a", "a@b.vn", expires_on=DAY, secret=SECRET) + "x",
    ],
)
def test_anything_not_signed_by_us_is_refused(token: str) -> None:
    with pytest.raises(BadLinkError):
        read_head_token(token, secret=SECRET)


def test_a_signed_token_of_another_shape_is_refused() -> None:
    from itsdangerous import URLSafeSerializer

    other = URLSafeSerializer(SECRET, salt="compliance.head-link.v1")
    for payload in (
        {"a": "so-a"},
        ["so-a"],
        {"a": "so-a", "m": "x", "e": "31/07/2023"},
        {"a": 1, "m": "x", "e": "2023-07-31"},
    ):
        with pytest.raises(BadLinkError):
            read_head_token(str(other.dumps(payload)), secret=SECRET)


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 characters"):
        head_token("so-a", "a@b.vn", expires_on=DAY, secret="short")
