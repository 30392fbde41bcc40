"""`alongside serve`: the web app (FastAPI) on uvicorn, for the home's installation.

One process; in production run several workers behind a reverse proxy with uvicorn's own
command (`uvicorn --factory web.server:app_from_environment --workers 4`, see
docs/operations.md), which reads the same settings from the environment.
"""

from __future__ import annotations

from typing import Annotated

import typer

from alongside.context import current


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8000,
) -> None:
    """Serve the web app: My work, cases, team and programme pages, signed in by email link.

    Emails link to ALONGSIDE_BASE_URL: set it to the address people open (https:// behind
    a reverse proxy; cookies are Secure unless it is plain HTTP on this machine).
    """
    import uvicorn

    from web.app import create_app

    settings = current(ctx).settings
    app = create_app(settings)
    typer.echo(f"alongside serve: http://{host}:{port}/ (links in emails: {settings.base_url})")
    if settings.transport == "file":
        typer.echo(f"  sign-in links arrive as .eml files in {settings.outbox_dir}/")
    uvicorn.run(
        app,
        host=host,
        port=port,
        access_log=False,  # web.app logs each request by path only
        proxy_headers=True,
        server_header=False,
        log_level="info",
    )
