"""HTTP plumbing shared by the model server and the daemon: errors, CORS, tokens, bodies."""

from __future__ import annotations

import asyncio
import hmac
import logging
import zlib

from aiohttp import web

try:
    from asyncio import timeout as _timeout
except ImportError:  # Python 3.10: aiohttp's own dependency, same semantics
    from async_timeout import timeout as _timeout

from .. import jsonsafe
from ..errors import BadInput, BridgeError, TooLarge, Unauthorized
from ..wire import outputs_json

log = logging.getLogger(__name__)

DEBUG = web.AppKey("debug", bool)
TOKEN = web.AppKey("token", str)
# Set by apps whose server runs with ``auto_decompress=False``: `read_body` inflates, bounded, off the loop.
RAW_BODIES = web.AppKey("raw_bodies", bool)
BODY_TIMEOUT = web.AppKey("body_timeout", float)
BROWSER_JSON = web.AppKey("browser_json", bool)  # browsers (they send Origin) must label JSON as JSON
NO_GZIP = "runway_bridge.no_gzip"  # a response flag: answer uncompressed whatever the client offers
MAX_INFLATE_RATIO = 100

_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "*",
    "Access-Control-Expose-Headers": "*",
}


def error_response(err: BridgeError, debug: bool = False, *, cors: bool = True) -> web.Response:
    headers = dict(_CORS) if cors else {}
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
        return web.Response(headers=_CORS)
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
        resp.headers.update(_CORS)
        if _worth_gzip(request, resp):
            resp.enable_compression(web.ContentCoding.gzip)
    return resp


def _worth_gzip(request: web.Request, resp: web.StreamResponse) -> bool:
    """Gzip when asked, except answers carrying base64 images: those shrink by a quarter at ~2 ms
    of CPU per 640x480 frame, a bad trade for a live stream (and browsers always ask); and never
    where a response says `NO_GZIP` (the Runway network endpoints: Processing's RunwayHTTP asks
    for gzip itself, so OkHttp leaves the body compressed and the library cannot read it)."""
    if "gzip" not in request.headers.get("Accept-Encoding", "") or not isinstance(resp, web.Response):
        return False
    if resp.get(NO_GZIP):
        return False
    body = resp.body
    return isinstance(body, bytes) and len(body) > 1024 and b'"data:image/' not in body


def _http_error(e: web.HTTPException) -> BridgeError:
    err = BridgeError(e.text or e.reason)
    err.status = e.status  # instance attribute: keep aiohttp's own status (404, 405, ...)
    return err


class UnsupportedMedia(BadInput):
    status = 415


_JSON_TYPES = ("application/json",)


def _is_json_type(ctype: str) -> bool:
    return ctype in _JSON_TYPES or ctype.endswith("+json")


async def read_body(request: web.Request) -> bytes:
    """The body, within the size limit and the body timeout; gzip/deflate inflated off the loop,
    capped in size and ratio (a 1 KB body must not become gigabytes)."""
    limit = request.app._client_max_size
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"request body of {request.content_length} bytes is over the limit of {limit}; "
                       "send smaller images or raise --max-body")
    timeout = request.app.get(BODY_TIMEOUT, 60.0)
    try:
        async with _timeout(timeout):  # not wait_for: that wraps every body's read in a new task
            raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise TooLarge(f"request body over the limit of {limit} bytes; send smaller images or raise --max-body") from None
    except asyncio.TimeoutError:
        err = BadInput(f"the request body did not arrive within {timeout:g} s")
        err.status = 408
        raise err from None
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if not request.app.get(RAW_BODIES) or encoding in ("", "identity"):
        return raw
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise UnsupportedMedia(f"Content-Encoding {encoding!r} is not supported; send gzip, deflate or none")
    wbits = 31 if encoding != "deflate" else (15 if raw[:1] and raw[0] & 0x0F == 8 else -15)
    cap = min(limit, max(len(raw) * MAX_INFLATE_RATIO, 1 << 20))
    return await asyncio.get_running_loop().run_in_executor(None, inflate, raw, wbits, cap, limit)


def inflate(raw: bytes, wbits: int, cap: int, limit: int) -> bytes:
    """Inflate in 1 MiB steps, stopping as soon as the output passes `cap`."""
    d = zlib.decompressobj(wbits)
    out = bytearray()
    data = raw
    try:
        while data:
            out += d.decompress(data, 1 << 20)
            if len(out) > cap:
                why = (f"over the limit of {limit} bytes" if cap >= limit else
                       f"over {MAX_INFLATE_RATIO} times its compressed size (a decompression bomb?)")
                raise TooLarge(f"the compressed request body inflates {why}")
            data = d.unconsumed_tail
        out += d.flush()
    except zlib.error as e:
        raise BadInput(f"the compressed request body is corrupt ({e}); send it uncompressed") from None
    if not d.eof:
        raise BadInput("the compressed request body is truncated")
    return bytes(out)


async def read_json(request: web.Request, *, allow_empty: bool = True, text_ok: bool = False) -> dict:
    """The body as a JSON object. Clients that are not browsers may send it under any type (old
    clients send none, ``curl -d`` a form type); browsers (they send ``Origin``) must say JSON, so
    a page cannot post it as a "simple" request that skips the CORS preflight. `text_ok` also
    takes ``text/plain`` from browsers (what p5's ``httpPost`` sends for a string body)."""
    ctype = request.content_type
    strict = request.app.get(BROWSER_JSON, False)  # the daemon; the model server keeps the old SDK's laxness
    if strict and "Origin" in request.headers and request.can_read_body and not _is_json_type(ctype) \
            and not (text_ok and ctype == "text/plain"):
        raise UnsupportedMedia(f"send the body as JSON with 'Content-Type: application/json' (got {ctype!r})")
    raw = await read_body(request)
    if not raw.strip():
        if allow_empty:
            return {}
        raise BadInput("empty body; send a JSON object")
    if b"\\" in raw and b"\\u0000" in raw:  # one memchr first: base64 bodies hold no backslash
        raise BadInput("the JSON holds a NUL character (\\u0000); remove it")
    try:
        body = jsonsafe.loads(raw)  # sniffed: old clients and curl -d send JSON under other types
    except BadInput as e:
        if ctype in ("application/x-www-form-urlencoded", "multipart/form-data") and raw[:1] not in (b"{", b"["):
            raise BadInput(f"form bodies ({ctype}) are not accepted; send a JSON object") from None
        raise BadInput(e.message) from None
    if not isinstance(body, dict):
        raise BadInput(f"expected a JSON object, got {type(body).__name__}")
    return body


def output_formats(request: web.Request) -> dict | None:
    """``X-Runway-Output-Format: image=PNG, mask=JPEG`` to ``{'image': 'png', ...}``; the old
    SDK's ``;`` separator works too."""
    raw = request.headers.get("X-Runway-Output-Format")
    if not raw:
        return None
    out = {}
    for part in raw.replace(";", ",").split(","):
        if not part.strip():
            continue
        name, _, fmt = part.partition("=")
        if not fmt:
            raise BadInput("X-Runway-Output-Format must look like 'image=PNG'")
        if fmt.strip().upper() not in ("JPEG", "PNG"):
            raise BadInput(f"output format {fmt.strip()!r} is not JPEG or PNG")
        out[name.strip()] = fmt.strip().lower()
    return out


def json_response(data, status: int = 200, *, gzip: bool = True) -> web.Response:
    resp = web.json_response(data, status=status, dumps=jsonsafe.dumps)
    if not gzip:
        resp[NO_GZIP] = True
    return resp


def outputs_response(result, status: int = 200, *, gzip: bool = True) -> web.Response:
    """`json_response` of a host `Result`'s outputs (none: ``{}``), images as data URIs
    (`wire.outputs_json`; not walked again when the host checked them)."""
    outputs, checked = (result.outputs, result.checked) if result is not None else ({}, True)
    resp = web.Response(body=outputs_json(outputs, checked=checked), status=status, content_type="application/json", charset="utf-8")
    if not gzip:
        resp[NO_GZIP] = True
    return resp
