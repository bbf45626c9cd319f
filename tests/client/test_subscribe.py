"""``Subscription`` and ``RunSubscription`` against real context servers: every version once and in
order, across a subscriber killed -9, a server killed -9 and restarted, a slow subscriber dropped by
the server; the errors that end a subscription; pings; close."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.client.conftest import ServerProcesses
from tests.server.servers import Server, server_thread
from tests.store.store_backends import sqlite_url

from framework0.client import ContextClient, RunSubscription, Subscription
from framework0.context.changes import Change, ChangeSource
from framework0.errors import HistoryGone, ServerError, UsageError
from framework0.events.types import ContextChanged, RunStarted
from framework0.events.wire import to_wire


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with server_thread(sqlite_url(tmp_path / "server.db")) as running:
        yield running


@pytest.fixture
def client(server: Server) -> Iterator[ContextClient]:
    with ContextClient(server.url, server.token, retry_for=5) as client:
        yield client


def collect(subscription: Subscription, count: int, timeout: float = 30) -> list[int]:
    """The versions of the next ``count`` changes ``subscription`` delivers (fails after ``timeout``)."""
    deadline = time.monotonic() + timeout
    versions: list[int] = []
    while len(versions) < count:
        change = subscription.get(timeout=max(0.0, deadline - time.monotonic()))
        assert change is not None, f"only {len(versions)} of {count} changes in {timeout} s: {versions[-5:]}"
        versions.append(change["version"])
    return versions


def write(client: ContextClient, name: str, count: int) -> None:
    for _ in range(count):
        client.change(name, increment={"n": 1})


def write_big(client: ContextClient, name: str, count: int) -> None:
    """Changes too big (and random: no compression helps) for socket buffers to absorb 400 of."""
    for _ in range(count):
        client.change(name, increment={"n": 1}, set={"pad": os.urandom(8192).hex()})


# -- every version, once, in order --------------------------------------------------------------------


def test_a_subscription_sees_every_version_in_order_while_another_thread_writes_500_changes(
    server: Server, client: ContextClient
) -> None:
    with Subscription(server.url, "c", token=server.token, since=0) as subscription:
        writer = threading.Thread(target=write, args=(client, "c", 500))
        writer.start()
        versions = collect(subscription, 500)
        writer.join(30)

    assert versions == list(range(1, 501))


def test_since_0_first_delivers_the_changes_made_before_the_subscription(server: Server, client: ContextClient) -> None:
    write(client, "c", 20)

    with Subscription(server.url, "c", token=server.token, since=0) as subscription:
        assert collect(subscription, 20) == list(range(1, 21))


def test_without_since_only_the_changes_from_now_on_are_delivered(server: Server, client: ContextClient) -> None:
    write(client, "c", 3)

    with Subscription(server.url, "c", token=server.token) as subscription:
        assert subscription.wait_subscribed(10)
        assert subscription.version == 3
        client.put("c", "a", "x")

        assert collect(subscription, 1) == [4]


def test_each_change_carries_its_time_source_and_each_keys_old_and_new_value(
    server: Server, client: ContextClient
) -> None:
    client.put("c", "a", 1)

    with Subscription(server.url, "c", token=server.token, since=1) as subscription:
        client.change("c", set={"a": 2, "b": "new"}, source={"node": "n1", "step": "s", "attempt": 1})
        change = subscription.get(timeout=10)

    assert change is not None
    assert change["version"] == 2 and isinstance(change["at"], float)
    assert change["source"] == {"node": "n1", "step": "s", "attempt": 1}
    assert change["changes"] == [
        {"key": "a", "op": "set", "old": 1, "new": 2},
        {"key": "b", "op": "set", "old": None, "new": "new"},
    ]


def test_on_change_is_called_with_each_change_in_order_before_wait_for_version_returns(
    server: Server, client: ContextClient
) -> None:
    seen: list[int] = []

    with Subscription(server.url, "c", token=server.token, since=0, on_change=lambda c: seen.append(c["version"])) as s:
        write(client, "c", 50)

        assert s.wait_for_version(50, timeout=10)
        assert seen == list(range(1, 51))
        with pytest.raises(UsageError, match="was given a callback: its items go there, not to get"):
            s.get(timeout=0)


def test_wait_for_version_returns_false_after_its_timeout(server: Server) -> None:
    with Subscription(server.url, "c", token=server.token, since=0) as subscription:
        started = time.monotonic()
        assert not subscription.wait_for_version(1, timeout=0.2)
        assert time.monotonic() - started >= 0.2


# -- reconnecting --------------------------------------------------------------------------------------

SUBSCRIBER = """\
import sys
from framework0.client import Subscription

url, token, since = sys.argv[1], sys.argv[2], int(sys.argv[3])
with Subscription(url, "c", token=token, since=since) as subscription:
    subscription.wait_subscribed(30)
    print("subscribed", flush=True)
    for change in subscription:
        print(change["version"], flush=True)
"""


class Subscriber:
    """A subscriber in a process of its own that prints each version it receives."""

    def __init__(self, server: Server, since: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", SUBSCRIBER, server.url, server.token, str(since)],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.versions: list[int] = []

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def next_line(self, deadline: float) -> str | None:
        line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
        if line is not None and line != "subscribed":
            self.versions.append(int(line))
        return line

    def wait_until_subscribed(self, timeout: float = 30) -> None:
        assert self.next_line(time.monotonic() + timeout) == "subscribed"

    def read_until(self, version: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not self.versions or self.versions[-1] < version:
            assert self.next_line(deadline) is not None, "the subscriber ended early"

    def kill(self) -> None:
        """kill -9, then read what it printed before it died."""
        self.process.kill()
        self.process.wait(10)
        deadline = time.monotonic() + 10
        while self.next_line(deadline) is not None:
            pass
        self.reader.join(10)
        assert self.process.stdout is not None
        self.process.stdout.close()


def test_a_subscriber_killed_mid_stream_and_restarted_from_its_last_version_misses_nothing_and_repeats_nothing(
    server: Server, client: ContextClient
) -> None:
    total = 300
    first = Subscriber(server, since=0)
    second = None
    try:
        first.wait_until_subscribed()
        writer = threading.Thread(target=write, args=(client, "c", total))
        writer.start()
        first.read_until(20)
        first.kill()
        second = Subscriber(server, since=first.versions[-1])
        second.read_until(total)
        writer.join(30)
    finally:
        for subscriber in (first, second):
            if subscriber is not None and subscriber.process.poll() is None:
                subscriber.kill()

    assert first.versions + second.versions == list(range(1, total + 1))


def test_a_live_subscription_reconnects_after_the_server_is_killed_and_restarted_and_misses_nothing(
    processes: ServerProcesses,
) -> None:
    first = processes.start()
    with (
        ContextClient(processes.url, processes.token) as client,
        Subscription(processes.url, "c", token=processes.token, since=0) as subscription,
    ):
        write(client, "c", 50)
        assert collect(subscription, 50) == list(range(1, 51))
        first.kill()
        processes.start()
        write(client, "c", 50)

        assert collect(subscription, 50) == list(range(51, 101))
        assert subscription.connections == 2


def test_a_subscriber_the_server_drops_as_too_slow_reconnects_and_misses_nothing(tmp_path: Path) -> None:
    with server_thread(sqlite_url(tmp_path / "server.db"), queue_limit=5) as server:
        with ContextClient(server.url, server.token) as client:
            client.create("c", {"n": "counter"})
            release = threading.Event()

            def stall(change: dict[str, Any]) -> None:
                release.wait(10)

            with Subscription(server.url, "c", token=server.token, since=0, on_change=stall) as subscription:
                assert subscription.wait_subscribed(10)
                writers = [threading.Thread(target=write_big, args=(client, "c", 50)) for _ in range(8)]
                for writer in writers:
                    writer.start()
                for writer in writers:
                    writer.join(30)
                release.set()

                assert subscription.wait_for_version(400, timeout=30)
                assert subscription.connections > 1


def test_a_live_subscriber_outlives_the_servers_idle_deadline_by_pinging(tmp_path: Path) -> None:
    with server_thread(sqlite_url(tmp_path / "server.db"), idle_s=0.5) as server:
        with Subscription(server.url, "c", token=server.token, since=0, ping_interval=0.1) as subscription:
            assert subscription.wait_subscribed(10)
            time.sleep(1.5)  # three idle deadlines
            with ContextClient(server.url, server.token) as client:
                client.put("c", "a", 1)

            assert collect(subscription, 1) == [1]
            assert subscription.connections == 1


def test_without_reconnect_a_lost_connection_stops_the_subscription_with_a_server_error(tmp_path: Path) -> None:
    with server_thread(sqlite_url(tmp_path / "server.db")) as server:
        subscription = Subscription(server.url, "c", token=server.token, since=0, reconnect=False)
        assert subscription.wait_subscribed(10)
    try:
        with pytest.raises(ServerError, match=f"^lost the WebSocket to the context server at {server.url}: "):
            subscription.get(timeout=10)
        assert subscription.closed
    finally:
        subscription.close()


# -- errors that end a subscription --------------------------------------------------------------------


def test_subscribing_from_a_version_the_server_no_longer_holds_raises_history_gone(processes: ServerProcesses) -> None:
    processes.start("--keep-history", "10")
    with ContextClient(processes.url, processes.token) as client:
        write(client, "c", 300)

    with Subscription(processes.url, "c", token=processes.token, since=1) as subscription:
        with pytest.raises(HistoryGone) as caught:
            subscription.get(timeout=10)

    assert caught.value.oldest is not None and caught.value.oldest > 1
    assert f"history before version {caught.value.oldest} is no longer held (asked from 1)" in str(caught.value)
    assert subscription.error is caught.value
    assert subscription.connections == 0


def test_subscribing_from_a_version_that_does_not_exist_yet_is_refused(server: Server, client: ContextClient) -> None:
    client.put("c", "a", 1)

    with Subscription(server.url, "c", token=server.token, since=5) as subscription:
        with pytest.raises(ServerError) as caught:
            subscription.wait_for_version(6, timeout=10)

    assert str(caught.value) == (
        f"the context server at {server.url} refused the subscription: "
        "subscribe: context 'c' is at version 1; 'since' 5 does not exist yet"
    )


def test_a_refused_token_stops_the_subscription_with_an_actionable_401(server: Server) -> None:
    with Subscription(server.url, "c", token="wrong-token-wrong-token", since=0) as subscription:
        with pytest.raises(ServerError) as caught:
            subscription.wait_subscribed(10)

    assert caught.value.status == 401
    assert str(caught.value).startswith(f"the context server at {server.url} refused the token: set F0_TOKEN")


def test_a_refused_origin_stops_the_subscription_with_a_403_that_says_how_to_allow_it(server: Server) -> None:
    with Subscription(server.url, "c", token=server.token, origin="https://evil.example") as subscription:
        with pytest.raises(ServerError) as caught:
            subscription.wait_subscribed(10)

    assert caught.value.status == 403
    assert "refused a WebSocket from origin 'https://evil.example': start it with --allow-origin" in str(caught.value)


# -- closing -------------------------------------------------------------------------------------------


def test_close_stops_the_background_thread_promptly_and_ends_iteration(server: Server) -> None:
    subscription = Subscription(server.url, "c", token=server.token, since=0)
    assert subscription.wait_subscribed(10)
    ended = threading.Event()

    def iterate() -> None:
        for _ in subscription:
            pass
        ended.set()

    threading.Thread(target=iterate, daemon=True).start()
    started = time.monotonic()
    subscription.close()

    assert time.monotonic() - started < 2
    assert ended.wait(2)
    assert not subscription._thread.is_alive()
    assert subscription.get(timeout=0) is None and subscription.error is None


def test_close_while_the_server_is_unreachable_returns_promptly(tmp_path: Path) -> None:
    with server_thread(sqlite_url(tmp_path / "server.db")) as server:
        url, token = server.url, server.token
    subscription = Subscription(url, "c", token=token, since=0)  # retrying a port nobody listens on

    started = time.monotonic()
    subscription.close()

    assert time.monotonic() - started < 2
    assert not subscription._thread.is_alive()


# -- runs ----------------------------------------------------------------------------------------------


def run_started(run_id: str) -> dict[str, Any]:
    return to_wire(RunStarted(run_id, "T-1", "r.yaml", ("a",), {}, time.time()))


def test_a_run_subscription_delivers_the_events_a_runner_posts_for_that_run_only(
    server: Server, client: ContextClient
) -> None:
    with RunSubscription(server.url, "subs0001", token=server.token) as subscription:
        assert subscription.wait_subscribed(10)
        client.post_events("subs0002", [run_started("subs0002")])
        client.post_events("subs0001", [run_started("subs0001")])

        event = subscription.get(timeout=10)

    assert event is not None and (event["type"], event["run_id"]) == ("run_started", "subs0001")


def test_a_run_subscription_to_every_run_delivers_each_runs_events(server: Server, client: ContextClient) -> None:
    with RunSubscription(server.url, token=server.token) as subscription:
        assert subscription.wait_subscribed(10)
        client.post_events("subs0003", [run_started("subs0003")])
        client.post_events("subs0004", [run_started("subs0004")])

        events = [subscription.get(timeout=10), subscription.get(timeout=10)]

    assert [event and event["run_id"] for event in events] == ["subs0003", "subs0004"]


def test_a_run_subscription_delivers_the_runs_own_context_changes(server: Server, client: ContextClient) -> None:
    change = Change(version=1, key="k", op="set", old=None, new=1, at=time.time(), source=ChangeSource(node="n"))

    with RunSubscription(server.url, "subs0005", token=server.token) as subscription:
        assert subscription.wait_subscribed(10)
        client.post_events("subs0005", [run_started("subs0005"), to_wire(ContextChanged("subs0005", (change,)))])

        events = [subscription.get(timeout=5), subscription.get(timeout=2)]

    assert [event and event["type"] for event in events] == ["run_started", "context_changed"]
