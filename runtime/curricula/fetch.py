"""SSRF-safe fetch of a remote document (curriculum import by URL).

The runtime sits inside a VPC next to the database, the instance metadata service and internal
services, so a user-supplied URL must never reach them:

* only ``https`` (the policy may widen this for tests), no credentials in the URL, ports 443/8443
  unless the policy allows others;
* the host name is resolved **by us**, every address it resolves to must be public (not private,
  loopback, link-local — which includes 169.254.169.254 — multicast, reserved, unspecified, CGNAT or
  IPv4-mapped private), and the connection then goes to that checked address (the ``Host`` header and
  TLS SNI keep the name), so a DNS answer that changes between check and connect (rebinding) is useless;
* redirects are followed by hand (at most 3) and every hop is checked again;
* the whole fetch has a deadline and the body a byte cap, enforced while streaming.
"""
from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Awaitable, Callable
from urllib.parse import urljoin, urlsplit

import httpx

Resolver = Callable[[str, int], Awaitable[list[str]]]

_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class FetchError(Exception):
    """A refused or failed fetch; ``status``/``error`` map straight onto an ApiError."""

    def __init__(self, status: int, error: str, message: str):
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


@dataclass(frozen=True)
class FetchPolicy:
    max_bytes: int = 5 * 1024 * 1024
    timeout_seconds: float = 10.0
    max_redirects: int = 3
    schemes: tuple[str, ...] = ("https",)
    ports: tuple[int, ...] | None = (443, 8443)  # None: any port
    # Only tests widen these (to reach their loopback server); production never does.
    allow_private: bool = False
    # Private networks (CIDRs) that are allowed although not public, e.g. where model servers live;
    # loopback, link-local (the metadata service) and the rest stay refused.
    private_networks: tuple[str, ...] = ()
    extra_headers: dict[str, str] = field(default_factory=dict)


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return False
    return not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
        or ip.is_reserved or ip.is_unspecified or not ip.is_global
    )


async def system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos})


async def _checked_target(url: str, policy: FetchPolicy, resolver: Resolver) -> tuple[httpx.URL, str, str]:
    """Validate ``url`` and return (url, host, the checked IP to connect to)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise FetchError(400, "invalid_url", "the URL is malformed") from None
    scheme = (parts.scheme or "").lower()
    if scheme not in policy.schemes:
        raise FetchError(400, "invalid_url", f"only {', '.join(policy.schemes)} URLs can be imported")
    if parts.username or parts.password:
        raise FetchError(400, "invalid_url", "URLs with credentials are not accepted")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise FetchError(400, "invalid_url", "the URL has no host")
    port = port or (443 if scheme == "https" else 80)
    if policy.ports is not None and port not in policy.ports and not policy.allow_private:
        raise FetchError(400, "url_not_allowed", f"port {port} is not allowed")
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
        addresses = [str(literal)]
    except ValueError:
        try:
            addresses = await resolver(host, port)
        except (OSError, UnicodeError):
            raise FetchError(400, "url_not_resolvable", f"the host {host!r} could not be resolved") from None
    if not addresses:
        raise FetchError(400, "url_not_resolvable", f"the host {host!r} could not be resolved")
    if not policy.allow_private and not all(is_public_address(a) or _in_networks(a, policy.private_networks)
                                            for a in addresses):
        raise FetchError(400, "url_not_allowed", "the URL points to a private, loopback or link-local address")
    return httpx.URL(url), host, addresses[0]


def _in_networks(address: str, networks: tuple[str, ...]) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in ipaddress.ip_network(n) for n in networks)


async def check_url(url: str, policy: FetchPolicy = FetchPolicy(), resolver: Resolver = system_resolver) -> None:
    """Refuse (:class:`FetchError`) a URL that ``fetch_bytes`` under ``policy`` would refuse to fetch."""
    await _checked_target(url, policy, resolver)


async def fetch_bytes(
    url: str,
    *,
    policy: FetchPolicy = FetchPolicy(),
    resolver: Resolver = system_resolver,
    transport: httpx.AsyncBaseTransport | None = None,
) -> bytes:
    """GET ``url`` under ``policy`` and return the body, or raise :class:`FetchError`."""
    try:
        async with asyncio.timeout(policy.timeout_seconds):
            async with httpx.AsyncClient(
                follow_redirects=False, trust_env=False, transport=transport,
                timeout=httpx.Timeout(policy.timeout_seconds),
            ) as client:
                current = url
                for _hop in range(policy.max_redirects + 1):
                    target, host, ip = await _checked_target(current, policy, resolver)
                    pinned = target.copy_with(host=ip)
                    headers = {"Host": target.netloc.decode("ascii"), "Accept": "application/json, */*;q=0.5",
                               "User-Agent": "UnaMentis-Cloud-Import/1", **policy.extra_headers}
                    request = client.build_request("GET", pinned, headers=headers,
                                                   extensions={"sni_hostname": host})
                    response = await client.send(request, stream=True)
                    try:
                        if response.status_code in (301, 302, 303, 307, 308):
                            location = response.headers.get("location")
                            if not location:
                                raise FetchError(502, "fetch_failed", "redirect without a Location header")
                            current = urljoin(current, location)
                            continue
                        if response.status_code != 200:
                            raise FetchError(502, "fetch_failed", f"the remote server answered {response.status_code}")
                        declared = response.headers.get("content-length")
                        if declared and declared.isdigit() and int(declared) > policy.max_bytes:
                            raise FetchError(413, "payload_too_large",
                                             f"the document is larger than {policy.max_bytes} bytes")
                        body = bytearray()
                        async for chunk in response.aiter_bytes():
                            body.extend(chunk)
                            if len(body) > policy.max_bytes:
                                raise FetchError(413, "payload_too_large",
                                                 f"the document is larger than {policy.max_bytes} bytes")
                        return bytes(body)
                    finally:
                        await response.aclose()
                raise FetchError(502, "fetch_failed", f"more than {policy.max_redirects} redirects")
    except TimeoutError:
        raise FetchError(408, "fetch_timeout", f"the URL did not answer within {policy.timeout_seconds:g} s") from None
    except httpx.HTTPError as exc:
        raise FetchError(502, "fetch_failed", f"the URL could not be fetched ({type(exc).__name__})") from None
