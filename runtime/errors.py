"""The one error type of the API and its JSON shape (CONTRACT.md "Errors").

Handlers and middleware raise ``ApiError``; the app renders it as
``{"error": "<snake>", "code": "<UPPER>", "message": "...", "details": {...}}`` (plus
``"success": false`` for routes whose old envelope had it). A 401 carries ``WWW-Authenticate``.
"""
from __future__ import annotations

import json
from typing import Any, Mapping

from starlette.responses import Response


class ApiError(Exception):
    """An error the client caused or must handle; rendered as CONTRACT's error JSON."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        *,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        success_envelope: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.code = error.upper()
        self.message = message
        self.details = dict(details or {})
        self.headers = dict(headers or {})
        self.success_envelope = success_envelope

    def body(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "error": self.error,
            "code": self.code,
            "message": self.message,
            "details": self.details,
        }
        if self.success_envelope:
            payload["success"] = False
        return payload

    def response_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.status == 401:
            headers.setdefault("WWW-Authenticate", 'Bearer realm="unamentis"')
        return headers

    def to_response(self) -> Response:
        return Response(
            content=json.dumps(self.body(), separators=(",", ":"), default=str).encode(),
            status_code=self.status,
            headers=self.response_headers(),
            media_type="application/json",
        )

    def __repr__(self) -> str:
        return f"ApiError({self.status}, {self.error!r}, {self.message!r})"


class CliError(Exception):
    """A failure of a ``python -m runtime`` command the user can fix: printed as one line, exit status 2."""


# Status → (error, message) for errors the framework raises (router 404/405, etc.).
_STANDARD: dict[int, tuple[str, str]] = {
    400: ("bad_request", "The request is malformed."),
    401: ("auth_required", "Authentication is required."),
    403: ("forbidden", "Access denied."),
    404: ("not_found", "No such resource."),
    405: ("method_not_allowed", "Method not allowed for this path."),
    408: ("request_timeout", "The request took too long."),
    409: ("conflict", "The request conflicts with the current state."),
    413: ("payload_too_large", "The request body is too large."),
    415: ("unsupported_media_type", "Unsupported content type."),
    422: ("validation_error", "The request is invalid."),
    426: ("upgrade_required", "Please update the app."),
    429: ("rate_limited", "Too many requests."),
    500: ("internal_error", "Something went wrong on our side; it has been logged."),
    502: ("bad_gateway", "An upstream service failed."),
    503: ("service_unavailable", "The service is temporarily unavailable."),
    504: ("gateway_timeout", "An upstream service timed out."),
}


def standard_error(status: int, message: str | None = None, **kwargs: Any) -> ApiError:
    """An ApiError with the standard code for ``status`` (used for framework errors)."""
    error, default_message = _STANDARD.get(status, ("error", "Request failed."))
    return ApiError(status, error, message or default_message, **kwargs)


def internal_error() -> ApiError:
    return standard_error(500)


def not_found(what: str = "resource", **kwargs: Any) -> ApiError:
    return ApiError(404, "not_found", f"No such {what}.", **kwargs)
