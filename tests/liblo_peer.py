"""liblo's `oscdump` and `oscsend` (Debian liblo-tools) as an independent OSC peer for tests."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time

from conftest import free_port


class OscDump:
    """`oscdump` on a free UDP port, its lines collected by a thread."""

    def __init__(self):
        self.port = free_port(socket.SOCK_DGRAM)
        self.proc = subprocess.Popen(["oscdump", "-L", str(self.port)], stdout=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        self.wait(lambda: (oscsend(self.port, "/ready"), any("/ready" in ln for ln in self.lines))[1], 5)

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def messages(self, address: str) -> list[tuple[str, str]]:
        """(types, rest of the line) of each message at exactly `address`."""
        out = []
        for line in list(self.lines):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] == address:
                out.append((parts[2], parts[3] if len(parts) > 3 else ""))
        return out

    def strings(self, address: str) -> list[dict]:
        return [json.loads(rest[1:-1]) for types, rest in self.messages(address) if types == "s"]

    def wait(self, cond, timeout: float = 15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = cond()
            if got:
                return got
            time.sleep(0.05)
        raise AssertionError("timed out; oscdump saw:\n" + "\n".join(self.lines[-30:]))

    def close(self):
        self.proc.terminate()
        self.proc.wait(5)


def oscsend(port: int, address: str, types: str = "", *values) -> None:
    subprocess.run(["oscsend", "127.0.0.1", str(port), address, types, *map(str, values)], check=True, timeout=10)
