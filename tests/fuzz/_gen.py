"""Seeded generators of malformed input for the live-daemon fuzzer and the soak benchmark.

Plain `random.Random` rather than hypothesis: a live daemon needs thousands of cheap cases a
second, and a seed makes every run the same (``RUNWAY_BRIDGE_FUZZ_SEED``).
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import struct

MODEL = "kitchen_sink"
ECHO_FIELDS = ("text", "number", "flag", "choice", "vec", "items", "point", "box", "marks", "anything")
CTYPES = ("application/json", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
          "image/jpeg", "image/png", "application/octet-stream", "", "application/json; charset=latin-1", "x/y")
JPEG = b"\xff\xd8\xff"


def value(rng: random.Random, depth: int = 0):
    """A random JSON value, at most 4 deep: the wrong type for almost every field."""
    kinds = ["int", "float", "str", "bool", "null", "big"] + (["list", "dict"] if depth < 4 else [])
    k = rng.choice(kinds)
    if k == "int":
        return rng.randint(-(2**40), 2**40)
    if k == "float":
        return rng.choice([rng.uniform(-1e6, 1e6), 1e308, -0.0, 5e-324])
    if k == "str":
        return rng.choice(["", "a" * rng.randint(1, 300), "data:image/jpeg;base64,AAAA", "../../etc/passwd", "\u00ff\u2603",
                           "%s%n", "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace")])
    if k == "bool":
        return rng.random() < 0.5
    if k == "null":
        return None
    if k == "big":
        return int("9" * rng.randint(20, 60))  # within jsonsafe's 64 digits
    if k == "list":
        return [value(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    return {rng.choice(ECHO_FIELDS + ("_meta", "frame", "")): value(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def garbage(rng: random.Random, n: int = 200) -> bytes:
    return rng.randbytes(rng.randint(0, n))


VALID_ECHO = {"text": "hi", "number": 1, "flag": True, "choice": "a", "vec": [1, 2, 3], "items": ["x"],
              "point": [0.5, 0.5], "box": [0, 0, 1, 1], "marks": [[0, 0], [1, 1]], "anything": 1}


def echo_inputs(rng: random.Random) -> dict:
    """Inputs of kitchen_sink's ``echo``, each field valid, missing or of a random type."""
    out = {}
    for k, v in VALID_ECHO.items():
        r = rng.random()
        if r < 0.6:
            out[k] = v
        elif r < 0.9:
            out[k] = value(rng)
    return out


def http_case(rng: random.Random) -> tuple[str, str, dict, bytes]:
    """(method, path, headers, body) of one malformed request that must get a 4xx, never a 500."""
    base = f"/v1/models/{MODEL}"
    kind = rng.randrange(12)
    hdrs = {"Content-Type": rng.choice(CTYPES)}
    if kind == 10:  # bounds: deep JSON, huge integers, NUL bytes, lists where names go
        body = rng.choice([b"[" * 5000 + b"]" * 5000, b'{"number": ' + b"9" * rng.randint(65, 5000) + b"}",
                           json.dumps({"path": "a\u0000b", "text": "\u0000"}).encode(), b'{"text": "a\x00b"}',
                           json.dumps({"command": [1], "_meta": {"command": {"a": []}}}).encode()])
        path = rng.choice(["/query", base + "/commands/echo", base + "/commands/read_file"])  # not /start: it restarts
        return "POST", path, {"Content-Type": "application/json"}, body
    if kind == 11:  # a gzip body that is not gzip, or is cut short
        body = rng.choice([b"\x1f\x8b\x08\x00" + garbage(rng), gzip.compress(b'{"text": "hi"}')[: rng.randint(0, 20)]])
        return "POST", rng.choice(["/query", base + "/commands/echo"]), {"Content-Type": "application/json",
                                                                        "Content-Encoding": "gzip"}, body
    if kind == 0:  # wrong types for every field
        return "POST", base + "/commands/echo", {"Content-Type": "application/json"}, json.dumps(echo_inputs(rng)).encode()
    if kind == 1:  # not JSON at all
        return "POST", rng.choice(["/query", base + "/query", base + "/commands/echo"]), hdrs, garbage(rng)
    if kind == 2:  # JSON but not an object, or cut short
        body = json.dumps(value(rng)).encode()
        if rng.random() < 0.5:
            body = json.dumps(echo_inputs(rng)).encode()[: rng.randint(0, 40)]
        return "POST", rng.choice(["/query", base + "/commands/echo"]), hdrs, body
    if kind == 3:  # an image body that is not an image
        ctype = rng.choice(["image/jpeg", "image/png", "application/octet-stream"])
        return "POST", base + "/commands/invert", {"Content-Type": ctype}, JPEG * rng.randint(0, 1) + garbage(rng)
    if kind == 4:  # a data URI or base64 string that is not an image
        img = rng.choice(["data:image/jpeg;base64,", "data:image/png;base64,", "", "data:"]) + \
            base64.b64encode(JPEG + garbage(rng)).decode()[: rng.randint(1, 200)]
        return "POST", rng.choice(["/query", base + "/commands/invert"]), {}, json.dumps({"image": img}).encode()
    if kind == 5:  # unknown models, commands and routes (a few fixed names: metric series are item 4)
        path = rng.choice(["/v1/models/nope/query", f"{base}/commands/nope", "/v1/models/%00", f"{base}/%2e%2e/x",
                           "/v1/models/" + "a" * 2000, "/socket.io/?EIO=9", "/stream?format=gif", "/" + "x/" * 50])
        return rng.choice(["GET", "POST", "PUT", "DELETE", "PATCH"]), path, hdrs, garbage(rng, 40)
    if kind == 6:  # a huge header
        return "GET", rng.choice(["/healthz", base]), {"X-Junk": "j" * rng.choice([100, 9000, 20000])}, b""
    if kind == 7:  # output formats that do not exist
        fmt = rng.choice(["image=GIF", "=", "image", "image=PNG,mask", ",,,", "image=" + "P" * 500])
        return "POST", base + "/commands/invert", {"X-Runway-Output-Format": fmt, "Content-Type": "image/jpeg"}, JPEG
    if kind == 8:  # a valid call with junk query parameters and methods
        return rng.choice(["GET", "POST"]), f"{base}/commands/echo?format={rng.randint(0, 9)}&token=&x=%ff", hdrs, b"{}"
    return "POST", "/query", {"Content-Type": "application/json"}, json.dumps({"image": value(rng)}).encode()


def ws_message(rng: random.Random) -> bytes | str:
    """One malformed WebSocket message (a header with wrong field types, sizes that lie, junk)."""
    kind = rng.randrange(6)
    if kind == 0:
        return json.dumps({"frame": value(rng), "command": rng.choice([None, "echo", value(rng)]),
                           "inputs": rng.choice([echo_inputs(rng), value(rng)])})
    if kind == 1:
        return rng.choice(["", "{", "null", "[]", "\x00", "{" * 100]) + garbage(rng, 20).decode("latin-1")
    if kind == 2:
        return garbage(rng)
    parts = [{rng.choice(["name", "format", "size", "shape", "x"]): value(rng) for _ in range(rng.randint(0, 4))}
             for _ in range(rng.randint(0, 3))]
    if kind == 3:
        parts = [{"name": "image", "format": rng.choice(["jpeg", "png", "raw", "gif"]), "size": rng.randint(-2, 300),
                  **({"shape": [rng.randint(-1, 20) for _ in range(rng.randint(0, 4))]} if rng.random() < 0.5 else {})}]
    head = json.dumps({"frame": rng.randint(0, 99), "inputs": echo_inputs(rng), "binary": parts}).encode()
    n = len(head) if kind != 5 else rng.choice([0, len(head) + 1, 2**32 - 1, len(head) - 1])
    tail = JPEG + garbage(rng, 300) if rng.random() < 0.5 else garbage(rng, 300)
    return struct.pack(">I", n) + head + tail


def osc_string(s: bytes) -> bytes:
    return s + b"\0" * (4 - len(s) % 4)


def osc_datagram(rng: random.Random) -> bytes:
    """Random bytes, or OSC messages with bad type tags, lying sizes and bad JSON to /query."""
    kind = rng.randrange(5)
    if kind == 0:
        return garbage(rng, 400)
    addr = rng.choice([b"/query", b"/server/connect", b"/info", b"/kitchen_sink/query", b"/v1/models/kitchen_sink/query",
                       b"/x", b"", b"/" + rng.randbytes(8), b"#bundle"])
    if kind == 1:  # bad or lying type tags
        tags = b"," + bytes(rng.choice(b"ifsbhdtTFNIcrm[]?") for _ in range(rng.randint(0, 8)))
        return osc_string(addr) + osc_string(tags) + garbage(rng, 40)
    if kind == 2:  # /query with JSON that is not valid inputs
        text = json.dumps(rng.choice([echo_inputs(rng), value(rng)]))[: rng.randint(0, 400)]
        return osc_string(addr) + osc_string(b",s") + osc_string(text.encode())
    if kind == 3:  # a blob whose length lies
        return osc_string(addr) + osc_string(b",b") + struct.pack(">i", rng.choice([-1, 2**31 - 1, 1000])) + garbage(rng, 20)
    # a bundle whose element sizes lie
    return b"#bundle\0" + struct.pack(">Q", 1) + struct.pack(">i", rng.choice([-4, 0, 4, 16, 10**6])) + garbage(rng, 60)


def engineio_packet(rng: random.Random) -> str | bytes:
    """A raw engine.io / Socket.IO v4 packet over the WebSocket transport, mostly malformed."""
    kind = rng.randrange(6)
    if kind == 0:
        return garbage(rng, 100)
    if kind == 1:  # any engine.io type digit, junk after it
        return str(rng.randrange(10)) + garbage(rng, 40).decode("latin-1")
    if kind == 2:  # Socket.IO packet types with junk namespaces, ids and JSON
        ns = rng.choice(["", "/", "/nope,", "/kitchen_sink,", "/" + "x" * 300 + ","])
        return "4" + str(rng.randrange(7)) + ns + str(rng.choice(["", 1, 99999999999])) + json.dumps(value(rng))
    if kind == 3:  # events with wrong argument shapes
        return "42" + json.dumps([rng.choice(["query", "info", "data", "error", "", 7]), value(rng), value(rng)])
    if kind == 4:  # a binary event announcing a few attachments (huge counts: test_known_findings)
        return f"45{rng.randint(0, 3)}-" + json.dumps(["query", {"image": {"_placeholder": True, "num": rng.randint(-1, 5)}}])
    return rng.choice(["2", "3", "5", "6", "1", "40", "41", "40{}", '40{"token": 5}', "4" + "[" * 200])
