"""The worker side of the process backend: load one adapter, then serve `_worker_events` on a socket.

Runs in a fresh interpreter started by `process.ProcessBackend`; nothing here runs in the daemon.
The daemon sends a call while the one before it runs (pipelining), so messages are read into a
queue whenever the worker looks: before each call and between the steps of a generator. Calls run
one by one in the order they came; a `Cancel` stops the running generator or drops a queued call.
"""

from __future__ import annotations

import faulthandler
import io
import pickle
import signal
import sys
import threading
from collections import deque
from multiprocessing.connection import Connection

from ..errors import BridgeError, InferenceError
from ..model import load_model
from ._worker_events import PROTOCOL, Call, Cancel, Done, Failed, Loaded, Log, Partial, Ready, Setup, Shutdown


class _Stop(Exception):
    """A `Cancel` of the running call or a `Shutdown` arrived between two steps of a generator."""


class _LogStream(io.TextIOBase):
    """The model's prints, forwarded line by line as `Log` events (cog does the same)."""

    def __init__(self, send, name: str):
        self._send, self.name, self._buf = send, name, ""

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        self._buf += s
        if "\n" in self._buf:
            lines, _, self._buf = self._buf.rpartition("\n")
            self._emit(lines)
        return len(s)

    def flush(self) -> None:
        if self._buf:
            self._emit(self._buf)
            self._buf = ""

    def _emit(self, text: str) -> None:
        try:
            self._send(Log(self.name, text))
        except (OSError, ValueError):
            pass


class Worker:
    def __init__(self, conn: Connection):
        self.conn = conn
        self._lock = threading.Lock()  # the model's own threads may print while we answer
        self.shutdown = False
        self.queue: deque[Call] = deque()  # calls that came while another ran
        self.running: int | None = None
        self.cancelled = False  # the running call's

    def send(self, ev) -> None:
        buf = pickle.dumps(ev, protocol=PROTOCOL)
        with self._lock:
            self.conn.send_bytes(buf)

    def recv(self):
        return pickle.loads(self.conn.recv_bytes())

    def take(self, msg) -> None:
        """File one message from the daemon that is not a `Setup`."""
        if isinstance(msg, Call):
            self.queue.append(msg)
        elif isinstance(msg, Shutdown):
            self.shutdown = True
        elif isinstance(msg, Cancel):
            if msg.id == self.running:
                self.cancelled = True
                return
            queued = next((c for c in self.queue if c.id == msg.id), None)
            if queued is not None:  # else it has already been answered
                self.queue.remove(queued)
                self.send(Failed(queued.id, BridgeError(f"{queued.command} was cancelled before it ran")))

    def drain(self) -> None:
        """Read what has arrived, without waiting."""
        while self.conn.poll(0):
            self.take(self.recv())

    def check_stop(self) -> None:
        """Between generator steps: read what arrived meanwhile; stop on a Cancel or Shutdown."""
        self.drain()
        if self.shutdown or self.cancelled:
            raise _Stop

    def call(self, model, state, ctx, msg: Call) -> None:
        def partial(out, i):
            if msg.partials:
                self.send(Partial(msg.id, out, i))
            self.check_stop()

        timings: dict = {}
        self.running, self.cancelled = msg.id, False
        try:
            if msg.batch:
                out = model.run_batch(state, msg.command, msg.inputs, ctx=ctx, formats=msg.formats,
                                      binary=msg.binary, timings=timings)
            else:
                out = model.run_command(state, msg.command, msg.inputs, ctx=ctx, formats=msg.formats,
                                        binary=msg.binary, timings=timings, on_partial=partial)
        except _Stop:
            self.send(Failed(msg.id, BridgeError(f"{msg.command} was cancelled")))
            return
        except BridgeError as e:
            self.send(Failed(msg.id, e))
            return
        except Exception as e:  # run_command wraps the model's errors; this is a bug of ours
            self.send(Failed(msg.id, InferenceError(f"{msg.command} failed: {type(e).__name__}: {e}")))
            return
        finally:
            self.running = None
        try:
            self.send(Done(msg.id, out, timings))
        except (pickle.PicklingError, TypeError, AttributeError) as e:
            self.send(Failed(msg.id, InferenceError(f"{msg.command} returned outputs that cannot leave the "
                                                    f"worker: {type(e).__name__}: {e}")))


def limit_memory(limit: int) -> None:
    """Cap this process's address space (the card's ``[process] memory``) before the model loads."""
    if limit <= 0:
        return
    try:
        import resource
    except ImportError:  # Windows: no rlimits; the limit is not enforced there
        print(f"[process] memory: no resource limits on {sys.platform}; not enforced", file=sys.stderr)
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def main(fd: int, path: str, memory: int = 0) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is for the daemon, which stops us itself
    limit_memory(memory)
    faulthandler.enable(sys.__stderr__)  # a native crash leaves a Python traceback in the daemon's log
    w = Worker(Connection(fd))
    sys.stdout, sys.stderr = _LogStream(w.send, "stdout"), _LogStream(w.send, "stderr")
    try:
        model = load_model(path)
    except BridgeError as e:
        w.send(Failed(None, e))
        return
    w.send(Loaded(model.manifest()))
    state = ctx = None
    while not w.shutdown:
        try:
            if w.queue:
                w.drain()  # a Cancel for the next call may be here already
                if w.queue and not w.shutdown:
                    w.call(model, state, ctx, w.queue.popleft())
                continue
            msg = w.recv()
        except (EOFError, OSError):  # the daemon went away
            return
        if isinstance(msg, Setup):
            ctx = msg.ctx
            try:
                state = model.run_setup(msg.options, ctx)
            except BridgeError as e:
                w.send(Failed(None, e))
                continue
            gpu = getattr(model.module, "GPU", None)  # a model that knows (e.g. from ONNX providers) says so
            w.send(Ready(bool(msg.gpu if gpu is None else gpu)))
        else:
            w.take(msg)
    sys.stdout.flush()
    sys.stderr.flush()
