"""A real SMTP server on loopback for tests and benchmarks: aiosmtpd, recording and faulty.

Not a mock: messages travel over TCP through aiosmtplib and aiosmtpd exactly as they
would to a production relay. The handler can be told to misbehave (temporary or permanent
replies, refused recipients, dropped connections) to test dispatch's guarantees.
aiosmtpd is a development dependency, so it is imported only when a server starts.
"""

from __future__ import annotations

import socket
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

DROP = "drop"  # a scripted DATA fault: close the connection without replying


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Recorder:
    """An aiosmtpd handler that keeps what it accepts and can be scripted to fail.

    `faults` is consumed one entry per DATA command: None accepts, an SMTP reply such as
    "451 4.3.0 Try later" refuses, `DROP` closes the connection. `refuse` maps recipient
    addresses to the reply their RCPT gets. `parse=False` keeps only counts (benchmarks).
    """

    def __init__(self, *, parse: bool = True) -> None:
        self.parse = parse
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.accepted = 0
        self.peers: set[Any] = set()
        self.faults: deque[str | None] = deque()
        self.refuse: dict[str, str] = {}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.peers.add(session.peer)
        fault = self.faults.popleft() if self.faults else None
        if fault == DROP:
            server.transport.abort()
            return "250 OK"  # never reaches the client: the connection is gone
        if fault:
            return fault
        self.accepted += 1
        if self.parse:
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            content = envelope.original_content or envelope.content
            self.messages.append(message_from_bytes(content, policy=default_policy))
        return "250 OK"

    def message_ids(self) -> Counter[str]:
        """How many times each Message-ID arrived: every value should be 1."""
        return Counter(str(m["Message-ID"]) for m in self.messages)


@contextmanager
def smtp_server(handler: Any, port: int | None = None, **smtp_options: Any) -> Iterator[int]:
    """Run aiosmtpd on 127.0.0.1 (a free port unless given) for the block; yields the port."""
    from aiosmtpd.controller import Controller

    port = port or free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **smtp_options)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()
