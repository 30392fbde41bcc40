"""`alongside serve --workers N`: several uvicorn processes on one socket, one web secret.

Run for real (a subprocess on a free port), because what can go wrong is between the
processes: the workers must find the home the command was given, and must all sign CSRF
tokens with the same secret, or a form shown by one is refused by another.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx

from notifications.testing import free_port
from tests.web.conftest import CSRF


def test_two_workers_serve_the_home_given_with_one_secret(staffed, home, tmp_path) -> None:
    port = free_port()
    env = {**os.environ, "ALONGSIDE_HOME": str(tmp_path / "elsewhere")}  # --home wins
    server = subprocess.Popen(
        [sys.executable, "-m", "alongside", "--home", str(home), "serve", "--port", str(port),
         "--workers", "2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(f"{base}/sign-in", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read().decode()[-2000:]
                time.sleep(0.1)
        # Each form posted on a connection of its own: over two workers, some are answered
        # by the worker that did not show the form, which must accept its token.
        for n in range(10):
            form = httpx.get(f"{base}/sign-in")
            token = CSRF.search(form.text).group(1)
            answer = httpx.post(
                f"{base}/sign-in",
                cookies=form.cookies,
                data={"csrftoken": token, "email": f"x{n}@y.org"},
            )
            assert answer.status_code == 200, (n, answer.text[:300])
            assert "Check your email" in answer.text
        assert (home / "web-secret").exists()
        assert not (tmp_path / "elsewhere").exists()
    finally:
        server.terminate()
        server.wait(30)


def _accepted_nodelay(protocol_class: type) -> int:
    """TCP_NODELAY on a connection accepted from a socket bound as uvicorn binds one for
    its workers (protocol 0), served with `protocol_class`."""
    import asyncio
    import concurrent.futures
    import socket

    from uvicorn.config import Config
    from uvicorn.server import ServerState

    config = Config(app=lambda scope, receive, send: None)
    config.load()
    listening = socket.socket(family=socket.AF_INET)  # as uvicorn's Config.bind_socket
    listening.bind(("127.0.0.1", 0))
    made: list = []

    def protocol():
        made.append(protocol_class(config=config, server_state=ServerState(), app_state={}))
        return made[-1]

    async def connect() -> int:
        server = await asyncio.get_running_loop().create_server(protocol, sock=listening)
        _reader, writer = await asyncio.open_connection(*listening.getsockname())
        for _ in range(100):
            if made and getattr(made[0], "transport", None) is not None:
                break
            await asyncio.sleep(0.01)
        accepted = made[0].transport.get_extra_info("socket")
        value = accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        writer.close()
        server.close()
        return value

    # A loop of its own, in a thread of its own: Playwright's sync API (the browser tests,
    # earlier in the same process) leaves a loop running in this thread.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, connect()).result()


def test_the_workers_protocol_turns_nagle_off_where_uvicorns_own_does_not() -> None:
    """Without it every response on a worker waited ~40 ms for the client's delayed ACK."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    from web.server import NoDelayH11

    assert _accepted_nodelay(H11Protocol) == 0  # the fault, as uvicorn has it
    assert _accepted_nodelay(NoDelayH11) != 0


def test_a_worker_parses_its_journeys_before_it_serves(tmp_path, monkeypatch) -> None:
    """Each worker parses the installation's journeys as it is made (tens of milliseconds
    each), not on the first page that needs one; a broken file does not stop it."""
    import shutil

    import engine.catalog
    from engine.settings import SHIPPED_JOURNEYS, Settings
    from web.app import create_app

    journeys = tmp_path / "journeys"  # paths of its own: nothing parsed yet in this process
    shutil.copytree(SHIPPED_JOURNEYS, journeys)
    (journeys / "broken.yaml").write_text("journey: [\n")
    settings = Settings(home=tmp_path / "home", journeys_dir=journeys)
    create_app(settings)

    def parsed_on_request(path):
        raise AssertionError(f"{path} parsed after the worker started")

    monkeypatch.setattr(engine.catalog, "load_journey", parsed_on_request)
    for path in journeys.glob("adult-*.yaml"):
        assert settings.catalog.resolve(path.stem).journey == path.stem
