"""Real context servers for the tests: uvicorn on a loopback port, in a thread or in a process of
its own (``f0 serve``, which a test can kill -9)."""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from framework0.server.serve import bind, uvicorn_server
from framework0.server.settings import Settings

READY = re.compile(r"serving on (http://\S+)")


@dataclass
class Server:
    """A running server: its URL and token, and (for a process) the process."""

    url: str
    token: str
    process: subprocess.Popen[str] | None = None
    app_state: Any = None
    stderr: list[str] = field(default_factory=list)
    drain: threading.Thread | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "/api/v1/ws"

    def client(self, **options: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=30, **options)

    def kill(self) -> None:
        """kill -9 the server process."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.release()

    def release(self) -> None:
        """Close the pipe of a process that ended (after its last line was read)."""
        if self.drain is not None:
            self.drain.join(timeout=10)
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()


def new_token() -> str:
    return secrets.token_urlsafe(32)


@contextmanager
def server_thread(store_url: str, **settings: Any) -> Iterator[Server]:
    """A uvicorn server in a thread of this process, on a free loopback port."""
    token = settings.pop("token", None) or new_token()
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    config = Settings(token=token, store_url=store_url, port=port, **settings)
    server: Any = uvicorn_server(config, sock=sock)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    handle = Server(f"http://127.0.0.1:{port}", token)
    handle.app_state = server.config.app.app.state  # Guard -> FastAPI
    try:
        yield handle
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def start_process(store_url: str, token: str, *args: str, cwd: Path | None = None) -> Server:
    """``f0 serve --port 0`` in a process of its own; returns once it serves."""
    env = {**os.environ, "F0_TOKEN": token}
    process = subprocess.Popen(
        [sys.executable, "-m", "framework0", "serve", "--port", "0", "--store", store_url, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
    )
    assert process.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        lines.append(line)
        found = READY.search(line)
        if found:
            server = Server(found.group(1), token, process=process, stderr=lines)
            server.drain = threading.Thread(target=_drain, args=(process, lines), daemon=True)
            server.drain.start()
            return server
    process.kill()
    process.wait(timeout=10)
    process.stderr.close()
    raise RuntimeError("f0 serve did not start:\n" + "".join(lines))


def _drain(process: subprocess.Popen[str], lines: list[str]) -> None:
    assert process.stderr is not None
    for line in process.stderr:
        lines.append(line)


@contextmanager
def server_process(store_url: str, *args: str, token: str | None = None, cwd: Path | None = None) -> Iterator[Server]:
    server = start_process(store_url, token or new_token(), *args, cwd=cwd)
    try:
        yield server
    finally:
        stop(server)


def stop(server: Server) -> None:
    process = server.process
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    server.release()
