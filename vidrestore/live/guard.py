"""Who may talk to the WebRTC page's server: the page whose address the command printed,
and nothing else.

A server on 127.0.0.1 is still reachable from every page the user's browser opens, so
every request must pass, in this order:

- Host: the address the server is bound to, under one of its own names and with its
  port. DNS rebinding reaches 127.0.0.1 under the attacker's own name, which this refuses.
- Origin, when the browser sends one: the page's own (http://HOST). Another site's
  script may post, but not as this page.
- the run's token: random for each run, printed in the URL (like Jupyter's), sent back
  as the `token` query parameter (the page's address) or the X-Vidrestore-Token header
  (the page's own requests). Nothing answers without it, the WebRTC offer included.
- a POST body is application/json (the content types another site may post without
  asking first are all refused) and small: `read_json` takes at most `limit` bytes.

Refusals are one short plain-text line, "403: ...", like aiohttp's own errors.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

TOKEN_HEADER = "X-Vidrestore-Token"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})


class Refused(Exception):
    """A request answered with `status` and a one-line `message`, nothing else done."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _is_loopback(name: str) -> bool:
    return name == "localhost" or (_is_ip(name) and ipaddress.ip_address(name).is_loopback)


def split_host(value: str | None) -> tuple[str, int] | None:
    """("name", port) of a Host header or an origin's authority (lowercase, IPv6 unbracketed,
    80 when absent); None when it is not a bare host[:port]."""
    if not value:
        return None
    try:
        parts = urlsplit(f"//{value}")
        name, port = parts.hostname, parts.port
    except ValueError:  # a port that is not a number, a broken IPv6 literal
        return None
    if not name or parts.username is not None or parts.path or parts.query or parts.fragment:
        return None
    return name.lower(), port or 80


@dataclass(frozen=True)
class Access:
    """What a request must carry to be answered (see the module's docstring)."""

    token: str
    port: int
    names: frozenset[str]  # the host names a Host header may use (lowercase, IPv6 unbracketed)
    any_address: bool = False  # bound to every interface: any IP literal names this server too

    @classmethod
    def for_bind(cls, host: str, port: int, token: str | None = None) -> Access:
        """The access rules of a server bound to `host`:`port` (`token`: a new one by default)."""
        token = token or secrets.token_urlsafe(24)
        name = host.strip("[]").lower()
        if name in WILDCARD_HOSTS:
            # Reached through any interface: by address (an IP in the Host header cannot be a
            # rebound name) or by this machine's own names.
            names = LOOPBACK_NAMES | {socket.gethostname().lower(), socket.getfqdn().lower()}
            return cls(token, port, frozenset(names), any_address=True)
        if _is_loopback(name):
            return cls(token, port, LOOPBACK_NAMES | {name})
        return cls(token, port, frozenset({name}))

    def url(self, host: str) -> str:
        """The page's address, token included, as the command prints it."""
        name = host.strip("[]")
        if name in WILDCARD_HOSTS:
            name = "127.0.0.1" if name != "::" else "::1"  # this machine; others use its address
        if ":" in name:
            name = f"[{name}]"
        return f"http://{name}:{self.port}/?token={self.token}"

    def host_ok(self, value: str | None) -> bool:
        parsed = split_host(value)
        if parsed is None or parsed[1] != self.port:
            return False
        return parsed[0] in self.names or (self.any_address and _is_ip(parsed[0]))

    @staticmethod
    def origin_ok(origin: str, host: str) -> bool:
        """Whether `origin` is the page's own: http, and the very host and port of the request."""
        try:
            parts = urlsplit(origin)
        except ValueError:
            return False
        if parts.scheme != "http" or parts.path or parts.query or parts.fragment:
            return False
        return split_host(parts.netloc) == split_host(host)

    def token_ok(self, given: str | None) -> bool:
        # compare_digest: a wrong guess takes as long however much of it is right.
        return given is not None and secrets.compare_digest(given.encode(errors="replace"), self.token.encode())

    def check(self, method: str, headers: Any, query: Any) -> None:
        """Raise `Refused` unless a request with these `headers` and `query` may be answered."""
        host = headers.get("Host")
        if not self.host_ok(host):
            raise Refused(403, "the Host header does not name this server; open the URL vidrestore printed")
        origin = headers.get("Origin")
        if origin is not None and not self.origin_ok(origin, host):
            raise Refused(403, "the request comes from another site's page (its Origin is not this page's)")
        if not self.token_ok(headers.get(TOKEN_HEADER) or query.get("token")):
            raise Refused(403, "no or wrong token; open the URL vidrestore printed (it ends in ?token=...)")
        if method == "POST" and headers.get("Content-Type", "").partition(";")[0].strip().lower() != "application/json":
            raise Refused(415, "the body must be application/json")


def refusal(status: int, message: str):
    from aiohttp import web

    return web.Response(status=status, text=f"{status}: {message}")


def middleware(access: Callable[[], Access]):
    """An aiohttp middleware that answers only what `access()` allows (a callable: the server
    knows its port only once it listens). A handler's `Refused` becomes its answer; any other
    failure is one line in the log and a 500, never a traceback."""
    from aiohttp import web

    @web.middleware
    async def guard(request, handler):
        try:
            access().check(request.method, request.headers, request.query)
            return await handler(request)
        except Refused as exc:
            return refusal(exc.status, str(exc))
        except web.HTTPException:
            raise
        except Exception as exc:  # noqa: BLE001 - the server goes on; the page sees a 500
            log.error("%s %s failed: %s", request.method, request.path, exc or type(exc).__name__)
            log.debug("the failure", exc_info=True)
            return refusal(500, "the server failed; see its output")

    return guard


async def read_json(request, limit: int) -> Any:
    """The request's JSON body: 413 past `limit` bytes (read no further), 400 when it is not JSON."""
    if request.content_length is not None and request.content_length > limit:
        raise Refused(413, f"the body is over {limit} bytes")
    body = bytearray()
    while len(body) <= limit:
        chunk = await request.content.read(limit + 1 - len(body))
        if not chunk:
            break
        body += chunk
    if len(body) > limit:
        raise Refused(413, f"the body is over {limit} bytes")
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise Refused(400, "the body is not JSON") from None
