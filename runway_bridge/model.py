"""`Model`: the setup options and commands of one model, and its manifest. No server code here.

Authors never build a `Model` themselves: the module-level decorators register onto the model
being loaded (`load_model`) or, in a script run as ``python model.py``, onto a process default::

    from runway_bridge import setup, command, image, run

    @setup(options={'blur': number(default=3, min=1, max=31)})
    def setup(opts):
        return opts['blur']

    @command('blur', inputs={'image': image()}, outputs={'image': image()})
    def blur(k, inputs):
        return cv2.blur(inputs['image'], (int(k), int(k)))

    if __name__ == '__main__':
        run()
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import (
    BadInput,
    BridgeError,
    InferenceError,
    InvalidArgumentError,
    MissingInputError,
    MissingOptionError,
    NotFound,
    SetupError,
)
from .types import BaseType, DecodeContext, _as_class_instance, deserialize_value, serialize_value

__all__ = ["Model", "Command", "Outputs", "load_model", "current_model", "setup", "command", "split_progress"]


class Outputs(dict):
    """A command's serialized outputs; `progress` is the one its last step reported, if any."""

    progress: float | None = None


def split_progress(step):
    """A step ``(output, progress)`` into its parts, as the old SDK read generator steps; anything
    else is an output without progress. A pair of numbers stays a value (a point, a 2-vector)."""
    if (isinstance(step, tuple) and len(step) == 2 and isinstance(step[1], (int, float))
            and not isinstance(step[1], bool) and not isinstance(step[0], (int, float))):
        return step[0], step[1]
    return step, None


def _named(fields: dict | None) -> dict[str, BaseType]:
    out = {}
    for name, t in (fields or {}).items():
        t = _as_class_instance(t)
        if not isinstance(t, BaseType):
            raise TypeError(f"{name!r} must be a runway_bridge data type, not {type(t).__name__}")
        t.name = name
        out[name] = t
    return out


def deserialize_fields(fields: dict[str, BaseType], values: dict, ctx: DecodeContext | None, what: str) -> dict:
    """Validate wire values against a schema; missing ones take the type's default or fail."""
    if not isinstance(values, dict):
        raise BadInput(f"expected a JSON object of {what}, got {type(values).__name__}")
    out = {}
    for name, t in fields.items():
        if name in values and values[name] is not None:
            out[name] = deserialize_value(t, values[name], ctx)
        elif t.has_default:
            out[name] = deserialize_value(t, t.default, None) if t.default is not None else t.missing()
        elif what == "options":
            raise MissingOptionError(name)
        else:
            raise MissingInputError(name, f"missing input {name!r} ({t.type})")
    return out


def _authors(cls: type, stage: str, e: Exception) -> BridgeError:
    """An exception from the author's code as the old SDK worded it, with its traceback kept."""
    err = cls(f"Error during {stage}: {e!r}.")
    err.traceback = traceback.format_exc().splitlines()
    return err


def ok(slots: list) -> list:
    """The entries of a batch that are not errors."""
    return [a for a in slots if not isinstance(a, BridgeError)]


def refill(slots: list, results: list) -> list:
    """`results` (one per entry of `ok(slots)`) put back in the places of `slots`, errors kept."""
    it = iter(results)
    return [a if isinstance(a, BridgeError) else next(it) for a in slots]


def _one(cmd, results):
    """The only result of a batching command called on a batch of one."""
    if not isinstance(results, (list, tuple)) or len(results) != 1:
        raise InferenceError(f"{cmd.name} takes a batch: it must return a list of 1 result for 1 input")
    return results[0]


@dataclass
class Command:
    """One typed command: inputs to outputs."""

    name: str
    fn: Callable
    inputs: dict[str, BaseType]
    outputs: dict[str, BaseType]
    description: str | None = None
    batch: int | None = None  # takes a list of inputs, returns a list of outputs, at most this many

    @property
    def is_generator(self) -> bool:
        return inspect.isgeneratorfunction(self.fn)

    def to_dict(self) -> dict:
        d = {
            "name": self.name,
            "description": self.description,
            "inputs": [t.to_dict() for t in self.inputs.values()],
            "outputs": [t.to_dict() for t in self.outputs.values()],
        }
        if self.batch:
            d["batch"] = self.batch  # only then: old clients read the old SDK's four keys
        return d

    def serialize(self, result, formats: dict | None, binary: bool) -> dict:
        """The author's return value to wire outputs; a malformed one is the model's fault (500)."""
        if not isinstance(result, dict) or not set(result) & set(self.outputs):
            if len(self.outputs) != 1:
                raise InferenceError(f"{self.name} returned {type(result).__name__}; expected a dict of {list(self.outputs)}")
            result = {next(iter(self.outputs)): result}
        out = Outputs()
        for name, t in self.outputs.items():
            if name not in result:
                raise InferenceError(f"{self.name} returned no value for its output {name!r}")
            fmt = (formats or {}).get(name) or (formats or {}).get(t.type)
            try:
                out[name] = serialize_value(t, result[name], fmt, binary)
            except InvalidArgumentError as e:
                raise InferenceError(f"{self.name} returned a bad {name!r}: {e.message}") from None
        return out


class Model:
    """A registry of one model's setup function, options and commands."""

    def __init__(self) -> None:
        self.setup_fn: Callable | None = None
        self.options: dict[str, BaseType] = {}
        self.commands: dict[str, Command] = {}

    # -- decorators -----------------------------------------------------------------------
    def setup(self, decorated_fn: Callable | None = None, options: dict | None = None):
        """Register the function that loads the model once; bare or with ``options={...}``."""

        def register(fn):
            self.setup_fn = fn
            self.options = _named(options)
            return fn

        return register(decorated_fn) if decorated_fn is not None else register

    def command(self, name: str, inputs: dict | None = None, outputs: dict | None = None,
                description: str | None = None, batch: int | None = None):
        """Register a command ``fn(model, inputs) -> outputs`` under `name`.

        With ``batch=N`` the function takes a list of up to N input dicts and returns a list of as
        many outputs, in order: the host gathers frames of several streams into one call.
        """
        if not outputs:
            raise ValueError(f"command {name!r} needs at least one output")
        if batch is not None and (not isinstance(batch, int) or isinstance(batch, bool) or not 1 <= batch <= 1024):
            raise ValueError(f"command {name!r}: batch must be an integer from 1 to 1024, not {batch!r}")

        def register(fn):
            if batch and inspect.isgeneratorfunction(fn):
                raise ValueError(f"command {name!r}: a generator cannot take a batch")
            self.commands[name] = Command(name, fn, _named(inputs), _named(outputs), description, batch)
            return fn

        return register

    # -- schema ---------------------------------------------------------------------------
    def manifest(self) -> dict:
        return {
            "options": [t.to_dict() for t in self.options.values()],
            "commands": [c.to_dict() for c in self.commands.values()],
        }

    def get_command(self, name: str) -> Command:
        try:
            return self.commands[name]
        except KeyError:
            raise NotFound(f"unknown command {name!r}; this model has {list(self.commands)}") from None

    # -- running --------------------------------------------------------------------------
    def run_setup(self, options: dict | None = None, ctx: DecodeContext | None = None):
        """Validate the options and call the author's setup; returns what it returned."""
        opts = deserialize_fields(self.options, options or {}, ctx, "options")
        if self.setup_fn is None:
            return None
        try:
            params = inspect.signature(self.setup_fn).parameters
            return self.setup_fn(opts) if params else self.setup_fn()
        except BridgeError:
            raise
        except Exception as e:
            raise _authors(SetupError, "setup", e) from e

    def call(self, state, name: str, inputs: dict, ctx: DecodeContext | None = None):
        """Validate `inputs` (filling defaults) and call the command; returns what the author's
        function returned, unserialized. For testing an adapter: ``m.call(state, 'detect', {...})``."""
        cmd = self.get_command(name)
        args = deserialize_fields(cmd.inputs, inputs, ctx, "inputs")
        return _one(cmd, cmd.fn(state, [args])) if cmd.batch else cmd.fn(state, args)

    # The three stages of a plain command, for a host that runs them on different threads: the
    # codec stages (`decode`, `encode`) on a pool, `infer` on the model's own thread.
    def decode(self, name: str, inputs: dict, ctx: DecodeContext | None = None) -> dict:
        """Validate and decode wire inputs for command `name` (`BadInput` and friends)."""
        return deserialize_fields(self.get_command(name).inputs, inputs, ctx, "inputs")

    def infer(self, state, name: str, args: dict):
        """Call the command on decoded `args`; the author's errors become `InferenceError`."""
        try:
            return self.get_command(name).fn(state, args)
        except BridgeError:
            raise
        except Exception as e:
            raise _authors(InferenceError, "inference", e) from e

    def encode(self, name: str, result, formats: dict | None = None, binary: bool = False) -> Outputs:
        """The author's return value to wire outputs; one that cannot be encoded is the model's fault."""
        try:
            return self.get_command(name).serialize(result, formats, binary)
        except BridgeError:
            raise
        except Exception as e:
            raise InferenceError(f"{name} returned outputs that cannot be encoded: {e!r}") from e

    def decode_or_error(self, name: str, inputs: dict, ctx: DecodeContext | None = None):
        """`decode`, with a bad input's error returned rather than raised: one bad frame of a batch
        fails only itself."""
        try:
            return self.decode(name, inputs, ctx)
        except BridgeError as e:
            return e

    def infer_batch(self, state, name: str, args: list) -> list:
        """A batching command on a list of decoded inputs; it must return as many results."""
        if not args:
            return []
        results = self.infer(state, name, args)
        if not isinstance(results, (list, tuple)) or len(results) != len(args):
            got = f"{len(results)} results" if isinstance(results, (list, tuple)) else type(results).__name__
            raise InferenceError(f"{name} takes a batch: it must return a list of {len(args)} results, not {got}")
        return list(results)

    def encode_or_error(self, name: str, result, formats: dict | None = None, binary: bool = False):
        try:
            return self.encode(name, result, formats, binary)
        except BridgeError as e:
            return e

    def run_batch(self, state, name: str, inputs: list, *, ctx: DecodeContext | None = None,
                  formats: dict | None = None, binary: bool = False, timings: dict | None = None) -> list:
        """Run a batching command once on a list of wire inputs; one entry per input, in order: its
        `Outputs`, or the `BridgeError` of that input alone. A failure of the call itself raises."""
        t = timings if timings is not None else {}
        if not self.get_command(name).batch:
            raise BadInput(f"{name} does not take a batch")
        t0 = time.perf_counter()
        slots = [self.decode_or_error(name, one, ctx) for one in inputs]
        t1 = time.perf_counter()
        results = self.infer_batch(state, name, ok(slots))
        t2 = time.perf_counter()
        out = refill(slots, [self.encode_or_error(name, r, formats, binary) for r in results])
        t["decode"], t["model"] = (t1 - t0) * 1000, (t2 - t1) * 1000
        t["encode"] = (time.perf_counter() - t2) * 1000
        return out

    def iter_command(self, state, name: str, inputs: dict, *, ctx: DecodeContext | None = None,
                     formats: dict | None = None, binary: bool = False,
                     timings: dict | None = None) -> Iterator[Outputs]:
        """Run a command, yielding serialized outputs: once, or once per step of a generator.

        A step may be ``(output, progress)``, as in the old SDK; each yielded `Outputs` carries
        that `progress` (None when the step gave none). `timings` (when given) receives
        ``decode``, ``model`` and ``encode`` in milliseconds.
        """
        t = timings if timings is not None else {}
        t0 = time.perf_counter()
        cmd = self.get_command(name)
        args = deserialize_fields(cmd.inputs, inputs, ctx, "inputs")
        t1 = time.perf_counter()
        t["decode"] = (t1 - t0) * 1000
        t["model"] = t["encode"] = 0.0
        try:
            result = _one(cmd, cmd.fn(state, [args])) if cmd.batch else cmd.fn(state, args)
            t["model"] += (time.perf_counter() - t1) * 1000
            steps = result if inspect.isgenerator(result) else iter((result,))
            while True:
                t1 = time.perf_counter()
                try:
                    step = next(steps)
                except StopIteration as stop:  # a generator's `return value` is one more step
                    if stop.value is None:
                        return
                    step, steps = stop.value, iter(())
                t2 = time.perf_counter()
                t["model"] += (t2 - t1) * 1000
                output, progress = split_progress(step)
                out = cmd.serialize(output, formats, binary)
                out.progress = progress
                t["encode"] += (time.perf_counter() - t2) * 1000
                yield out
        except BridgeError:
            raise
        except Exception as e:
            raise _authors(InferenceError, "inference", e) from e

    def run_command(self, state, name: str, inputs: dict, *, ctx: DecodeContext | None = None,
                    formats: dict | None = None, binary: bool = False, timings: dict | None = None,
                    on_partial: Callable[[dict, object], None] | None = None, eager: bool = False) -> Outputs:
        """Run a command to its end and return its last outputs; a generator's steps go to
        ``on_partial(outputs, progress)``.

        By default every step but the last goes to `on_partial` (the last is the result) and the
        progress is the step's own or its count. With `eager`, every step goes there the moment it
        is made, with its own progress or None (the model server's job protocol sends each as it
        comes). Either way a step made before a failure reaches `on_partial` before the error.
        """
        last = None
        i = 0
        try:
            for i, out in enumerate(self.iter_command(state, name, inputs, ctx=ctx, formats=formats, binary=binary,
                                                      timings=timings), 1):
                if on_partial is not None:
                    if eager:
                        on_partial(out, out.progress)
                    elif last is not None:
                        on_partial(last, last.progress if last.progress is not None else i - 1)
                last = out
        except BridgeError:
            if last is not None and on_partial is not None and not eager:
                on_partial(last, last.progress if last.progress is not None else i)
            raise
        if last is None:
            raise InferenceError(f"{name} produced no output")
        return last


# -- loading ------------------------------------------------------------------------------

_default = Model()
_loading: list[Model] = []
_load_lock = threading.RLock()


def loading() -> bool:
    """Whether a model file is being imported by `load_model` right now."""
    return bool(_loading)


def current_model() -> Model:
    """The model that module-level decorators register onto right now."""
    return _loading[-1] if _loading else _default


def setup(decorated_fn=None, options=None):
    """Register the model's setup function. See `Model.setup`."""
    return current_model().setup(decorated_fn, options=options)


def command(name, inputs=None, outputs=None, description=None, batch=None):
    """Register a command. See `Model.command`."""
    return current_model().command(name, inputs=inputs, outputs=outputs, description=description, batch=batch)


def load_model(path: str | Path) -> Model:
    """Import a model file (or a folder holding ``model.py``) into a fresh `Model`."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.py"
    if not path.is_file():
        raise NotFound(f"no model file at {path}")
    model = Model()
    mod_name = f"_runway_bridge_model_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    module = importlib.util.module_from_spec(spec)
    with _load_lock:
        _loading.append(model)
        sys.path.insert(0, str(path.parent))
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            hint = ""
            if isinstance(e, ModuleNotFoundError):
                hint = ("; install the packages in its card's [requirements] (for the built-in catalogue: "
                        "bash scripts/install.sh in a checkout, or "
                        f"{sys.executable} -m pip install \".[models,cpu]\" there, then runway-bridge install-models)")
            err = SetupError(f"could not import {path}: {type(e).__name__}: {e}{hint}")
            err.traceback = traceback.format_exc().splitlines()
            raise err from e
        finally:
            _loading.pop()
            sys.path.remove(str(path.parent))
    if not model.commands and model.setup_fn is None:  # an old file may build its own (RunwayModel)
        own = [m for m in vars(module).values() if isinstance(m, Model) and (m.commands or m.setup_fn)]
        if len(own) == 1:
            model = own[0]
    if not model.commands and model.setup_fn is None:
        raise SetupError(f"{path} defines no setup and no commands (use @setup and @command)")
    model.module = module
    return model
