"""``f0 serve``: the context server and the dashboard."""

from __future__ import annotations

import sys

import click

from framework0.cli.options import debug_option, store_option


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on (loopback by default).")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="0: any free port.")
@click.option(
    "--allow-origin",
    "origins",
    multiple=True,
    metavar="ORIGIN",
    help="A browser origin (https://host:port) allowed to open WebSockets; repeatable. Default: this server's own.",
)
@click.option(
    "--keep-history",
    type=click.IntRange(min=1),
    metavar="N",
    help="Keep the last N versions of each context's history (default: all).",
)
@click.option("--token-file", type=click.Path(dir_okay=False), help="Where the bearer token is kept (F0_TOKEN wins).")
@click.option(
    "--max-connections-per-client",
    "per_client",
    type=click.IntRange(min=0),
    default=256,
    show_default=True,
    metavar="N",
    help="Connections one client address may hold open (an IPv6 /64 counts as one); 0: no cap. "
    "Raise it behind a reverse proxy: all its clients come from its one address.",
)
@click.option(
    "--metrics-public",
    is_flag=True,
    help="Serve /metrics (Prometheus) without the token, for a scraper on a trusted network.",
)
@store_option
@debug_option
def serve(
    host: str,
    port: int,
    origins: tuple[str, ...],
    keep_history: int | None,
    token_file: str | None,
    per_client: int,
    metrics_public: bool,
    store: str | None,
    debug: bool,
) -> None:
    """Serve named contexts and runs over HTTP and WebSocket to runners and viewers, and the dashboard.

    Every route but /healthz needs the bearer token: $F0_TOKEN, or the one generated on the first
    start into a file only you can read (its path is printed). The dashboard at / asks for the
    token once and keeps a session cookie (sessions end when the server stops). Several servers on
    one PostgreSQL store (--store postgresql://...) act as one.

    /metrics serves Prometheus metrics (runs and steps by status, step durations, retries, context
    writes, requests by route): with the token, or without it under --metrics-public.

    A client that takes over 20 s to send a request's head, or sends a body slower than 1 KB/s
    (after 30 s), is disconnected; one address holds at most --max-connections-per-client.

    \b
    Example:
      f0 serve --port 8765
      f0 run recipe.yaml --context-server http://127.0.0.1:8765 --context shared
    """
    from pathlib import Path

    from framework0.cli.options import command_config
    from framework0.errors import UsageError
    from framework0.server.serve import require_server_extra
    from framework0.server.serve import serve as run_server
    from framework0.server.settings import Settings

    try:
        require_server_extra()
    except ModuleNotFoundError as error:
        raise UsageError(f"f0 serve needs {error.name}: pip install 'framework0[server]'") from error
    from framework0.client.token import load_or_create_token  # the client package needs websockets

    config = command_config(store)
    if config.store is None:
        said = "--store none" if config.source("store") == "--store" else "F0_STORE=none"
        raise UsageError(f"{said}: f0 serve keeps the runs it is sent in a store; give a store URL or leave it out")
    token, where = load_or_create_token(Path(token_file) if token_file else None)
    settings = Settings(
        token=token,
        store_url=config.store or None,
        host=host,
        port=port,
        allowed_origins=tuple(origins),
        keep_history=keep_history,
        max_connections_per_client=per_client,
        metrics_public=metrics_public,
    )

    def ready(bound: int) -> None:
        shown = f"[{host}]" if ":" in host else host
        print(f"serving on http://{shown}:{bound} (token: {where})", file=sys.stderr, flush=True)
        print(f"dashboard: {dashboard_url(host, bound)} (log in with {token_hint(where)})", file=sys.stderr, flush=True)

    try:
        run_server(settings, on_ready=ready)
    except OSError as error:
        raise UsageError(f"cannot listen on {host}:{port}: {error.strerror or error}") from error


def dashboard_url(host: str, port: int) -> str:
    """Where a browser on this machine finds the dashboard (a wildcard address is no place to browse to)."""
    browse = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    shown = f"[{browse}]" if ":" in browse else browse
    return f"http://{shown}:{port}/"


def token_hint(where: str) -> str:
    """Where the token is, never the token itself: ``$F0_TOKEN`` or the token file."""
    return "the token in $F0_TOKEN" if where == "F0_TOKEN" else f"the token in {where}"
