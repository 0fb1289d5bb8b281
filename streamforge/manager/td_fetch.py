"""Fetching a Thing Description by URL, bounded so the manager cannot be aimed at the inside.

Only http and https; at most `MAX_BYTES`, `TIMEOUT` seconds and `MAX_REDIRECTS` redirects, each
hop checked again; a host that resolves to a loopback, private, link-local or otherwise
non-public address is refused unless the operator listed it (`serve --td-fetch-allow`).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urljoin, urlsplit

import httpx

__all__ = ["FetchError", "fetch_td_text"]

MAX_BYTES = 1_000_000
TIMEOUT = 5.0
MAX_REDIRECTS = 3


class FetchError(ValueError):
    """The TD could not be fetched, or fetching it was refused."""


def _check_target(url: str, allowed_hosts: frozenset[str]) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchError(f"{url}: only http and https URLs are fetched")
    host = parts.hostname
    if not host:
        raise FetchError(f"{url}: the URL names no host")
    if host.lower() in allowed_hosts:
        return
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise FetchError(f"{url}: cannot resolve {host}: {exc.strerror}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise FetchError(
                f"{url}: {host} is a non-public address ({address}); the operator must list "
                "it in --td-fetch-allow"
            )


def fetch_td_text(url: str, allowed_hosts: frozenset[str] = frozenset()) -> str:
    """The body of `url` (a TD's JSON text), fetched within the limits above."""
    allowed = frozenset(h.lower() for h in allowed_hosts)
    current = url
    with httpx.Client(timeout=TIMEOUT, follow_redirects=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            _check_target(current, allowed)
            try:
                with client.stream(
                    "GET", current, headers={"Accept": "application/td+json, application/json"}
                ) as reply:
                    if reply.is_redirect:
                        location = reply.headers.get("location")
                        if not location:
                            raise FetchError(f"{current}: a redirect without a Location")
                        current = urljoin(current, location)
                        continue
                    if reply.status_code != 200:
                        raise FetchError(f"{current}: HTTP {reply.status_code}")
                    body = bytearray()
                    for chunk in reply.iter_bytes():
                        body += chunk
                        if len(body) > MAX_BYTES:
                            raise FetchError(f"{current}: the TD is larger than {MAX_BYTES} bytes")
                    return body.decode(reply.encoding or "utf-8", "replace")
            except httpx.TimeoutException as exc:
                raise FetchError(f"{current}: no answer within {TIMEOUT:g}s") from exc
            except httpx.HTTPError as exc:
                raise FetchError(f"{current}: {exc}") from exc
    raise FetchError(f"{url}: more than {MAX_REDIRECTS} redirects")
