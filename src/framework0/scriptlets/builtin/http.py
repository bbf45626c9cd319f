"""The ``http`` built-in: one HTTP request with httpx, failing the step on an unexpected status."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator

from framework0.durations import parse_duration
from framework0.errors import UnexpectedStatus
from framework0.scriptlets.base import BaseScriptlet

if TYPE_CHECKING:
    import httpx

    from framework0.context import Context

_BODY_PREVIEW = 200


class HttpScriptlet(BaseScriptlet):
    """Send an HTTP request and return the status, headers and body.

    Args: ``url``; ``method`` (default ``GET``); ``json`` (a body sent as JSON); ``headers`` (a
    mapping); ``timeout`` (seconds or a duration such as ``"30s"``, default 30); ``expect_status``
    (a status or a list of them; default any 2xx). Returns ``{"status", "headers", "json"}`` when the
    response is JSON, else ``{"status", "headers", "text"}``; header names are lower case and repeated
    headers are joined with ``", "``. Another status fails the step with ``UnexpectedStatus`` naming
    the method, url, status and the start of the body.
    """

    class Params(BaseScriptlet.Params):
        url: str = Field(description="The URL to request.")
        method: str = Field(default="GET", description="The HTTP method.")
        # ``json`` would shadow BaseModel.json, hence the alias.
        body: Any = Field(default=None, alias="json", description="A body to send as JSON.")
        headers: dict[str, str] = Field(default_factory=dict, description="Request headers.")
        timeout: float = Field(
            default=30.0, gt=0, allow_inf_nan=False, description="Seconds, or a duration like '30s'."
        )
        expect_status: int | list[int] | None = Field(
            default=None, description="The status (or statuses) that count as success; default any 2xx."
        )

        @field_validator("method")
        @classmethod
        def _upper(cls, value: str) -> str:
            method = value.strip().upper()
            if not method.isalpha():
                raise ValueError(f"{value!r} is not an HTTP method")
            return method

        @field_validator("timeout", mode="before")
        @classmethod
        def _duration(cls, value: Any) -> Any:
            return parse_duration(value) if isinstance(value, (str, int, float)) else value

    def run(self, ctx: Context, params: Params) -> dict[str, Any]:
        import httpx

        with httpx.Client(timeout=params.timeout) as client:
            response = client.request(
                params.method,
                params.url,
                json=params.body,
                headers=params.headers or None,
            )
        if not _expected(response.status_code, params.expect_status):
            preview = response.text[:_BODY_PREVIEW]
            raise UnexpectedStatus(
                f"{params.method} {params.url} returned {response.status_code}"
                f" (expected {_describe(params.expect_status)}): {preview!r}"
            )
        return _output(response)


def _expected(status: int, expect: int | list[int] | None) -> bool:
    if expect is None:
        return 200 <= status < 300
    return status in ([expect] if isinstance(expect, int) else expect)


def _describe(expect: int | list[int] | None) -> str:
    if expect is None:
        return "2xx"
    if isinstance(expect, int):
        return str(expect)
    return " or ".join(map(str, expect))


def _output(response: httpx.Response) -> dict[str, Any]:
    output: dict[str, Any] = {"status": response.status_code, "headers": dict(response.headers)}
    content_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if response.content and (content_type == "application/json" or content_type.endswith("+json")):
        try:
            output["json"] = response.json()
            return output
        except ValueError:  # declared JSON but is not: keep it as text rather than fail the step
            pass
    output["text"] = response.text
    return output
