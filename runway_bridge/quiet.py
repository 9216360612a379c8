"""Keep the native libraries' start-up chatter off the terminal (unless ``--debug``).

TensorFlow Lite prints "Created TensorFlow Lite XNNPACK delegate" and MediaPipe's absl logging
prints "All log messages before absl::InitializeLog()" and ``W0000 ...`` lines, straight to file
descriptor 2 from C++, where no Python setting reaches. So descriptor 2 becomes a pipe whose
reader drops those lines (informational and warning ones only; errors pass) and copies the rest
to the real stderr. Python's own ``sys.stderr`` keeps writing to the real stderr directly, so
nothing Python says (tracebacks, exit messages) can be lost or delayed by the filter.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading

__all__ = ["NOISE", "install"]

NOISE = re.compile(
    rb"^(INFO: Created TensorFlow Lite"
    rb"|INFO: Initialized TensorFlow Lite"
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|[IW]\d{4} [\d:.]+ +\d+ [\w./-]+:\d+\] )"
)
_installed = False


def install() -> None:
    """Filter descriptor 2 for the rest of this process (and the workers it starts)."""
    global _installed
    if _installed:
        return
    _installed = True
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's own logging, where it is used
    os.environ.setdefault("GLOG_minloglevel", "2")
    logging.getLogger("matplotlib").setLevel(logging.ERROR)  # "building the font cache"
    try:
        real = os.dup(2)
        r, w = os.pipe()
        os.dup2(w, 2)
        os.close(w)
    except OSError:
        return
    sys.stderr.flush()
    sys.stderr = open(real, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8",  # noqa: SIM115
                      errors="backslashreplace", closefd=False)

    def pump() -> None:
        with open(r, "rb", buffering=0) as src:
            for line in iter(src.readline, b""):
                if not NOISE.match(line):
                    os.write(real, line)

    threading.Thread(target=pump, name="stderr-filter", daemon=True).start()
