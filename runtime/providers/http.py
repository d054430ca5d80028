"""What every HTTP provider does the same way: map transport and status errors to ProviderError."""
from __future__ import annotations

import httpx

from .base import ProviderError


def raise_for_status(provider: str, response: httpx.Response, body: bytes | None = None) -> None:
    if response.status_code < 400:
        return
    text = (body if body is not None else b"")[:300].decode("utf-8", "replace")
    # 408/429 and 5xx may succeed on retry or another provider; other 4xx are our request's fault.
    retryable = response.status_code in (408, 409, 429) or response.status_code >= 500
    raise ProviderError(provider, f"HTTP {response.status_code}: {text}".strip(), retryable=retryable,
                        status=response.status_code)


def transport_error(provider: str, exc: Exception) -> ProviderError:
    return ProviderError(provider, f"{type(exc).__name__}: {exc}", retryable=True)


def auth_headers(api_key: str | None, scheme: str = "Bearer") -> dict[str, str]:
    return {"Authorization": f"{scheme} {api_key}"} if api_key else {}
