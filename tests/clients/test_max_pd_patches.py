"""The Max and Pure Data patches, read from their own files and replayed with liblo's oscsend.

Max and Pd cannot run here. The tests parse the patch files (Max's JSON, Pd's text format), take
the exact OSC messages and ports they contain and the addresses their [route] objects expect,
replay the messages against a real daemon with `oscsend`, and check with `oscdump` that replies
arrive at those addresses with the argument types the patch unpacks.
"""

from __future__ import annotations

import json
import re
import shlex
import time

import pytest
from liblo_peer import OscDump, oscsend

from runway_bridge.config import Config

from conftest import ROOT

MAXPAT = ROOT / "examples" / "max" / "runway_bridge_osc.maxpat"
PDPATCH = ROOT / "examples" / "puredata" / "runway_bridge_osc.pd"

# -- Max ---------------------------------------------------------------------------------------


def max_patch():
    patcher = json.loads(MAXPAT.read_text())["patcher"]
    boxes = {b["box"]["id"]: b["box"] for b in patcher["boxes"]}
    lines = [(ln["patchline"]["source"], ln["patchline"]["destination"]) for ln in patcher["lines"]]
    return boxes, lines


def by_class(boxes, name):
    return [b for b in boxes.values() if b.get("maxclass") == "newobj" and b["text"].split()[0] == name]


def max_atoms(text: str) -> list:
    """A Max message box's atoms: ints, floats and symbols (double quotes group, backslash escapes)."""
    out = []
    for tok in shlex.split(text, posix=True):
        if re.fullmatch(r"-?\d+", tok):
            out.append(int(tok))
        elif re.fullmatch(r"-?\d*\.\d*", tok):
            out.append(float(tok))
        else:
            out.append(tok)
    return out


def osc_args(atoms: list) -> tuple[str, list]:
    """Atoms as Max's udpsend sends them: ints 'i', floats 'f', symbols 's'."""
    types = "".join("i" if isinstance(a, int) else "f" if isinstance(a, float) else "s" for a in atoms)
    return types, atoms


def test_max_patch_ports_are_the_bridge_defaults():
    boxes, _ = max_patch()
    (send,) = by_class(boxes, "udpsend")
    (recv,) = by_class(boxes, "udpreceive")
    assert send["text"].split()[1:] == ["127.0.0.1", str(Config().osc_port)] == ["127.0.0.1", "57100"]
    assert recv["text"].split()[1:] == [str(Config().osc_reply_port)] == ["57200"]


def test_max_patch_messages_against_the_daemon(daemon, astronaut_video):
    boxes, lines = max_patch()
    (send,) = by_class(boxes, "udpsend")
    (recv,) = by_class(boxes, "udpreceive")
    sent = [max_atoms(boxes[src[0]]["text"]) for src, dst in lines if dst[0] == send["id"]]
    assert [m[0] for m in sent] == ["/server/connect", "/server/disconnect", "/text_ngram/query"]
    connect, disconnect, query = sent
    assert connect[1:] == disconnect[1:] == [57200]  # the patch's own udpreceive port
    assert osc_args(query[1:])[0] == "s"  # one string of JSON
    assert json.loads(query[1]) == {"prompt": "The ", "length": 80}

    # what [route] after [udpreceive] expects, and how many numbers the box behind each outlet takes
    (route,) = [boxes[dst[0]] for src, dst in lines if src[0] == recv["id"]]
    addresses = route["text"].split()[1:]
    wants = {}
    for src, dst in lines:
        if src[0] == route["id"] and src[1] < len(addresses):
            target = boxes[dst[0]]
            wants[addresses[src[1]]] = (target.get("text") or target["maxclass"]).split()[0]
    assert wants["/pose/landmarks/0/nose"] == "unpack" and wants["/pose/detected"] == "flonum"
    assert wants["/text_ngram/data"] == wants["/error"] == "print"

    d = daemon("pose", "text_ngram", osc=True, args=["--source", f"pose={astronaut_video}"])
    peer = OscDump()  # stands in for [udpreceive 57200]
    try:
        oscsend(d.osc_port, "/server/connect", "i", peer.port)
        types, args = osc_args(query[1:])
        oscsend(d.osc_port, query[0], types, *args)
        peer.wait(lambda: all(peer.messages(a) for a in addresses if "error" not in a), 60)
        for address, kind in wants.items():
            if kind == "unpack":  # [unpack f f]: two floats
                assert peer.messages(address)[-1][0] == "ff", address
            elif kind == "flonum":
                assert peer.messages(address)[-1][0] == "f", address
        nose = [float(v) for v in peer.messages("/pose/landmarks/0/nose")[-1][1].split()]
        assert 0.35 < nose[0] < 0.55 and 0.15 < nose[1] < 0.35  # on the astronaut's face
        assert peer.messages("/pose/detected")[-1][1] == "1.000000"
        text = peer.strings("/text_ngram/data")[0]["text"]
        assert text.startswith("The ") and len(text) == 84

        oscsend(d.osc_port, query[0], "s", '{"prompt": "x", "length": 99999}')  # out of range
        err = peer.wait(lambda: peer.strings("/text_ngram/error"))[0]
        assert "length" in err["error"] and err["status"] == 400

        oscsend(d.osc_port, disconnect[0], "i", peer.port)
        time.sleep(0.5)
        before = len(peer.lines)
        time.sleep(1.0)
        assert len(peer.lines) == before
    finally:
        peer.close()


# -- Pure Data ---------------------------------------------------------------------------------


def pd_patch():
    """Objects (index -> [kind, name, args...]) and connections of a Pd patch (one canvas)."""
    objects, connects = [], []
    for rec in re.split(r"(?<!\\);\s*\n", PDPATCH.read_text()):
        words = rec.split()
        if not words or words[0] != "#X":
            continue
        if words[1] == "connect":
            connects.append(tuple(int(w) for w in words[2:6]))
        elif words[1] in ("obj", "msg", "text", "floatatom", "symbolatom"):
            objects.append([words[1], *words[4:]])
    return objects, connects


def test_pd_patch_against_the_daemon(daemon, astronaut_video):
    objects, connects = pd_patch()

    def outs(i, outlet=None):
        return [(b, o) for a, o_, b, o in connects if a == i and (outlet is None or o_ == outlet)]

    find = {" ".join(o[1:]): i for i, o in enumerate(objects) if o[0] in ("obj", "msg")}
    netsend = find["netsend -u -b"]
    assert objects[find["connect 127.0.0.1 57100"]][0] == "msg"
    assert outs(find["connect 127.0.0.1 57100"]) == [(netsend, 0)]
    assert Config().osc_port == 57100
    receive = find[f"netreceive -u -b {Config().osc_reply_port}"]  # 57200, the daemon's default

    # every [oscformat] reaches netsend through [list prepend send] -> [list trim]
    formats = {i: "/" + "/".join(o[2:]) for i, o in enumerate(objects) if o[1] == "oscformat"}
    assert sorted(formats.values()) == ["/server/connect", "/server/disconnect"]
    for i in formats:
        (prep, _), = outs(i)
        assert objects[prep][1:] == ["list", "prepend", "send"]
        (trim, _), = outs(prep)
        assert outs(trim) == [(netsend, 0)]
        feeders = [a for a, _, b, _ in connects if b == i]
        assert [objects[a][1:] for a in feeders] == [["bang"]]  # sent with no arguments

    # the addresses the [route] chain after [oscparse] picks out, and the floats it unpacks
    (parse, _), = outs(receive)
    assert objects[parse][1:] == ["oscparse"]
    expected: dict[str, str] = {}

    def walk(i, path):
        o = objects[i]
        if o[1] == "list" and o[2] == "trim":
            for b, _ in outs(i):
                walk(b, path)
        elif o[1] == "route":
            for k, name in enumerate(o[2:]):
                for b, _ in outs(i, k):
                    walk(b, path + [name])
        elif o[1] == "unpack":
            expected["/" + "/".join(path)] = "f" * len(o[2:])
        elif o[0] == "floatatom":
            expected["/" + "/".join(path)] = "f"

    for b, _ in outs(parse):
        walk(b, [])
    assert expected == {"/pose/landmarks/0/nose": "ff", "/pose/landmarks/0/left_wrist": "ff",
                        "/pose/landmarks/0/right_wrist": "ff", "/pose/detected": "f"}

    peer = OscDump()  # stands in for [netreceive -u -b 57200]: the daemon's reply port points at it
    try:
        d = daemon("pose", osc=True, args=["--source", f"pose={astronaut_video}",
                                           "--osc-reply-port", str(peer.port)])
        oscsend(d.osc_port, "/server/connect")  # [oscformat server connect] after a bang
        peer.wait(lambda: all(peer.messages(a) for a in expected), 60)
        for address, types in expected.items():
            assert peer.messages(address)[-1][0] == types, address
        oscsend(d.osc_port, "/server/disconnect")
        time.sleep(0.5)
        before = len(peer.lines)
        time.sleep(1.0)
        assert len(peer.lines) == before
    finally:
        peer.close()


@pytest.fixture
def astronaut_video(tmp_path, astronaut):
    import cv2

    path = tmp_path / "astronaut.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, astronaut.shape[1::-1])
    for _ in range(10):
        w.write(cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    w.release()
    return path
