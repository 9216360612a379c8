"""Run a model as a Ray Serve deployment: replicas on this machine or across a Ray cluster.

- Ray Serve, the existing engine for this, does the placement, replica health and autoscaling on
  queue length; the daemon keeps its transports and latest-frame-wins streams in front and sends
  each call through a `DeploymentHandle`. Frames cross as `Blob` bytes pickled by Ray (inline in
  the call, or through its object store when large): never base64. benchmarks/bench_ray.py has the
  numbers against the process backend and against base64.
- Card ``[ray]``: ``num_replicas`` (or the card's ``replicas``, or ``--replicas ID=N``), ``num_cpus``
  (1) and ``num_gpus`` (0) per replica, ``max_ongoing_requests`` (1: most models are not
  thread-safe), ``autoscaling = {min_replicas, max_replicas, target_ongoing_requests}`` (Serve's
  autoscaling_config; it replaces num_replicas), ``timeout_s`` (30) per call, ``setup_timeout_s``.
  `concurrency` is what the deployment takes at once: its (most) replicas times max_ongoing_requests.
- Where: ``--ray auto`` connects to the Ray of this machine (``ray start`` on it, or RAY_ADDRESS)
  and starts a bounded local one when there is none (``num_cpus`` = ``--ray-cpus`` or the machine's,
  no dashboard, bound to 127.0.0.1); ``--ray ADDRESS`` connects there (``ray://head:10001``). On a
  Ray this backend did not start, runway_bridge goes to the nodes with the job (runtime_env
  py_modules) and the adapter's files with its deployment; the model's own packages must be there.
- A batch the host gathered (`call_batch`) runs on one replica; a generator's steps are not
  streamed back (the call returns its last output).
- A replica that dies mid-call fails that call with `ModelCrashed` naming the replica's pid and
  exit; Serve replaces it and later calls go to the others meanwhile. Setup errors are the model's.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid

from ..errors import BackendUnavailable, BadInput, BridgeError, Conflict, InferenceError, ModelCrashed, SetupError
from ..types import DecodeContext
from ._ray_cluster import PKG, connect, disconnect, pack, restore_signals
from .base import Backend, BackendState

__all__ = ["RayBackend", "deployment_options"]

log = logging.getLogger("runway_bridge.ray")

_KEYS = {"num_replicas", "num_cpus", "num_gpus", "max_ongoing_requests", "autoscaling", "timeout_s",
         "setup_timeout_s", "memory"}
_AUTOSCALING = {"min_replicas", "max_replicas", "initial_replicas", "target_ongoing_requests",
                "upscale_delay_s", "downscale_delay_s", "metrics_interval_s", "look_back_period_s"}


def _number(conf: dict, key: str, default, low, kind=float):
    value = conf.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low or (kind is int and value != int(value)):
        raise BadInput(f"[ray] {key} = {value!r}: expected {'an integer' if kind is int else 'a number'} >= {low}")
    return kind(value)


def deployment_options(card: dict, replicas: int | None = None) -> dict:
    """The card's ``[ray]`` as ``serve.deployment(...).options()`` keywords; a mistake is a `BadInput`
    naming the key."""
    conf = dict(card.get("ray") or {})
    unknown = set(conf) - _KEYS
    if unknown:
        raise BadInput(f"[ray] has unknown keys {sorted(unknown)}; known: {sorted(_KEYS)}")
    actor = {"num_cpus": _number(conf, "num_cpus", 1, 0), "num_gpus": _number(conf, "num_gpus", 0, 0)}
    if conf.get("memory"):
        from .process import parse_size

        try:
            actor["memory"] = parse_size(conf["memory"])
        except ValueError as e:
            raise BadInput(str(e).replace("[process]", "[ray]")) from None
    opts = {"ray_actor_options": actor, "max_ongoing_requests": _number(conf, "max_ongoing_requests", 2, 1, int)}
    auto = conf.get("autoscaling")
    if auto is not None:
        if not isinstance(auto, dict) or set(auto) - _AUTOSCALING:
            raise BadInput(f"[ray] autoscaling takes a table of {sorted(_AUTOSCALING)}, got {auto!r}")
        lo = _number(auto, "min_replicas", 1, 0, int)
        hi = _number(auto, "max_replicas", max(lo, 1), max(lo, 1), int)
        opts["autoscaling_config"] = {**auto, "min_replicas": lo, "max_replicas": hi,
                                      "target_ongoing_requests": _number(auto, "target_ongoing_requests", 1, 0.01)}
    else:
        n = next((v for v in (replicas, conf.get("num_replicas"), card.get("replicas")) if v is not None), 1)
        opts["num_replicas"] = _number({"num_replicas": n}, "num_replicas", 1, 1, int)
    return opts


_DIED = re.compile(r"Worker exit detail: ([^.]*\.)")


def _why_died(e: BaseException) -> str:
    text = str(e)
    pid = re.search(r"\bpid: (\d+)", text)
    detail = _DIED.search(text)
    return (f"replica pid {pid.group(1)}" if pid else "its replica") + (
        f" died: {detail.group(1)}" if detail else " died")


class RayBackend(Backend):
    """A model as a Ray Serve deployment; see the module docstring."""

    kind = "ray"
    batching = True  # the host gathers a batch; one replica runs it (`call_batch`)

    def __init__(self, model_dir, card=None, *, address: str | None = None, num_cpus: int | None = None,
                 replicas: int | None = None, ctx: DecodeContext | None = None):
        super().__init__(model_dir, card)
        self.name = self.card.get("id") or self.model_dir.stem
        try:
            self.options = deployment_options(self.card, replicas)
            conf = self.card.get("ray") or {}
            self.timeout_s = _number(conf, "timeout_s", 30, 0.1)
            self.setup_timeout_s = _number(conf, "setup_timeout_s", 300, 1)
        except BadInput as e:  # the card's mistake: said when the model starts
            raise SetupError(f"model {self.name}: {e.message}") from None
        auto = self.options.get("autoscaling_config")
        most = auto["max_replicas"] if auto else self.options["num_replicas"]
        self.concurrency = most * self.options["max_ongoing_requests"]
        self.address, self.num_cpus, self._ctx = address, num_cpus, ctx
        self.app = f"{self.name}-{uuid.uuid4().hex[:6]}"  # one daemon's deployment, beside others' on a cluster
        self._handle = None
        self._manifest: dict | None = None
        self._connected = False
        self._crash: str | None = None  # the last replica death, for `detail` until the next good call

    @property
    def detail(self) -> str | None:
        if self._crash:
            return f"{self._crash}; Ray Serve replaces it"
        return None

    # -- lifecycle ------------------------------------------------------------------------------
    def _deploy(self, options: dict) -> dict:
        """Blocking: connect, deploy, wait for the first replica's setup; returns its `ready` answer."""
        from ray import serve

        from ._ray_deployment import ModelReplica

        owned = connect(self.address, self.num_cpus)
        self._connected = True
        opts = {**self.options, "ray_actor_options": dict(self.options["ray_actor_options"])}
        if owned:  # our own Ray on this machine: the replicas import this checkout and read the folder
            opts["ray_actor_options"]["runtime_env"] = {"env_vars": {"PYTHONPATH": str(PKG.parent)}}
            where = str(self.model_dir.resolve())
        else:  # a cluster: the adapter's files travel with the deployment, to whichever node runs a replica
            where = pack(self.model_dir)
        self._check_resources(opts)
        dep = serve.deployment(ModelReplica).options(name=self.name, **opts)
        gpu = opts["ray_actor_options"]["num_gpus"] > 0
        try:
            self._handle = serve.run(dep.bind(where, options, self._ctx, gpu), name=self.app, route_prefix=None)
        except Exception as e:  # the replica's constructor crashed (a native abort, os._exit) each try
            raise SetupError(f"model {self.name}: Ray Serve could not start a replica: "
                             f"{str(e).strip().splitlines()[-1][:400]}") from None
        return self._handle.ready.remote().result(timeout_s=self.setup_timeout_s)

    def _check_resources(self, opts: dict) -> None:
        """Fail now, not after Serve waits forever to place a replica that no node can hold."""
        import ray

        have = ray.cluster_resources()
        for key, res in (("num_cpus", "CPU"), ("num_gpus", "GPU")):
            need = opts["ray_actor_options"][key]
            if need > have.get(res, 0):
                raise SetupError(f"model {self.name}: [ray] {key} = {need:g} per replica, but the Ray cluster has "
                                 f"{have.get(res, 0):g} {res}s in all")

    async def start(self, options: dict) -> None:
        self._transition(BackendState.STARTING)
        self._crash = None
        try:
            try:
                try:
                    ready = await asyncio.wait_for(asyncio.to_thread(self._deploy, dict(options or {})),
                                                   self.setup_timeout_s + 30)
                finally:
                    restore_signals()
            except ImportError as e:
                raise SetupError(f"model {self.name}: the ray backend needs Ray Serve: "
                                 f"pip install 'runway-bridge[ray]' ({e})") from None
            except (TimeoutError, asyncio.TimeoutError):
                raise SetupError(f"model {self.name}: Ray Serve gave no replica within "
                                 f"{self.setup_timeout_s:g} s ([ray] setup_timeout_s)") from None
            except BridgeError:
                raise
            except Exception as e:  # Ray's own errors (cannot connect, a runtime_env that fails)
                raise SetupError(f"model {self.name}: Ray: {type(e).__name__}: {str(e).strip()[:400]}") from None
            if ready["error"] is not None:
                raise ready["error"]
        except BaseException:
            await self._teardown()
            if self.state is BackendState.STARTING:
                self._transition(BackendState.FAILED)
            raise
        self._manifest, self.gpu = ready["manifest"], ready["gpu"]
        self._transition(BackendState.RUNNING)
        log.info("model %s: Ray Serve app %s, %s", self.name, self.app,
                 f"autoscaling {self.options['autoscaling_config']}" if "autoscaling_config" in self.options
                 else f"{self.options['num_replicas']} replica(s)")

    async def manifest(self) -> dict:
        if self._manifest is None:
            raise NotImplementedError("the ray backend reads the manifest from its replicas: start it first")
        return self._manifest

    async def _teardown(self) -> None:
        handle, self._handle = self._handle, None
        connected, self._connected = self._connected, False
        if not connected:
            return

        def down():
            from ray import serve

            try:
                if handle is not None or self.app in serve.status().applications:
                    serve.delete(self.app)
            finally:
                disconnect()

        try:
            await asyncio.to_thread(down)
        except Exception as e:  # the cluster went away: nothing left to delete
            log.warning("model %s: could not delete Ray Serve app %s: %s", self.name, self.app, e)

    async def stop(self) -> None:
        self._transition(BackendState.STOPPED)
        await self._teardown()

    # -- calls ----------------------------------------------------------------------------------
    async def call(self, command, inputs, *, binary=False, formats=None, timings=None, on_partial=None):
        return await self._call("call", command, inputs, binary, formats, timings)

    async def call_batch(self, command, inputs, *, binary=False, formats=None, timings=None):
        return await self._call("call_batch", command, list(inputs), binary, formats, timings)

    async def _call(self, method: str, command, inputs, binary, formats, timings):
        if self.state is not BackendState.RUNNING or self._handle is None:
            raise Conflict(f"model {self.name} is {self.state.value}, not RUNNING")
        response = getattr(self._handle, method).remote(command, inputs, binary, formats)
        try:
            outputs, took, error = await self._await(command, response)
        except BridgeError:
            raise
        except Exception:
            if self.state is not BackendState.RUNNING:  # stop() deleted the replicas under this call
                raise Conflict(f"model {self.name} was stopped") from None
            raise
        return self._answer(command, outputs, took, error, timings)

    async def _await(self, command, response):
        from ray import exceptions as rx

        try:
            return await asyncio.wait_for(asyncio.shield(response), self.timeout_s)
        except asyncio.CancelledError:
            response.cancel()
            raise
        except (TimeoutError, asyncio.TimeoutError):
            response.cancel()
            raise ModelCrashed(f"model {self.name}: {command} gave no answer within {self.timeout_s:g} s "
                               f"([ray] timeout_s)") from None
        except (rx.ActorDiedError, rx.ActorUnavailableError, rx.WorkerCrashedError) as e:
            if self.state is not BackendState.RUNNING:
                raise
            self._crash = _why_died(e)
            log.warning("model %s: %s during %s", self.name, self._crash, command)
            raise ModelCrashed(f"model {self.name} crashed: {self._crash} during {command}; Ray Serve replaces "
                               f"it and the next calls go to the other replicas") from None
        except rx.RayTaskError as e:
            raise InferenceError(f"model {self.name}: {command} failed in Ray: {str(e).strip().splitlines()[-1]}") from None
        except Exception as e:  # the cluster itself: lost node, object store, Serve's back pressure
            if self.state is not BackendState.RUNNING:
                raise
            raise BackendUnavailable(f"model {self.name}: Ray: {type(e).__name__}: {str(e).strip()[:300]}",
                                     retry_after=1.0) from None

    def _answer(self, command, outputs, took, error, timings):
        if error is not None:
            raise error
        self._crash = None
        if timings is not None:
            timings.update(took)
        return outputs
