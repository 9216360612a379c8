"""Messages between the daemon and a model worker, grouped by direction (after cog's eventtypes).

Each crosses the socket as one pickle (protocol 5): a frame is a `types.Blob` inside the message,
so it costs one bytes transfer and no base64. Errors travel as `errors.BridgeError`, which pickles.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import BridgeError
from ..types import DecodeContext

__all__ = ["Setup", "Call", "Cancel", "Shutdown", "Loaded", "Ready", "Partial", "Done", "Failed", "Log",
           "DOWN", "UP"]

PROTOCOL = 5


# -- down: daemon -> worker -----------------------------------------------------------------

@dataclass
class Setup:
    options: dict
    ctx: DecodeContext | None = None
    gpu: bool = False  # what the card and environment allow; the model may say otherwise


@dataclass
class Call:
    id: int
    command: str
    inputs: dict
    binary: bool = False
    formats: dict | None = None
    partials: bool = False  # send `Partial` for each step of a generator
    batch: bool = False  # `inputs` is a list for a batching command; `Done.outputs` is a list


@dataclass
class Cancel:
    id: int  # stops a generator between its steps, or drops a call still queued in the worker


@dataclass
class Shutdown:
    pass


DOWN = (Setup, Call, Cancel, Shutdown)


# -- up: worker -> daemon -------------------------------------------------------------------

@dataclass
class Loaded:
    manifest: dict  # the model file imported; sent once, before setup


@dataclass
class Ready:
    gpu: bool = False  # setup succeeded


@dataclass
class Partial:
    id: int
    outputs: dict
    index: int


@dataclass
class Done:
    id: int
    outputs: dict
    timings: dict = field(default_factory=dict)


@dataclass
class Failed:
    id: int | None  # None: loading or setup failed
    error: BridgeError


@dataclass
class Log:
    stream: str  # "stdout" | "stderr"
    text: str


UP = (Loaded, Ready, Partial, Done, Failed, Log)
