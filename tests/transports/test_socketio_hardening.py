"""Socket.IO hardening (issue 10): each test is one finding, reproduced with raw Engine.IO long
polling against a real daemon. On the daemon before the fix each of them fails."""

from __future__ import annotations

import base64
import json
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import pytest
from skimage import data as skdata

from conftest import launch_daemon

SMALL = cv2.imencode(".jpg", cv2.cvtColor(skdata.astronaut()[::4, ::4], cv2.COLOR_RGB2BGR))[1].tobytes()
URI = "data:image/jpeg;base64," + base64.b64encode(SMALL).decode()


def query(frame: str) -> str:
    """A ``query`` event packet with a small JPEG and `frame` as raw JSON."""
    return '42["query",{"image":"' + URI + '","frame":' + frame + "}]"


@pytest.fixture(scope="module")
def daemon():
    folder = Path(tempfile.mkdtemp(prefix="sio-hard-"))
    (folder / "fast.toml").write_text("socketio_ping_interval = 1.0\nsocketio_ping_timeout = 2.0\n")
    d = launch_daemon(folder, "identity", args=["--backend", "identity=local", "--max-body", "300000",
                                                "--config", str(folder / "fast.toml")])
    yield d
    d.stop()


class Polling:
    """One Engine.IO long-polling session by hand (protocol 4, or 3 with ``eio=3``)."""

    def __init__(self, base: str, eio: int = 4, connect: bool = True):
        self.eio, self.events = eio, []
        self.base = f"{base}/socket.io/?EIO={eio}&transport=polling"
        with urllib.request.urlopen(self.base, timeout=5) as r:
            first = self._split(r.read().decode())
        self.sid = json.loads(first[0][1:])["sid"]
        self.url = f"{self.base}&sid={self.sid}"
        self._take(first[1:])
        if connect and eio == 4:
            self.post("40")
        self.wait("info")

    def _split(self, body: str) -> list[str]:
        if self.eio == 4:
            return body.split("\x1e")
        out = []
        while body:
            n, _, body = body.partition(":")
            out.append(body[:int(n)])
            body = body[int(n):]
        return out

    def _take(self, packets: list[str]) -> None:
        self.pongs = getattr(self, "pongs", 0) + packets.count("3")
        for p in packets:
            if p.startswith("42"):
                self.events.append(json.loads(p[2:]))
            elif p == "2":  # the server's ping (protocol 4)
                self.post("3")

    def post(self, *packets) -> int:
        """Packets: str, or bytes (sent as ``b<base64>``)."""
        enc = [p if isinstance(p, str) else "b" + ("4" if self.eio == 3 else "") + base64.b64encode(p).decode()
               for p in packets]
        body = "\x1e".join(enc) if self.eio == 4 else "".join(f"{len(p)}:{p}" for p in enc)
        req = urllib.request.Request(self.url, data=body.encode(), method="POST",
                                     headers={"Content-Type": "text/plain;charset=UTF-8"})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    def poll(self) -> None:
        if self.eio == 3:  # protocol 3: the client pings
            self.post("2")
        with urllib.request.urlopen(self.url, timeout=10) as r:
            self._take(self._split(r.read().decode()))

    def wait(self, name: str, timeout: float = 10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, (ev, *args) in enumerate(self.events):
                if ev == name:
                    del self.events[i]
                    return args[0] if args else None
            self.poll()
        raise AssertionError(f"no {name!r} event within {timeout} s; got {self.events}")

    def close(self) -> None:
        self.post("1")


def streams(daemon) -> int:
    return len(daemon.get("/v1/models/identity")[2]["status"]["streams"])


@pytest.mark.parametrize("eio", [4, 3])
def test_event_named_connect_does_not_rerun_the_connect_handler(daemon, eio):
    """Finding: ``emit('connect')`` re-ran the connect handler: a new stream, subscription and
    ``info`` each time (20,000 streams in 3 s)."""
    before = streams(daemon)
    s = Polling(daemon.url, eio)
    s.post(*['42["connect"]'] * 10, '40')  # the event 10 times, and a second CONNECT packet
    assert "reserved event name" in s.wait("error")["error"]
    s.post(query('1'))
    assert s.wait("data")["_meta"]["frame"] == 1
    assert not [e for e in s.events if e[0] == "info"], "the connect handler ran again"
    assert streams(daemon) == before + 1
    s.close()


def test_event_named_disconnect_does_not_detach_the_client(daemon):
    """Finding: ``emit('disconnect')`` silently detached the client; its queries went unanswered."""
    s = Polling(daemon.url)
    s.post('42["disconnect"]')
    assert "reserved event name" in s.wait("error")["error"]
    s.post(query('"still here"'))
    assert s.wait("data")["_meta"]["frame"] == "still here"
    s.close()


def test_binary_packet_announcing_huge_attachment_counts_is_refused(daemon):
    """Finding: a binary event announcing billions of attachments buffered every one (+1 GB in 9 s)."""
    s = Polling(daemon.url)
    s.post('451000000-["query",{"image":{"_placeholder":true,"num":0}}]', SMALL, SMALL)
    assert "at most 16 binary attachments" in s.wait("error")["error"]
    s.post('451-["query",{"image":{"_placeholder":true,"num":0},"frame":"ok"}]', SMALL)  # still served
    assert s.wait("data")["_meta"]["frame"] == "ok"
    s.close()


def test_attachment_bytes_of_one_event_are_capped(daemon):
    """Attachments are counted as they arrive: two of 200 KB exceed the 300 KB body limit."""
    s = Polling(daemon.url)
    s.post('452-["query",{"image":{"_placeholder":true,"num":0},"x":{"_placeholder":true,"num":1}}]',
           b"\xff" * 200_000)
    s.post(b"\xff" * 200_000)
    assert "attachments of one event exceed 300000 bytes" in s.wait("error")["error"]
    s.close()


@pytest.mark.parametrize("frame", ["[" * 40 + "]" * 40, json.dumps("x" * 10_000), '{"a":1}', "true", "1e400"],
                         ids=["nested", "long", "object", "bool", "infinite"])
def test_frame_ids_are_short_strings_or_numbers(daemon, frame):
    """Finding: a frame id nested ~500 deep killed result delivery; ids are echoed in every result,
    so only numbers and strings of at most 128 characters are taken."""
    s = Polling(daemon.url)
    s.post(query(frame))
    err = s.wait("error")
    assert "frame id must be a number or a string" in err["error"] and err["_meta"]["frame"] is None
    s.close()


def test_client_json_is_bounded_in_depth_and_integer_size(daemon):
    """Event JSON goes through runway_bridge.jsonsafe: too deep or huge integers are an error
    event, not a RecursionError traceback in the log."""
    s = Polling(daemon.url)
    s.post('42["query",' + "[" * 100_000 + "]" * 100_000 + "]")
    assert "nests deeper than 64" in s.wait("error")["error"]
    s.post(query("9" * 5000))
    assert "more than 64 digits" in s.wait("error")["error"]
    s.post(query('2'))
    assert s.wait("data")["_meta"]["frame"] == 2
    s.close()
    assert "Traceback" not in daemon.output()


@pytest.mark.parametrize("eio", [4, 3])
def test_abandoned_long_polling_sessions_release_their_streams(daemon, eio):
    """Finding: a long-polling client that just stops (no close packet) kept its stream. With a
    1 s ping interval and 2 s timeout the daemon releases it within seconds (default: 45 s)."""
    before = streams(daemon)
    Polling(daemon.url, eio)  # connected, got info, then never heard from again
    assert streams(daemon) == before + 1
    deadline = time.monotonic() + 20
    while streams(daemon) > before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert streams(daemon) == before


@pytest.mark.parametrize("eio,packets", [(4, ["3"] * 17), (4, ["2"]), (4, [""]), (3, ["2"] * 65)],
                         ids=["v4-too-many", "v4-client-ping", "v4-empty", "v3-too-many"])
def test_bad_polling_payloads_are_a_400_not_a_traceback_or_a_hang(daemon, eio, packets):
    """python-engineio logged a traceback per oversized payload and answered 200, and a client
    ping (protocol 4 has none) left the POST hanging until the client polled again."""
    s = Polling(daemon.url, eio)
    assert s.post(*packets) == 400
    assert "Traceback" not in daemon.output()


def test_a_ping_flood_cannot_grow_an_engineio3_session_queue(daemon):
    """Protocol 3 clients ping; each ping queues a pong. 300 pings without polling leave at most
    64 packets waiting, not 300."""
    s = Polling(daemon.url, 3)
    s.pongs = 0
    for _ in range(5):
        assert s.post(*["2"] * 60) == 200
    with urllib.request.urlopen(s.url, timeout=10) as r:
        s._take(s._split(r.read().decode()))
    assert 0 < s.pongs <= 64
    s.close()
