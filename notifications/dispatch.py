"""Dispatch: deliver what the outbox holds, reliably, without holding the database.

The outbox row is the source of truth, and every step is a short transaction of its own:

1. **Claim** a batch: rows `queued` (or `sending` with an expired lease: a dispatcher that
   crashed) whose `next_attempt_at` has come, marked `sending` with a lease of `LEASE`.
   On PostgreSQL the claim uses `FOR UPDATE SKIP LOCKED`, so two dispatchers never claim
   the same row; SQLite's single writer (`BEGIN IMMEDIATE`) gives the same guarantee.
2. **Send** outside any transaction, over at most `concurrency` connections.
3. **Mark** each message the moment its outcome is known: `sent` (with `sent_at` and the
   `Message-ID`) right after the server accepts it; a temporary failure stays `queued`
   with exponential backoff; a permanent failure (5xx) becomes `failed` after
   `MAX_ATTEMPTS` attempts, with an audit entry.

So a queued message is never lost (a crash leaves it claimed until the lease runs out,
then it is claimed again); the unique `key` means no cause is ever queued twice; and a
crash between the server accepting a message and its mark repeats only the messages that
were in flight (at most one per connection), each once, with the same `Message-ID` (it is
derived from the row). No claim is worked on past half its lease (see `deliver`), so a
slow run cannot overlap the next dispatcher's claim of the same rows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.core.errors import UserError
from engine.settings import Settings
from engine.store import AuditEntry, OutboxMessage, UTCDateTime, engine_for, session_scope
from notifications.render import InvalidRecipient, OutboxRow, render_outgoing
from notifications.transports import (
    AuthenticationFailure,
    Channel,
    ConnectionFailure,
    DeliveryError,
    transport_for,
)

log = logging.getLogger(__name__)

BATCH_SIZE = 200
LEASE = timedelta(minutes=10)  # a claimed row is claimable again after this: crash recovery
MAX_ATTEMPTS = 3  # permanent failures (5xx) give up after this many attempts
FIRST_BACKOFF = timedelta(minutes=1)
MAX_BACKOFF = timedelta(hours=1)
ERROR_LENGTH = 500

OUTBOX = OutboxMessage.__table__
AUDIT = AuditEntry.__table__
# The hot path's statement, built once: one per message sent.
MARK_SENT = (
    OUTBOX.update()
    .where(OUTBOX.c.id == sa.bindparam("row_id"), OUTBOX.c.status == "sending")
    .values(
        status="sent",
        sent_at=sa.bindparam("at", type_=UTCDateTime),
        message_id=sa.bindparam("mid"),
        attempts=sa.bindparam("tries"),
        next_attempt_at=None,
        last_error=None,
    )
)


def backoff(attempts: int) -> timedelta:
    """Wait after the n-th failed attempt: 1, 2, 4, ... minutes, at most an hour."""
    return min(FIRST_BACKOFF * 2 ** min(max(attempts, 1) - 1, 16), MAX_BACKOFF)


@dataclass
class DispatchResult:
    """Counts only: no recipient, case or content, so it is safe to log and show anywhere."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def summary(self) -> str:
        return f"sent {self.sent}, retrying {self.retrying}, failed {self.failed}"


class _Run:
    """One dispatch: the claimed batches, their outcomes and the marks in the database."""

    def __init__(
        self, url: str, now: datetime, settings: Settings, only: Sequence[int] | None = None
    ) -> None:
        self.now = now
        self.only = only
        self.settings = settings
        self.connection: Connection = engine_for(url).connect()
        self.postgres = self.connection.dialect.name == "postgresql"
        self.result = DispatchResult()
        self.auth_failure: AuthenticationFailure | None = None
        self.last_unreachable: str | None = None

    # --- database: each method is one short transaction -----------------------------

    def claim(self, size: int) -> list[OutboxRow]:
        """Take up to `size` due messages for this run, so no other dispatcher sends them."""
        c = OUTBOX.c
        due = (
            sa.select(c.id)
            .where(c.status.in_(("queued", "sending")), c.next_attempt_at <= self.now)
            .order_by(c.next_attempt_at, c.id)
            .limit(size)
        )
        if self.only is not None:
            due = due.where(c.id.in_(self.only))
        if self.postgres:
            due = due.with_for_update(skip_locked=True)
        with self.connection.begin():
            ids = self.connection.execute(due).scalars().all()
            if not ids:
                return []
            self.connection.execute(
                OUTBOX.update()
                .where(c.id.in_(ids))
                .values(status="sending", next_attempt_at=self.now + LEASE)
            )
            return list(
                self.connection.execute(sa.select(OUTBOX).where(c.id.in_(ids)).order_by(c.id))
            )

    def mark_sent(self, row: OutboxRow, message_id: str) -> None:
        params = {"row_id": row.id, "at": self.now, "mid": message_id, "tries": row.attempts + 1}
        with self.connection.begin():
            self.connection.execute(MARK_SENT, params)
        self.result.sent += 1

    def mark_failed_attempt(
        self, row: OutboxRow, error: str, *, permanent: bool, hopeless: bool = False
    ) -> None:
        """Back to the queue with backoff, or `failed` once a permanent error repeats.

        `hopeless` fails the message at once: nothing about a later attempt could differ
        (the row itself is unusable, e.g. its recipient is not an address).
        """
        attempts = row.attempts + 1
        error = error[:ERROR_LENGTH]
        final = hopeless or (permanent and attempts >= MAX_ATTEMPTS)
        values = (
            {"status": "failed", "next_attempt_at": None}
            if final
            else {"status": "queued", "next_attempt_at": self.now + backoff(attempts)}
        )
        with self.connection.begin():
            self.connection.execute(
                OUTBOX.update()
                .where(OUTBOX.c.id == row.id, OUTBOX.c.status == "sending")
                .values(attempts=attempts, last_error=error, **values)
            )
            if final:
                self.connection.execute(
                    AUDIT.insert().values(
                        at=self.now,
                        actor="engine",
                        case_ref=row.case_ref,
                        action="outbox.failed",
                        detail={"outbox_id": row.id, "kind": row.kind, "attempts": attempts},
                    )
                )
        if final:
            self.result.failed += 1
        else:
            self.result.retrying += 1

    def release(self, rows: list[OutboxRow]) -> None:
        """Hand unattempted rows back as they were: due now, no attempt counted."""
        if not rows:
            return
        with self.connection.begin():
            self.connection.execute(
                OUTBOX.update()
                .where(OUTBOX.c.id.in_([r.id for r in rows]), OUTBOX.c.status == "sending")
                .values(status="queued", next_attempt_at=self.now)
            )

    # --- sending ------------------------------------------------------------------------

    async def deliver(
        self, channel: Channel, queue: asyncio.Queue[OutboxRow], deadline: float
    ) -> bool:
        """Send from the queue over one channel; False once the channel is unusable.

        Takes no new message after `deadline` (half the claim's lease, on the monotonic
        clock), so a slow server can never keep a claim past its lease, when another
        dispatcher could claim and send the same rows.
        """
        while not queue.empty() and self.auth_failure is None and time.monotonic() < deadline:
            row = queue.get_nowait()
            try:
                message = render_outgoing(row, self.settings, self.now)
                await channel.send(message)
            except InvalidRecipient as error:  # kept, never sent: the row says why
                self.mark_failed_attempt(row, str(error), permanent=True, hopeless=True)
                continue
            except DeliveryError as error:
                self.mark_failed_attempt(row, str(error), permanent=error.permanent)
                continue
            except ConnectionFailure as error:
                self.last_unreachable = str(error)
                self.mark_failed_attempt(row, str(error), permanent=False)
                return False
            except AuthenticationFailure as error:
                self.auth_failure = error
                self.release([row])
                return False
            except Exception as error:  # a bug rendering or sending this one message
                log.exception("outbox message %s could not be prepared or sent", row.id)
                self.mark_failed_attempt(row, f"{type(error).__name__}: {error}", permanent=True)
                continue
            self.mark_sent(row, message.message_id)
        return True

    async def send_batch(
        self, rows: list[OutboxRow], channels: list[Channel]
    ) -> tuple[list[Channel], bool]:
        """Send one claimed batch: (the channels still usable, whether all rows were tried)."""
        queue: asyncio.Queue[OutboxRow] = asyncio.Queue()
        for row in rows:
            queue.put_nowait(row)
        working = channels[: len(rows)]
        deadline = time.monotonic() + LEASE.total_seconds() / 2
        alive = await asyncio.gather(*(self.deliver(ch, queue, deadline) for ch in working))
        leftover = [queue.get_nowait() for _ in range(queue.qsize())]
        if leftover and not any(alive) and self.auth_failure is None:
            # Every connection failed: the rest of the batch waits for the server too.
            for row in leftover:
                self.mark_failed_attempt(
                    row, self.last_unreachable or "no connection", permanent=False
                )
            leftover = []
        self.release(leftover)  # out of time, or refused login: back as they were
        usable = [ch for ch, ok in zip(working, alive, strict=True) if ok]
        return usable + channels[len(rows) :], not leftover


async def dispatch_async(
    url: str,
    now: datetime,
    settings: Settings,
    *,
    limit: int | None = None,
    only: Sequence[int] | None = None,
) -> DispatchResult:
    """Deliver queued messages due at `now` (at most `limit`; with `only`, just those ids,
    for a message that cannot wait for the sweep); see the module docstring."""
    transport = transport_for(settings)
    channels: list[Channel] = [transport.channel() for _ in range(transport.concurrency)]
    everything = list(channels)
    run = _Run(url, now, settings, only)
    try:
        remaining = limit
        while channels and (remaining is None or remaining > 0):
            rows = run.claim(BATCH_SIZE if remaining is None else min(BATCH_SIZE, remaining))
            if not rows:
                break
            if remaining is not None:
                remaining -= len(rows)
            channels, finished = await run.send_batch(rows, channels)
            if run.auth_failure is not None:
                raise UserError(str(run.auth_failure))
            if not finished:  # the rest is due now; the next dispatch takes it
                break
    finally:
        await asyncio.gather(*(ch.close() for ch in everything), return_exceptions=True)
        run.connection.close()
    return run.result


def requeue(url: str, outbox_id: int, now: datetime, *, actor: str) -> None:
    """`outbox retry`: a failed message back in the queue, due now, attempts reset.

    The message keeps its id and key, so it keeps its Message-ID too.
    """
    with session_scope(url) as session:
        row = session.get(OutboxMessage, outbox_id)
        if row is None:
            raise UserError(f"no outbox message with id {outbox_id}")
        if row.status != "failed":
            raise UserError(
                f"outbox message {outbox_id} is {row.status}, not failed: "
                "only failed messages can be retried"
            )
        previous = row.attempts
        row.status, row.attempts, row.next_attempt_at = "queued", 0, now
        session.add(row)
        session.add(
            AuditEntry(
                at=now,
                actor=actor,
                case_ref=row.case_ref,
                action="outbox.retry",
                detail={"outbox_id": outbox_id, "kind": row.kind, "previous_attempts": previous},
            )
        )


def dispatch(
    url: str,
    now: datetime,
    settings: Settings,
    *,
    limit: int | None = None,
    only: Sequence[int] | None = None,
) -> DispatchResult:
    """Synchronous dispatch for the CLI and Prefect tasks.

    Runs its own event loop; called from inside a running loop it uses a worker thread,
    because a loop cannot be nested.
    """
    work = dispatch_async(url, now, settings, limit=limit, only=only)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, work).result()
