"""What uvicorn's worker processes load (`alongside serve --workers N`, and uvicorn's own
command in production): the app factory, and the HTTP protocol to serve it with."""

from __future__ import annotations

import socket
from typing import Any

from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from engine.settings import Settings
from web.app import create_app

PROTOCOL = "web.server:NoDelayH11"  # uvicorn's `--http` for it


def app_from_environment() -> FastAPI:
    """The app for the home ALONGSIDE_HOME names, as `alongside serve` set it."""
    return create_app(Settings())


class NoDelayH11(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, with TCP_NODELAY on every connection.

    With `--workers`, uvicorn binds the listening socket itself with protocol 0, and
    asyncio turns Nagle's algorithm off only on sockets whose protocol says TCP: each
    response (headers and body are written separately) then waited for the browser's
    delayed ACK, about 40 ms (measured: a fixed page in 3.6 ms on one worker, 44 ms on
    two). One process alone is served from a socket asyncio made, which has it already.
    """

    def connection_made(self, transport: Any) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
