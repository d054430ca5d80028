"""The one error type of the API and its JSON shape (the error body every app decodes).

Handlers and middleware raise ``ApiError`` or one of its subclasses; the app renders it as
``{"error": "<snake>", "code": "<UPPER>", "message": "...", "details": {...}}`` (plus
``"success": false`` on the route groups whose clients decode the old envelope: the request layer
decides that, per service). A 401 carries ``WWW-Authenticate``.

Exception: the three 401s that mean "this token is dead, refresh or sign in again" keep their snake
name in ``code`` as well (``invalid_token``, ``token_expired``, ``token_reused``): the web client reads
``body.code || body.error`` and its ``ApiError.isAuthError()`` compares that with exactly these
lower-case names (server/web-client/src/lib/api/client.ts in the sirfifer mirror); no app compares
them upper-case.
"""
from __future__ import annotations

import json
from typing import Any, Mapping

from starlette.responses import Response

SNAKE_CODES = frozenset({"invalid_token", "token_expired", "token_reused"})  # see the module docstring


class ApiError(Exception):
    """An error the client caused or must handle; rendered as CONTRACT's error JSON.

    Raise a subclass where one fits (``NotFound("Pack not found.")``); ``ApiError(status, error,
    message)`` for the rest. Whether the answer carries the old ``"success": false`` is not the
    raiser's business: the app decides per route group (``Service.envelope_prefixes``)."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        *,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.code = error if error in SNAKE_CODES else error.upper()
        self.message = message
        self.details = dict(details or {})
        self.headers = dict(headers or {})

    def body(self, *, envelope: bool = False) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "error": self.error,
            "code": self.code,
            "message": self.message,
            "details": self.details,
        }
        if envelope:
            payload["success"] = False
        return payload

    def response_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.status == 401:
            headers.setdefault("WWW-Authenticate", 'Bearer realm="unamentis"')
        return headers

    def to_response(self, *, envelope: bool = False) -> Response:
        """The JSON answer; ``envelope`` adds ``"success": false`` for clients of the old envelope."""
        return Response(
            content=json.dumps(self.body(envelope=envelope), separators=(",", ":"), default=str).encode(),
            status_code=self.status,
            headers=self.response_headers(),
            media_type="application/json",
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status}, {self.error!r}, {self.message!r})"


class _StatusError(ApiError):
    """An ApiError whose status and default code come from the class."""

    status_code = 500
    default_error = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        error: str | None = None,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(self.status_code, error or self.default_error, message, details=details, headers=headers)


class BadRequest(_StatusError):
    status_code, default_error = 400, "bad_request"


class InvalidParameter(BadRequest):
    """A query or path parameter that does not parse (``details.field`` names it)."""

    default_error = "invalid_parameter"


class MissingField(BadRequest):
    """A required body field is absent (``details.field`` names it)."""

    default_error = "missing_field"


class Unauthorized(_StatusError):
    status_code, default_error = 401, "auth_required"


class Forbidden(_StatusError):
    status_code, default_error = 403, "forbidden"


class NotFound(_StatusError):
    status_code, default_error = 404, "not_found"


class Conflict(_StatusError):
    status_code, default_error = 409, "conflict"


class PayloadTooLarge(_StatusError):
    status_code, default_error = 413, "payload_too_large"


class InvalidField(_StatusError):
    """A body field of the wrong type or out of range (``details.field`` names it)."""

    status_code, default_error = 422, "invalid_field"


class RateLimited(_StatusError):
    status_code, default_error = 429, "rate_limited"


class ServiceUnavailable(_StatusError):
    status_code, default_error = 503, "service_unavailable"


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
