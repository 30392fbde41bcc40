"""Email addresses: one plain ASCII address, or nothing.

An address is copied into a `To:` header and an SMTP envelope. Anything beyond a single
bare address is a way to misdirect mail: a line break starts a new header (`Bcc:`), a
display name (`Nav <x@attacker.example>`) shows one person while mail goes to another, a
list (`a@x, b@y`) sends to both. So every address the engine accepts (the staff file,
`--navigator`) and every address a message is built for passes `check_address`.

Internationalised addresses (`navé@exämple.org`) would need SMTPUTF8 from every relay on
the way and RFC 2047-free headers; they are refused with a clear message instead, at
import, where a person can fix the staff file.
"""

from __future__ import annotations

MAX_LENGTH = 254  # RFC 5321's limit on a forward path, less the angle brackets


class AddressError(ValueError):
    """Not a single plain address; the message says why, in words a person can act on."""


def check_address(value: object) -> str:
    """`value` if it is exactly one plain ASCII email address; else `AddressError`.

    The address is returned as given (not normalised), so it is looked up, listed and sent
    to exactly as the staff file spells it.
    """
    from email_validator import EmailNotValidError, validate_email

    if not isinstance(value, str):
        raise AddressError("an email address must be text")
    if not value.strip():
        raise AddressError("the email address is empty")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise AddressError("an email address cannot contain a line break or control character")
    if value != value.strip():
        raise AddressError("an email address cannot begin or end with a space")
    if not value.isascii():
        raise AddressError(
            "internationalised (non-ASCII) email addresses are not supported; "
            "use the person's ASCII address"
        )
    if "<" in value or ">" in value or "," in value or ";" in value or " " in value:
        raise AddressError(
            "give one bare address (like name@example.org): no display name, no list"
        )
    if len(value) > MAX_LENGTH:
        raise AddressError(f"an email address is at most {MAX_LENGTH} characters")
    try:
        validate_email(
            value,
            check_deliverability=False,
            allow_smtputf8=False,
            allow_display_name=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
        )
    except EmailNotValidError as error:
        raise AddressError(str(error)) from None
    return value
