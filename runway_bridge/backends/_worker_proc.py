"""The daemon's handle on one worker process: start it, read from it on a thread, write to it.

Why a plain `subprocess` with a boot line and not multiprocessing's spawn, and why frames cross
as bytes: see `process`, whose backend owns these.
"""

from __future__ import annotations

import asyncio
import pickle
import signal
import socket
import subprocess
import threading
from multiprocessing.connection import Connection
from pathlib import Path

from ._worker_events import PROTOCOL, Log, Shutdown

__all__ = ["Exited", "Worker", "describe_exit"]

_PKG = Path(__file__).resolve().parent.parent  # the runway_bridge folder
_BOOT = (
    "import importlib.util as u, sys\n"
    "s = u.spec_from_file_location('runway_bridge', sys.argv[1] + '/__init__.py', submodule_search_locations=[sys.argv[1]])\n"
    "m = sys.modules['runway_bridge'] = u.module_from_spec(s)\n"
    "s.loader.exec_module(m)\n"
    "from runway_bridge.backends._worker import main\n"
    "main(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))\n"
)
_INLINE = 128 * 1024  # below the socket buffer: the one call that may wait there unread, behind the
# running one, never blocks the write

def describe_exit(code: int | None) -> str:
    """A worker's exit status in words, for the error a client sees."""
    if code is None:
        return "closed its connection"
    if code >= 0:
        return f"exited with code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    if name == "SIGABRT":
        return "aborted (SIGABRT)"
    if name == "SIGSEGV":
        return "crashed with SIGSEGV (a fault in native code)"
    return f"killed by {name}{' (out of memory?)' if name == 'SIGKILL' else ''}"


class Exited:
    def __init__(self, code: int | None):
        self.code = code


class Worker:
    """One worker process, its socket, and the thread that reads from it."""

    def __init__(self, python: str, path: Path, on_event, loop: asyncio.AbstractEventLoop, memory: int = 0):
        self.python, self.path, self.on_event, self.loop, self.memory = python, path, on_event, loop, memory
        self.proc: subprocess.Popen | None = None
        self.conn: Connection | None = None
        self._send_lock = threading.Lock()

    def launch(self) -> None:
        ours, theirs = socket.socketpair()
        try:
            self.proc = subprocess.Popen(
                [self.python, "-c", _BOOT, str(_PKG), str(theirs.fileno()), str(self.path), str(self.memory)],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()  # the worker holds its end now; ours sees EOF when it dies
        self.conn = Connection(ours.detach())
        threading.Thread(target=self._read, daemon=True, name=f"worker-{self.proc.pid}").start()

    def _read(self) -> None:
        while True:
            try:
                ev = pickle.loads(self.conn.recv_bytes())
            except (EOFError, OSError):
                break
            except Exception as e:  # e.g. an exception class the daemon cannot import
                ev = Log("stderr", f"unreadable message from the worker: {type(e).__name__}: {e}")
            self._post(ev)
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # closed its socket but lives on: useless, end it
            self.proc.kill()
            code = self.proc.wait()
        self.conn.close()
        self._post(Exited(code))

    def _post(self, ev) -> None:
        try:
            self.loop.call_soon_threadsafe(self.on_event, self, ev)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            pass

    def send_bytes(self, buf: bytes) -> None:
        with self._send_lock:
            self.conn.send_bytes(buf)

    def send_quietly(self, msg) -> None:
        """Send from a thread, ignoring a dead worker (its reader thread reports the death)."""
        try:
            self.send_bytes(pickle.dumps(msg, protocol=PROTOCOL))
        except OSError:
            pass

    async def send(self, msg) -> None:
        buf = pickle.dumps(msg, protocol=PROTOCOL)
        if len(buf) <= _INLINE and self._send_lock.acquire(blocking=False):
            try:
                self.conn.send_bytes(buf)
            finally:
                self._send_lock.release()
        else:
            await self.loop.run_in_executor(None, self.send_bytes, buf)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()

    def close(self, timeout: float = 2.0) -> None:
        """Ask the worker to exit; kill it when it does not within `timeout` (blocking)."""
        if self.proc is None:
            return
        self.send_quietly(Shutdown())
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
