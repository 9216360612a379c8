"""HTTP plumbing shared by the model server and the daemon: errors, CORS, tokens, bodies."""

from __future__ import annotations

import hmac
import json
import logging

from aiohttp import web

from ..errors import BadInput, BridgeError, TooLarge, Unauthorized

log = logging.getLogger(__name__)

DEBUG = web.AppKey("debug", bool)
TOKEN = web.AppKey("token", str)

_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "*",
    "Access-Control-Expose-Headers": "*",
}


def _cors(request: web.Request) -> dict:
    """`_CORS`, except that Socket.IO answers name the page's origin and allow credentials:
    socket.io-client 2.x's browser bundle polls with ``withCredentials``, which ``*`` fails."""
    origin = request.headers.get("Origin")
    if origin and request.path.startswith("/socket.io/"):
        return {**_CORS, "Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true",
                "Access-Control-Allow-Headers": request.headers.get("Access-Control-Request-Headers", "*"),
                "Vary": "Origin"}
    return _CORS


def error_response(err: BridgeError, debug: bool = False) -> web.Response:
    headers = dict(_CORS)
    if err.retry_after is not None:
        headers["Retry-After"] = str(max(1, int(err.retry_after)))
    return web.json_response(err.to_dict(debug), status=err.status, headers=headers)


# Open without the token: (exact paths, GET path prefixes, prefixes whose handlers check it themselves).
PUBLIC = web.AppKey("public", tuple)
_LIVENESS = (("/healthz", "/healthcheck"), (), ())


def check_token(request: web.Request) -> None:
    """Every request must carry the token when one is set: header, bearer or ``?token=``."""
    token = request.app.get(TOKEN)
    exact, get_prefixes, own_check = request.app.get(PUBLIC, _LIVENESS)
    path = request.path
    if not token or path in exact or path.startswith(own_check) or (request.method == "GET" and path.startswith(get_prefixes)):
        return
    given = (request.headers.get("X-Runway-Token") or request.query.get("token")
             or request.headers.get("Authorization", "").removeprefix("Bearer ").strip())
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise Unauthorized("this bridge needs a token: send 'Authorization: Bearer <token>' or ?token=<token>")


@web.middleware
async def middleware(request: web.Request, handler):
    """CORS on every answer, tokens checked, `BridgeError`s turned into JSON with their status."""
    debug = request.app.get(DEBUG, False)
    if request.method == "OPTIONS":
        return web.Response(headers=_cors(request))
    try:
        check_token(request)
        resp = await handler(request)
    except BridgeError as e:
        return error_response(e, debug)
    except web.HTTPRequestEntityTooLarge as e:
        return error_response(TooLarge(f"request body over the limit ({e.text.strip()}); send smaller images"))
    except web.HTTPException as e:
        if e.status >= 400:
            return error_response(_http_error(e), debug)
        raise
    except Exception as e:
        log.exception("unhandled error on %s %s", request.method, request.path)
        err = BridgeError(f"internal error: {type(e).__name__}: {e}")
        return error_response(err, debug)
    if isinstance(resp, web.StreamResponse) and not resp.prepared:
        resp.headers.update(_cors(request))
        if _worth_gzip(request, resp):
            resp.enable_compression(web.ContentCoding.gzip)
    return resp


def _worth_gzip(request: web.Request, resp: web.StreamResponse) -> bool:
    """Gzip when asked, except answers carrying base64 images: those shrink by a quarter at ~2 ms
    of CPU per 640x480 frame, a bad trade for a live stream (and browsers always ask)."""
    if "gzip" not in request.headers.get("Accept-Encoding", "") or not isinstance(resp, web.Response):
        return False
    body = resp.body
    return isinstance(body, bytes) and len(body) > 1024 and b'"data:image/' not in body


def _http_error(e: web.HTTPException) -> BridgeError:
    err = BridgeError(e.text or e.reason)
    err.status = e.status  # instance attribute: keep aiohttp's own status (404, 405, ...)
    return err


async def read_json(request: web.Request, *, allow_empty: bool = True) -> dict:
    """The body as a JSON object, whatever the content type says (old clients send none)."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise TooLarge("request body over the size limit; send smaller images or raise --max-body") from None
    if not raw.strip():
        if allow_empty:
            return {}
        raise BadInput("empty body; send a JSON object")
    try:
        body = json.loads(raw)  # sniffed: old clients and curl -d send JSON under other types
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        ctype = request.content_type
        if ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            raise BadInput(f"form bodies ({ctype}) are not accepted; send a JSON object") from None
        raise BadInput(f"body is not valid JSON: {e}") from None
    if not isinstance(body, dict):
        raise BadInput(f"expected a JSON object, got {type(body).__name__}")
    return body


def output_formats(request: web.Request) -> dict | None:
    """``X-Runway-Output-Format: image=PNG, mask=JPEG`` to ``{'image': 'png', ...}``."""
    raw = request.headers.get("X-Runway-Output-Format")
    if not raw:
        return None
    out = {}
    for part in raw.split(","):
        name, _, fmt = part.partition("=")
        if not fmt:
            raise BadInput("X-Runway-Output-Format must look like 'image=PNG'")
        if fmt.strip().upper() not in ("JPEG", "PNG"):
            raise BadInput(f"output format {fmt.strip()!r} is not JPEG or PNG")
        out[name.strip()] = fmt.strip().lower()
    return out


def json_response(data, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda o: json.dumps(o, separators=(",", ":")))
