"""Transports: where a rendered message goes. `file` (the default) or `smtp`.

A transport hands out *channels*; dispatch runs one worker per channel, so a transport's
`concurrency` bounds how many messages are in flight at once (for SMTP: how many
connections are open). Channels raise three kinds of failure, because dispatch treats
them differently:

- `DeliveryError`: this message was not accepted (a 4xx or 5xx reply, a dropped
  connection); `permanent` says whether trying again can help.
- `ConnectionFailure`: no message could be attempted (server down, refused greeting, TLS
  failure); the channel is useless for the rest of this dispatch.
- `AuthenticationFailure`: the server refused our credentials: a configuration mistake
  that retrying will not fix, so dispatch stops and tells the person who ran it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from engine.files import open_private, private_dir
from engine.settings import Settings
from notifications.render import Outgoing


class DeliveryError(Exception):
    """The message was not delivered; `permanent` when retrying cannot help (5xx)."""

    def __init__(self, reason: str, *, permanent: bool, code: int | None = None) -> None:
        super().__init__(reason)
        self.permanent = permanent
        self.code = code


class ConnectionFailure(Exception):
    """No connection to the mail server: the message was not attempted."""


class AuthenticationFailure(Exception):
    """The mail server refused the configured credentials."""


class Channel(Protocol):
    async def send(self, message: Outgoing) -> None:
        """Deliver one message or raise one of this module's failures."""
        ...

    async def close(self) -> None: ...


class Transport(Protocol):
    concurrency: int

    def channel(self) -> Channel: ...


# --- file -------------------------------------------------------------------------------


class FileTransport:
    """One RFC 5322 `.eml` file per message under `directory`, named by outbox id.

    Written to a temporary file, flushed to disk, then renamed into place: a crash leaves
    either no file or the whole file, never half of one. A resend after a crash rewrites
    the same file name with the same Message-ID, so it never shows up twice.
    """

    concurrency = 1

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def channel(self) -> FileTransport:
        return self

    def path_for(self, outbox_id: int) -> Path:
        return self.directory / f"{outbox_id:08d}.eml"

    async def send(self, message: Outgoing) -> None:
        target = self.path_for(message.outbox_id)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            private_dir(self.directory)
            # 0600 from the first byte: a message names cases and staff (engine.files).
            with os.fdopen(open_private(temporary), "wb") as handle:
                handle.write(message.data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except OSError as error:  # disk full, permissions: may well clear up later
            temporary.unlink(missing_ok=True)
            raise DeliveryError(
                f"cannot write {target}: {error.strerror}", permanent=False
            ) from error

    async def close(self) -> None:
        return None


# --- SMTP -------------------------------------------------------------------------------


def _failure(error: Exception) -> DeliveryError:
    """Classify an aiosmtplib error on one message: 4xx and lost connections are temporary."""
    import aiosmtplib

    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        first = error.recipients[0]
        return DeliveryError(
            f"{first.code} {first.message}", permanent=first.code >= 500, code=first.code
        )
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return DeliveryError(
            f"{error.code} {error.message}", permanent=error.code >= 500, code=error.code
        )
    if isinstance(error, aiosmtplib.SMTPNotSupported | ValueError):
        # e.g. a non-ASCII address the server cannot take, or an unparsable address.
        return DeliveryError(f"{type(error).__name__}: {error}", permanent=True)
    return DeliveryError(f"{type(error).__name__}: {error}", permanent=False)


class SmtpChannel:
    """One SMTP connection, opened on first use and reused for every later message.

    If the server drops a connection that has already carried messages (idle timeouts,
    a restart between batches), the channel reconnects and sends the message once more.
    A server that accepted a message and dropped the connection before replying would then
    get it twice, with the same Message-ID; every other path sends it at most once.
    """

    def __init__(self, settings: Settings) -> None:
        import aiosmtplib

        self.settings = settings
        self.client = aiosmtplib.SMTP(
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            use_tls=settings.smtp_tls == "tls",
            start_tls=settings.smtp_tls == "starttls",
            username=settings.smtp_username or None,
            password=settings.smtp_password or None,
            timeout=settings.smtp_timeout,
        )

    async def _connect(self) -> None:
        import aiosmtplib

        try:
            await self.client.connect()
        except aiosmtplib.SMTPAuthenticationError as error:
            raise AuthenticationFailure(
                f"the mail server {self.settings.smtp_host}:{self.settings.smtp_port} refused "
                f"the login for {self.settings.smtp_username!r}: {error.code} {error.message}"
            ) from error
        except (aiosmtplib.SMTPException, OSError) as error:
            raise ConnectionFailure(
                f"cannot connect to {self.settings.smtp_host}:{self.settings.smtp_port}: {error}"
            ) from error

    async def _send_once(self, message: Outgoing) -> None:
        await self.client.sendmail(message.sender, [message.recipient], message.data)

    async def send(self, message: Outgoing) -> None:
        import aiosmtplib

        reused = self.client.is_connected
        if not reused:
            await self._connect()
        try:
            await self._send_once(message)
            return
        except aiosmtplib.SMTPServerDisconnected as error:
            if not reused:
                raise _failure(error) from error
        except (aiosmtplib.SMTPException, OSError, ValueError) as error:
            raise _failure(error) from error
        # The reused connection had gone stale: one fresh connection, one more try.
        await self._connect()
        try:
            await self._send_once(message)
        except (aiosmtplib.SMTPException, OSError, ValueError) as error:
            raise _failure(error) from error

    async def close(self) -> None:
        import aiosmtplib

        if not self.client.is_connected:
            return
        try:
            await self.client.quit()
        except (aiosmtplib.SMTPException, OSError):
            self.client.close()


class SmtpTransport:
    """SMTP via aiosmtplib: at most `smtp_concurrency` connections, each reused."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.concurrency = max(1, settings.smtp_concurrency)

    def channel(self) -> SmtpChannel:
        return SmtpChannel(self.settings)


def transport_for(settings: Settings) -> Transport:
    """The transport the settings name: `file` (the default) or `smtp`."""
    if settings.transport == "smtp":
        return SmtpTransport(settings)
    return FileTransport(settings.outbox_dir)
