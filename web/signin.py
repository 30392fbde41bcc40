"""Emailed sign-in links and server-side sessions: the web app's whole idea of who is there.

A link is single-use and works for `LINK_LIFETIME`; it opens a confirm page and only that
page's button (a POST) spends it, because mail scanners open every link they see. The
database keeps only SHA-256 digests of tokens, so a copy of it signs nobody in. A request
for an address nobody has is recorded like any other (no token, no message), so the rate
limits and the answer are the same for known and unknown addresses.

A session ends after `IDLE` without a request, at `ABSOLUTE` after signing in whatever
happens, or when its person signs out (here or everywhere) or leaves.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from engine.access import StaffRecord, team_of
from engine.addresses import AddressError, check_address
from engine.core.errors import UserError
from engine.core.messages import Message, SignInPayload
from engine.outbox import queue
from engine.store import (
    AuditEntry,
    Organisation,
    OutboxMessage,
    SignInLink,
    Staff,
    WebDraft,
    WebSession,
    write_later,
)

LINK_LIFETIME = timedelta(minutes=15)
RATE_WINDOW = timedelta(minutes=15)
PER_ADDRESS = 5  # links asked for one address in RATE_WINDOW
PER_CLIENT = 20  # links asked from one client address in RATE_WINDOW
IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=12)
TOUCH_EVERY = timedelta(seconds=30)  # a session's last_seen_at is written at most this often


class TooManyRequests(UserError):
    """More sign-in links asked for than the rate limits allow."""


class LinkUnusable(UserError):
    """A sign-in link that is unknown, used, expired, or for someone who has left."""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _keyed(secret: str, text: str) -> str:
    """A keyed digest: counts requests per address without keeping the address."""
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def work_address(text: str) -> str:
    """The address typed into the sign-in form, checked; a `UserError` saying what is wrong."""
    text = (text or "").strip()
    if not text:
        raise UserError("Enter your work email address")
    try:
        return check_address(text)
    except AddressError:
        raise UserError(
            "Enter an email address in the correct format, like name@example.org"
        ) from None


def request_link(
    session: Session,
    address: str,
    client: str,
    now: datetime,
    secret: str,
    next_path: str | None = None,
) -> int | None:
    """Record a request for a link to `address` from `client`; for an active person, queue
    the message. Returns the outbox id to deliver at once (None for an unknown address).
    `next_path` (a page of this site) is where the link's confirm page sends them.

    Raises `TooManyRequests` past either rate limit, whoever the address belongs to.
    """
    address = work_address(address)
    address_key = _keyed(secret, address.lower())
    client_key = _keyed(secret, client)
    since = now - RATE_WINDOW
    recent = SignInLink.__table__.c
    for column, key, most in (
        (recent.address_key, address_key, PER_ADDRESS),
        (recent.client_key, client_key, PER_CLIENT),
    ):
        asked = session.execute(
            sa.select(sa.func.count()).where(column == key, recent.created_at > since)
        ).scalar_one()
        if asked >= most:
            raise TooManyRequests(
                "Too many sign-in links have been asked for. Wait 15 minutes, then try again"
            )
    person = session.exec(
        select(Staff).where(sa.func.lower(Staff.email) == address.lower(), Staff.active)
    ).first()
    token = secrets.token_urlsafe(32) if person is not None else None
    link = SignInLink(
        token_hash=digest(token) if token else None,
        staff_id=person.id if person else None,
        address_key=address_key,
        client_key=client_key,
        created_at=now,
        expires_at=now + LINK_LIFETIME,
    )
    session.add(link)
    session.flush()
    if person is None or token is None:
        return None
    key = f"signin:{link.id}"
    minutes = int(LINK_LIFETIME.total_seconds() // 60)
    payload = SignInPayload(token=token, minutes=minutes)
    if next_path:
        payload["next"] = next_path
    queue(session, [Message(key, "signin", person.email, None, payload)], now)
    return session.exec(select(OutboxMessage.id).where(OutboxMessage.key == key)).one()


def forget_token(session: Session, outbox_id: int) -> None:
    """Once the message is sent, the outbox row no longer holds a usable token."""
    row = session.get(OutboxMessage, outbox_id)
    if row is not None and row.status == "sent":
        row.payload = {**row.payload, "token": ""}
        session.add(row)


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A session that is still good, the person it belongs to, and their team."""

    session_id: int
    staff: StaffRecord  # the person's row (`_CURRENT`'s columns of it)
    team: frozenset[int]  # the navigators the person leads (`access.team_of`)
    ends_at: datetime  # the earlier of the idle and the absolute limit, as of this request
    timezone: str  # the person's organisation's


def redeem(session: Session, token: str, now: datetime) -> tuple[str, Staff]:
    """Spend a sign-in link: (the new session's cookie value, the person).

    The UPDATE that marks the link used is also the check that it was unused, so two
    presses of the button (or two browsers) cannot both sign in with one link.
    """
    links = SignInLink.__table__.c
    spent = session.execute(
        sa.update(SignInLink)
        .where(
            links.token_hash == digest(token or ""),
            links.used_at.is_(None),
            links.expires_at > now,
            links.staff_id.is_not(None),
        )
        .values(used_at=now)
        .returning(links.staff_id)
    ).first()
    person = session.get(Staff, spent.staff_id) if spent else None
    if person is None or not person.active:
        raise LinkUnusable("This sign-in link has expired or has already been used")
    value = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            token_hash=digest(value),
            staff_id=person.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + ABSOLUTE,
        )
    )
    session.add(AuditEntry(at=now, actor=person.email, action="web.sign_in", detail={}))
    return value, person


_sessions, _staff, _organisations = WebSession.__table__, Staff.__table__, Organisation.__table__
_member = _staff.alias("member")
# Every page asks this first, so it is built once: the session, its person, their
# organisation's time zone and their team (a row per team member), for the token digest
# bound at each request.
_CURRENT = (
    sa.select(
        _sessions.c.id,
        _sessions.c.last_seen_at,
        _sessions.c.expires_at,
        *(_staff.c[name] for name in ("email", "name", "role", "organisation_id")),
        _staff.c.organisations,
        _staff.c.active,
        _staff.c.id.label("person_id"),
        _organisations.c.timezone,
        _member.c.id.label("member_id"),
    )
    .join(_staff, _staff.c.id == _sessions.c.staff_id)
    .join(_organisations, _organisations.c.id == _staff.c.organisation_id)
    .outerjoin(_member, team_of(_member, _staff.c.id))
    .where(_sessions.c.token_hash == sa.bindparam("token_hash"), _sessions.c.ended_at.is_(None))
)


@dataclass(frozen=True, slots=True)
class Person:
    """The signed-in person's staff record, as much of it as a page needs."""

    id: int
    email: str
    name: str
    role: str
    organisation_id: str
    organisations: list
    active: bool


def current(session: Session, value: str | None, now: datetime) -> SignedIn | None:
    """The session a cookie names, if it is still good; its idle clock restarts now.

    One query reads the session, its person, their organisation's time zone and their team,
    as Core rows (no ORM object for a page that only reads). Restarting the idle clock is
    an UPDATE that says when it applies (the session not ended meanwhile), so a reading
    unit may run it at its end (`write_later`); it is written at most every `TOUCH_EVERY`.
    """
    if not value:
        return None
    rows = session.execute(_CURRENT, {"token_hash": digest(value)}).all()
    if not rows:
        return None
    row = rows[0]
    if now >= row.expires_at or now >= row.last_seen_at + IDLE or not row.active:
        return None
    last_seen = row.last_seen_at
    if now - last_seen >= TOUCH_EVERY:
        last_seen = now
        write_later(
            session,
            sa.update(_sessions)
            .where(_sessions.c.id == row.id, _sessions.c.ended_at.is_(None))
            .values(last_seen_at=now),
        )
    team = frozenset(r.member_id for r in rows if r.member_id is not None)
    person = Person(
        row.person_id, row.email, row.name, row.role, row.organisation_id,
        row.organisations or [], row.active,
    )  # fmt: skip
    return SignedIn(row.id, person, team, min(last_seen + IDLE, row.expires_at), row.timezone)


def end(session: Session, value: str | None, now: datetime, *, everywhere: bool = False) -> None:
    """Sign out this browser, or (`everywhere`) every session of the same person."""
    if not value:
        return
    row = session.exec(select(WebSession).where(WebSession.token_hash == digest(value))).first()
    if row is None:
        return
    which = WebSession.staff_id == row.staff_id if everywhere else WebSession.id == row.id
    session.execute(
        sa.update(WebSession)
        .where(which, WebSession.ended_at.is_(None))
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )
    person = session.get(Staff, row.staff_id)
    action = "web.sign_out_everywhere" if everywhere else "web.sign_out"
    session.add(AuditEntry(at=now, actor=person.email if person else "?", action=action, detail={}))


MAX_DRAFTS = 50  # fields one time-out may keep
MAX_DRAFT = 20_000  # characters in one field, and in a key


class BadDrafts(UserError):
    """A time-out's drafts that are not a small map of field to text."""


def time_out(session: Session, value: str | None, drafts: object, now: datetime) -> bool:
    """End the session a page's time-out warning ran out on, keeping the text typed into
    its forms (`drafts`: field key -> text) for its person to take back after signing in
    again (`take_drafts`), in this browser or another. False if the cookie names no session
    that has not ended.

    The page says so when its own clock runs out, which a sleeping laptop can make late:
    so a session past its idle limit (but not its absolute one) may still leave its text,
    which only its own person can read back.
    """
    if (
        not isinstance(drafts, dict)
        or len(drafts) > MAX_DRAFTS
        or not all(
            isinstance(k, str)
            and isinstance(t, str)
            and len(k) <= MAX_DRAFT
            and len(t) <= MAX_DRAFT
            for k, t in drafts.items()
        )
    ):
        raise BadDrafts(f"drafts are at most {MAX_DRAFTS} fields of text")
    if not value:
        return False
    row = session.exec(
        select(WebSession).where(
            WebSession.token_hash == digest(value), WebSession.ended_at.is_(None)
        )
    ).first()
    if row is None or now >= row.expires_at:
        return False
    kept = {k: t for k, t in drafts.items() if t.strip()}
    drafts_t = WebDraft.__table__
    session.execute(
        sa.delete(drafts_t).where(
            sa.or_(
                drafts_t.c.saved_at < now - ABSOLUTE,
                sa.and_(drafts_t.c.staff_id == row.staff_id, drafts_t.c.key.in_(sorted(kept))),
            )
        )
    )
    for key, text in kept.items():
        session.add(WebDraft(staff_id=row.staff_id, key=key, text=text, saved_at=now))
    row.ended_at = now
    session.add(row)
    person = session.get(Staff, row.staff_id)
    session.add(
        AuditEntry(
            at=now, actor=person.email if person else "?", action="web.time_out",
            detail={"drafts": len(kept)},
        )
    )  # fmt: skip
    return True


def take_drafts(session: Session, staff_id: int, now: datetime) -> dict[str, str]:
    """The text a person's timed-out sessions kept (`time_out`), now given back to a page
    of theirs and so no longer kept here."""
    drafts_t = WebDraft.__table__
    rows = session.execute(
        sa.select(drafts_t.c.id, drafts_t.c.key, drafts_t.c.text).where(
            drafts_t.c.staff_id == staff_id, drafts_t.c.saved_at >= now - ABSOLUTE
        )
    ).all()
    if rows:
        session.execute(sa.delete(drafts_t).where(drafts_t.c.id.in_([r.id for r in rows])))
    return {r.key: r.text for r in rows}


def links_for(settings, emails: list[str], now: datetime) -> list[str]:
    """A sign-in link for each of these people, delivered (the file transport leaves it in
    the outbox) and returned, for `alongside demo` to print: a new user can open the demo
    in a browser with no mail server."""
    from engine.store import session_scope
    from notifications.dispatch import dispatch
    from notifications.render import Links
    from web.app import web_secret

    secret, links = web_secret(settings), []
    for email in emails:
        with session_scope(settings.url) as session:
            outbox_id = request_link(session, email, "alongside demo", now, secret)
            if outbox_id is None:
                raise UserError(f"{email} cannot sign in: no active staff member")
            token = session.get(OutboxMessage, outbox_id).payload["token"]
        dispatch(settings.url, now, settings, only=[outbox_id])
        with session_scope(settings.url) as session:
            forget_token(session, outbox_id)
        links.append(Links(settings.base_url).sign_in(token))
    return links
