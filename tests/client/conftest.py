"""The client tests run against the server tests' real servers (tests/server/servers.py) on the
store tests' databases (tests/store/store_backends.py)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.server.servers import Server, new_token, start_process, stop
from tests.store.store_backends import sqlite_url


def free_port() -> int:
    """A loopback port nothing listens on (just now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcesses:
    """``f0 serve`` processes on one store, token and port: kill one (``.kill()``) and start the next
    where it was, so that clients keep their URL across the restart."""

    def __init__(self, folder: Path) -> None:
        self.store = sqlite_url(folder / "server.db")
        self.token = new_token()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.started: list[Server] = []

    def start(self, *args: str) -> Server:
        # start_process passes --port 0 first: click takes the last --port given
        server = start_process(self.store, self.token, "--port", str(self.port), *args)
        assert server.url == self.url
        self.started.append(server)
        return server

    def close(self) -> None:
        for server in self.started:
            release(server)


def release(server: Server) -> None:
    """Stop a server process and close its stderr pipe once servers.py's drain thread has read it to
    the end (servers.py leaves the pipe open: a ResourceWarning when the Popen is collected)."""
    stop(server)
    process = server.process
    assert process is not None and process.stderr is not None
    for thread in threading.enumerate():
        if getattr(thread, "_args", None) == (process, server.stderr):
            thread.join(10)
    process.stderr.close()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[ServerProcesses]:
    started = ServerProcesses(tmp_path)
    try:
        yield started
    finally:
        started.close()
