"""Is a directory's email address valid? email_validator decides; a plain address is known valid at once.

email_validator spends ~35 µs on an address (IDNA and Unicode checks), a third of loading a
10,000-agency directory. Nearly every address is of the plain ASCII form `local@label.label.tld`, which
it always accepts: a dot-atom local part of letters, digits, `_`, `+`, `-` (RFC 5322 atext), domain
labels of letters, digits and inner hyphens up to 63 long, without `--` (which may make an R-LDH or
Punycode label), a top-level domain of 2+ letters that is not a special-use name, 254 characters at
most (the address limit; the local part has no limit of its own outside email_validator's strict mode).
Only such an address skips email_validator; anything else is checked and explained by it.
tests/loading/test_emails.py holds the two to the same verdicts.
"""

from __future__ import annotations

import re

__all__ = ["email_problem"]

_PLAIN = re.compile(
    r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"(?P<tld>[A-Za-z]{2,63})"
)
_MAX_LENGTH = 254
# email_validator.SPECIAL_USE_DOMAIN_NAMES (the test checks they are the same): none has a dot, so for a
# domain with one, being or ending in one of them means having it as top-level domain.
SPECIAL_USE_DOMAINS = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test"})


def _plainly_valid(address: str) -> bool:
    if len(address) > _MAX_LENGTH:
        return False
    m = _PLAIN.fullmatch(address)
    return (
        m is not None
        and "--" not in address[address.index("@") :]
        and m["tld"].lower() not in SPECIAL_USE_DOMAINS
    )


def email_problem(address: str) -> str | None:
    """None for a valid address; else the message `'…' is not a valid email address: <why>`."""
    if _plainly_valid(address):
        return None
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        return f"'{address}' is not a valid email address: {exc}"
    return None
