"""`alongside serve`: the web app (FastAPI) on uvicorn, for the home's installation.

One process by default; `--workers N` runs N uvicorn worker processes on one socket, so
pages are rendered on several cores at once (one Python process renders one at a time).
Each worker makes the app from the environment (`web.server:app_from_environment`), as
uvicorn's own command does in production behind a reverse proxy (docs/operations.md).
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from alongside.context import current


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8000,
    workers: Annotated[
        int,
        typer.Option("--workers", min=1, max=64, help="Worker processes; about one per core."),
    ] = 1,
) -> None:
    """Serve the web app: My work, cases, team and programme pages, signed in by email link.

    Emails link to ALONGSIDE_BASE_URL: set it to the address people open (https:// behind
    a reverse proxy; cookies are Secure unless it is plain HTTP on this machine).
    """
    import uvicorn

    from web.app import create_app, web_secret
    from web.server import PROTOCOL

    settings = current(ctx).settings
    options = {
        "host": host,
        "port": port,
        "access_log": False,  # web.app logs each request by path only
        "proxy_headers": True,
        "server_header": False,
        "log_level": "info",
    }
    typer.echo(f"alongside serve: http://{host}:{port}/ (links in emails: {settings.base_url})")
    if settings.transport == "file":
        typer.echo(f"  sign-in links arrive as .eml files in {settings.outbox_dir}/")
    if workers == 1:
        uvicorn.run(create_app(settings), **options)
        return
    # The workers are new processes that read their settings from the environment: the
    # home this command was given, and the web secret made once here, not by each worker
    # at the same moment (two different secrets would refuse each other's forms).
    web_secret(settings)
    os.environ["ALONGSIDE_HOME"] = str(settings.home)
    uvicorn.run(
        "web.server:app_from_environment",
        factory=True,
        workers=workers,
        http=PROTOCOL,  # TCP_NODELAY, which uvicorn's own socket for workers lacks
        **options,
    )
