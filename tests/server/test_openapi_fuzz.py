"""The server's OpenAPI document, and schemathesis fuzzing the real server from it: no 5xx.

The document comes from ``create_api(settings).openapi()`` (what the server serves at
``/openapi.json``). Every operation gets a bounded number of generated requests with the bearer
token, from a fixed seed: valid ones (their answers must match the document too) and invalid ones.
Requests at edges the few examples seldom reach (64-bit limits) are listed by hand.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi.routing import APIRoute, iter_route_contexts
from hypothesis import settings
from schemathesis.checks import not_a_server_error, response_schema_conformance
from tests.server.servers import Server, new_token, server_process, server_thread
from tests.store.store_backends import sqlite_url

from framework0.server.app import create_api
from framework0.server.settings import Settings

TOKEN = new_token()
EXAMPLES = 20  # per operation and mode
#: the same requests on every run (``F0_FUZZ_SEED=random`` explores new ones)
SEED = None if os.environ.get("F0_FUZZ_SEED") == "random" else int(os.environ.get("F0_FUZZ_SEED", "20260504"))


Case = schemathesis.Case[Any]
FuzzTest = Callable[[Case, str], None]


def parametrize(mode: str) -> Callable[[FuzzTest], FuzzTest]:
    """``schema.parametrize()`` for the server's document, generating requests in ``mode``."""
    config = schemathesis.Config.from_dict(
        {
            **({"seed": SEED} if SEED is not None else {}),
            "headers": {"Authorization": f"Bearer {TOKEN}"},
            "generation": {
                "mode": mode,
                "max-examples": EXAMPLES,
                "with-security-parameters": False,
                "database": "none",
            },
        }
    )
    document = hoist_definitions(create_api(Settings(token=TOKEN)).openapi())
    schema: schemathesis.BaseSchema = schemathesis.openapi.from_dict(document, config=config)
    if mode == "negative":  # an operation without parameters or body has nothing to make invalid
        fixed = {
            (method, path)
            for path, operations in document["paths"].items()
            for method, operation in operations.items()
            if not operation.get("parameters") and "requestBody" not in operation
        }
        schema = schema.exclude(func=lambda context: (context.operation.method, context.operation.path) in fixed)
    decorator: Callable[[FuzzTest], FuzzTest] = schema.parametrize()
    return decorator


def hoist_definitions(document: dict[str, Any]) -> dict[str, Any]:
    """The document with the ``$defs`` of its request bodies moved to ``components/schemas``, where their
    ``$ref``s point (a no-op once the server's document does it itself)."""
    document = copy.deepcopy(document)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for operations in document["paths"].values():
        for operation in operations.values():
            for media in operation.get("requestBody", {}).get("content", {}).values():
                schemas.update(media.get("schema", {}).pop("$defs", {}))
    return document


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("openapi-fuzz")
    with server_thread(sqlite_url(folder / "server.db"), token=TOKEN) as running:
        yield running


@pytest.fixture(scope="module")
def live_url(server: Server) -> str:
    return server.url


@parametrize("positive")
@settings(deadline=None)
def test_valid_requests_get_answers_the_document_describes(case: Case, live_url: str) -> None:
    case.call_and_validate(base_url=live_url, checks=[not_a_server_error, response_schema_conformance])


@parametrize("negative")
@settings(deadline=None)
def test_invalid_requests_never_get_a_5xx(case: Case, live_url: str) -> None:
    case.call_and_validate(base_url=live_url, checks=[not_a_server_error])


# --- edges the fuzzer's few examples seldom reach ----------------------------------------------

BIG = 2**64  # past every 64-bit integer: SQLite's and orjson's
U64 = 2**64 - 1  # the largest integer orjson reads as an int


def run_started(run_id: str, at: float) -> dict[str, Any]:
    return {
        "type": "run_started",
        "run_id": run_id,
        "test_id": "edge",
        "recipe_path": "edge.yaml",
        "steps": [],
        "params": {},
        "at": at,
    }


EDGES = [
    pytest.param([("GET", f"/api/v1/contexts/edge?at={BIG}", None)], id="read-at-a-huge-version"),
    pytest.param([("GET", f"/api/v1/contexts/edge/diff?from={BIG}&to={BIG}", None)], id="diff-of-huge-versions"),
    pytest.param([("GET", f"/api/v1/contexts/edge/history?since={2**63 - 1}", None)], id="history-since-int64-max"),
    pytest.param([("GET", f"/api/v1/contexts/edge/history?since={2**63}", None)], id="history-since-past-int64"),
    pytest.param([("DELETE", f"/api/v1/contexts/edge/keys/k?expected_version={2**63}", None)], id="delete-cas-int64"),
    pytest.param(
        [("DELETE", f"/api/v1/contexts/edge/keys/k?expected_version={BIG}", None)],
        id="delete-cas-past-uint64",
    ),
    pytest.param([("PUT", "/api/v1/contexts/edge/keys/k", {"value": 1, "expected_version": U64})], id="put-cas-u64"),
    pytest.param([("POST", "/api/v1/contexts/edge/changes", {"expected": {"k": U64}})], id="change-cas-u64"),
    pytest.param(
        [
            ("POST", "/api/v1/contexts/edge-counter/changes", {"increment": {"n": U64}}),
            ("POST", "/api/v1/contexts/edge-counter/changes", {"increment": {"n": U64}}),
            ("GET", "/api/v1/contexts/edge-counter", None),
            ("GET", "/api/v1/contexts/edge-counter/history", None),
        ],
        id="increment-past-uint64",
    ),
    pytest.param(
        [
            ("POST", "/api/v1/runs/edge-run/events", {"events": [run_started("edge-run", 1e300)]}),
            ("GET", "/api/v1/runs/edge-run", None),
        ],
        id="run-started-in-the-far-future",
    ),
]


@pytest.fixture(scope="module")
def edge_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of its own (an edge that breaks a context must not fail the fuzzing), in a process: a
    traceback it prints in a thread of this one can race pytest's own ``ast.parse`` into a SystemError
    (CPython gh-106905, Python 3.11)."""
    folder = tmp_path_factory.mktemp("openapi-edges")
    with server_process(sqlite_url(folder / "server.db"), token=TOKEN) as running:
        yield running


@pytest.mark.parametrize("requests", EDGES)
def test_edge_requests_never_get_a_5xx(edge_server: Server, requests: list[tuple[str, str, Any]]) -> None:
    # a connection per request: the server closes one after a 500
    for method, url, body in requests:
        headers = {**edge_server.headers, "Connection": "close"}
        response = httpx.request(method, edge_server.url + url, json=body, headers=headers, timeout=30)
        assert response.status_code < 500, f"{method} {url} {body}: {response.status_code} {response.text}"


# --- the document itself -----------------------------------------------------------------------


RECIPES_ROUTES = {
    ("/api/v1/contexts/{name}", "get"),
    ("/api/v1/contexts/{name}/keys/{key}", "get"),
    ("/api/v1/contexts/{name}/keys/{key}", "put"),
    ("/api/v1/contexts/{name}/changes", "post"),
    ("/api/v1/contexts/{name}/history", "get"),
    ("/healthz", "get"),
}


@pytest.fixture(scope="module")
def document(server: Server) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/openapi.json", headers=server.headers, timeout=30)
    assert response.status_code == 200
    served: dict[str, Any] = response.json()
    return served


def test_the_document_is_served_with_the_token_only(server: Server, document: dict[str, Any]) -> None:
    assert httpx.get(f"{server.url}/openapi.json", timeout=30).status_code == 401
    assert document == create_api(Settings(token=TOKEN)).openapi()


def test_the_document_describes_every_route_of_the_http_contract(document: dict[str, Any]) -> None:
    described = {(path, method) for path, operations in document["paths"].items() for method in operations}
    assert RECIPES_ROUTES <= described, RECIPES_ROUTES - described


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    reference = schema.get("$ref")
    if reference is None:
        return schema
    name = reference.removeprefix("#/components/schemas/")
    resolved: dict[str, Any] = document["components"]["schemas"][name]
    return resolved


def request_body(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    body = document["paths"][path][method]["requestBody"]
    assert body["required"] is True
    return resolve(document, body["content"]["application/json"]["schema"])


def test_the_document_describes_the_body_of_a_key_write(document: dict[str, Any]) -> None:
    schema = request_body(document, "/api/v1/contexts/{name}/keys/{key}", "put")
    assert schema["type"] == "object"
    assert schema["required"] == ["value"]
    assert {"value", "expected_version"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False
    assert {"200", "409"} <= set(document["paths"]["/api/v1/contexts/{name}/keys/{key}"]["put"]["responses"])


def test_the_document_describes_the_body_of_a_change(document: dict[str, Any]) -> None:
    schema = request_body(document, "/api/v1/contexts/{name}/changes", "post")
    assert schema["type"] == "object"
    assert {"set", "delete", "increment", "expected"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False
    assert {"200", "409"} <= set(document["paths"]["/api/v1/contexts/{name}/changes"]["post"]["responses"])


def test_the_document_describes_every_http_route_of_the_server(document: dict[str, Any]) -> None:
    described = {(path, method) for path, operations in document["paths"].items() for method in operations}
    served = set()
    for context in iter_route_contexts(create_api(Settings(token=TOKEN)).routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            path = re.sub(r"{(\w+):\w+}", r"{\1}", route.path)
            served |= {(path, method.lower()) for method in route.methods or ()}
    assert served == described


def references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str):
                yield item
            else:
                yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


def test_every_reference_in_the_document_resolves(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    dangling = {ref for ref in references(document) if ref.removeprefix("#/components/schemas/") not in schemas}
    assert not dangling
