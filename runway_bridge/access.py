"""Who may talk to the daemon: a Host allow-list against DNS rebinding, an Origin policy against
other web pages, and CORS that names allowed origins instead of ``*`` (docs/security.md).

A browser attaches ``Origin`` to every cross-origin request, every POST and every WebSocket
handshake, so a request whose Origin is not allowed is refused before any handler, WebSocket or
Socket.IO upgrade runs; clients that are not browsers (curl, Processing, Max, Unity, OSC bridges)
send no Origin and pass. Allowed by default: the daemon's own pages (same origin) and pages served
from a loopback name on any port (``python -m http.server``, Live Server: how the old Runway p5
sketches were opened). ``Origin: null`` (``file://`` pages, but also any site's sandboxed iframe)
is refused unless ``--allow-origin null``. A request carrying the valid token passes whatever
its origin: a page that knows the token was given it by the user.
"""

from __future__ import annotations

import fnmatch
import hmac
import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp import web

from .errors import BridgeError

__all__ = ["Access", "ACCESS", "Forbidden", "middleware", "origin_allowed", "has_token", "from_browser"]

ACCESS = web.AppKey("access", object)

# Static package files and liveness: public, no secrets, readable from any page.
_OPEN_PREFIXES = ("/web/", "/client/", "/examples/", "/vendor/")
_OPEN_EXACT = ("/", "/healthz", "/v1/healthcheck", "/favicon.ico")
_ALLOW_HEADERS = "Content-Type, Authorization, X-Runway-Token, X-Runway-Output-Format, Content-Encoding"
_EXPOSE_HEADERS = "Retry-After, Content-Length"
# socket.io-client 2.x's browser bundle (every Runway p5.js example) polls with ``withCredentials``,
# which a browser refuses unless the answer names the origin and allows credentials. The daemon
# sets no cookies, so this grants an allowed origin nothing more.
_CREDENTIAL_PATHS = ("/socket.io/",)


class Forbidden(BridgeError):
    status = 403


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def _is_loopback_name(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _hostname(host_header: str) -> str:
    """``Host`` header to a bare lower-case name: ``[::1]:8000`` -> ``::1``, ``a.b:80`` -> ``a.b``."""
    h = host_header.strip().lower()
    if h.startswith("["):
        return h[1:].partition("]")[0]
    if h.count(":") == 1:
        h = h.partition(":")[0]
    return h.rstrip(".")


class Access:
    """The policy, built once from the config: hosts, origins and the token."""

    def __init__(self, *, bind: str = "127.0.0.1", allow_hosts=(), allow_origins=(), token: str | None = None):
        self.token = token or None
        self.any_host = "*" in allow_hosts
        names = {h.lower().rstrip(".") for h in allow_hosts if h != "*"}
        if bind and not _is_ip(bind) and bind not in ("", "0.0.0.0", "::"):
            names.add(bind.lower())
        if not _is_loopback_name(bind or "127.0.0.1"):  # reached from the LAN: its own names too
            try:
                me = socket.gethostname().lower()
                names |= {me, me + ".local"}
            except OSError:
                pass
        self.hosts = names
        self._hosts_seen: dict[str, bool] = {}
        self.origins = [o.lower().rstrip("/") for o in allow_origins]

    # -- checks ------------------------------------------------------------------------------
    def host_allowed(self, host_header: str | None) -> bool:
        """IP literals, loopback names and dotless names always (DNS rebinding needs a public name
        the attacker owns, and those have a dot); other names only when allowed. No Host at all
        (HTTP/1.0 clients): allowed."""
        if self.any_host or not host_header:
            return True
        known = self._hosts_seen.get(host_header)  # every request asks; clients send the same few
        if known is None:
            h = _hostname(host_header)
            known = (_is_ip(h) or _is_loopback_name(h) or "." not in h
                     or any(fnmatch.fnmatchcase(h, p) for p in self.hosts))
            if len(self._hosts_seen) >= 256:  # bounded: a client inventing Host headers gains nothing
                self._hosts_seen.clear()
            self._hosts_seen[host_header] = known
        return known

    def origin_allowed(self, origin: str, host_header: str | None) -> bool:
        o = origin.strip().lower().rstrip("/")
        if any(fnmatch.fnmatchcase(o, p) for p in self.origins) or "*" in self.origins:
            return True
        if o == "null":
            return False
        parts = urlsplit(o)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False
        if host_header and parts.netloc == host_header.strip().lower():
            return True  # same origin (the Host itself passed the allow-list)
        return _is_loopback_name(parts.hostname or "")

    def token_ok(self, request: web.Request) -> bool:
        if not self.token:
            return False
        given = (request.headers.get("X-Runway-Token") or request.query.get("token")
                 or request.headers.get("Authorization", "").removeprefix("Bearer ").strip())
        return hmac.compare_digest(given.encode(), self.token.encode())


def _policy(request: web.Request) -> Access | None:
    return request.app.get(ACCESS)


def from_browser(request: web.Request) -> bool:
    """A browser sent it (it names an origin): such clients must use a JSON content type."""
    return "Origin" in request.headers


def has_token(request: web.Request) -> bool:
    policy = _policy(request)
    return bool(policy and policy.token_ok(request))


def origin_allowed(request: web.Request) -> bool:
    """For transports that check for themselves (Socket.IO): no Origin, an allowed one, or the token."""
    policy = _policy(request)
    origin = request.headers.get("Origin")
    if policy is None or origin is None:
        return True
    return policy.origin_allowed(origin, request.headers.get("Host")) or policy.token_ok(request)


def _is_open(request: web.Request) -> bool:
    return request.method in ("GET", "HEAD") and (request.path in _OPEN_EXACT or request.path.startswith(_OPEN_PREFIXES))


def _preflight(request: web.Request, policy: Access, origin: str, allowed: bool) -> web.Response:
    wants = request.headers.get("Access-Control-Request-Headers", "").lower()
    # A page that will send the token may preflight from anywhere: the real request still needs it.
    carries_token = policy.token and ("authorization" in wants or "x-runway-token" in wants or policy.token_ok(request))
    if not (allowed or carries_token or _is_open(request)):
        raise Forbidden(_refusal(origin))
    headers = {"Access-Control-Allow-Origin": origin, "Vary": "Origin",
               "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
               "Access-Control-Allow-Headers": _ALLOW_HEADERS, "Access-Control-Max-Age": "600"}
    if request.path.startswith(_CREDENTIAL_PATHS):
        headers["Access-Control-Allow-Credentials"] = "true"
    if request.headers.get("Access-Control-Request-Private-Network") == "true":
        headers["Access-Control-Allow-Private-Network"] = "true"  # Chrome: a public page asking for localhost
    return web.Response(status=204, headers=headers)


def _refusal(origin: str) -> str:
    return (f"requests from the web page at {origin} are not allowed; if you trust it, start the daemon with "
            f"--allow-origin {origin} (or send the token: Authorization: Bearer <token>)")


def _cors(resp: web.StreamResponse, origin: str | None, open_: bool) -> None:
    for key in [k for k in resp.headers if k.lower().startswith("access-control-")]:
        del resp.headers[key]  # whatever an inner layer put there (the model server's open CORS)
    if origin is not None:
        resp.headers["Access-Control-Allow-Origin"] = "*" if open_ else origin
        resp.headers["Access-Control-Expose-Headers"] = _EXPOSE_HEADERS
        if not open_:
            resp.headers.add("Vary", "Origin")


@web.middleware
async def middleware(request: web.Request, handler):
    """Host, then Origin, then the handler; CORS answers name the allowed origin only."""
    policy = _policy(request)
    if policy is None:
        return await handler(request)
    host = request.headers.get("Host")
    origin = request.headers.get("Origin")
    try:
        if "\x00" in request.path:
            raise _bad_path()
        if not policy.host_allowed(host):
            raise Forbidden(f"the Host {host!r} is not one this daemon answers to (a DNS rebinding guard); "
                            f"if you reach it by that name, start it with --allow-host {_hostname(host or '')}")
        allowed = origin is None or policy.origin_allowed(origin, host)
        if request.method == "OPTIONS":
            if origin is None:
                return web.Response(status=204, headers={"Allow": "GET, POST, DELETE, OPTIONS"})
            return _preflight(request, policy, origin, allowed)
        open_ = _is_open(request)
        if not (allowed or open_ or policy.token_ok(request)):
            raise Forbidden(_refusal(origin))
    except BridgeError as e:
        from .transports._http import error_response  # imports this module; only errors need it

        return error_response(e, cors=False)
    resp = await handler(request)
    if isinstance(resp, web.StreamResponse) and not resp.prepared:
        _cors(resp, origin, open_)
        if origin is not None and allowed and request.path.startswith(_CREDENTIAL_PATHS):
            resp.headers["Access-Control-Allow-Credentials"] = "true"
    return resp


def _bad_path():
    from .errors import BadInput

    return BadInput("the URL holds a NUL character")
