"""The process backend under real crashes: each way a model can die, a hang, and a clean neighbour."""

from __future__ import annotations

import asyncio
import logging
import sys
import time

import numpy as np
import pytest
import pytest_asyncio

from runway_bridge.backends import BackendState
from runway_bridge.backends.process import ProcessBackend, describe_exit
from runway_bridge.errors import BackendUnavailable, Conflict, InferenceError, ModelCrashed, SetupError

from .conftest import ADAPTERS


@pytest_asyncio.fixture
async def backends():
    """`await backends(name, **kwargs)`: a started ProcessBackend for a fixture adapter."""
    made = []

    async def make(name, options=None, card=None, **kwargs):
        b = ProcessBackend(ADAPTERS / name, card, **kwargs)
        made.append(b)
        await b.start(options or {})
        return b

    yield make
    for b in made:
        if b.state is not BackendState.STOPPED:
            await b.stop()


async def _keep_calling(backend, stop: asyncio.Event, errors: list) -> int:
    n = 0
    while not stop.is_set():
        try:
            await backend.call("echo", {"text": str(n)})
        except Exception as e:  # noqa: BLE001 - any error at all is the failure we look for
            errors.append(e)
        n += 1
        await asyncio.sleep(0.01)
    return n


@pytest.mark.asyncio
@pytest.mark.parametrize("name, words", [
    ("abort_in_command", "worker aborted (SIGABRT)"),
    ("exit_in_command", "worker exited with code 3"),
    ("killed_in_command", "worker killed by SIGKILL (out of memory?)"),
])
async def test_crash_restarts_and_neighbour_is_unaffected(backends, name, words):
    crashy, healthy = await backends(name), await backends("bad_output")
    stop, errors = asyncio.Event(), []
    neighbour = asyncio.create_task(_keep_calling(healthy, stop, errors))
    first_pid = crashy._worker.proc.pid
    assert await crashy.call("echo", {"text": "fine"}) == {"text": "fine"}

    with pytest.raises(ModelCrashed) as e:
        await crashy.call("echo", {"text": "crash"})
    assert words in e.value.message and name in e.value.message and e.value.status == 502
    with pytest.raises(BackendUnavailable) as e:  # fails fast while the worker restarts
        await crashy.call("echo", {"text": "too soon"})
    assert e.value.retry_after and e.value.status == 503
    assert words in crashy.detail and "restarting" in crashy.detail  # shown in the model's status

    await crashy.wait_running(10)
    assert crashy.detail is None
    assert await crashy.call("echo", {"text": "back"}) == {"text": "back"}
    assert crashy._worker.proc.pid != first_pid
    stop.set()
    assert await neighbour > 10 and errors == []


@pytest.mark.asyncio
async def test_crash_in_setup_is_a_setup_error_with_the_models_words(backends, caplog):
    caplog.set_level(logging.INFO, "runway_bridge.worker")
    with pytest.raises(SetupError, match=r"FileNotFoundError\('no weights at /missing/weights.bin'\)"):
        await backends("crash_in_setup")
    assert "loading /missing/weights.bin" in caplog.text  # its prints reach the daemon's log


@pytest.mark.asyncio
async def test_hang_times_out_then_recovers(backends):
    b = await backends("hang_in_command", timeout_s=1)
    t = time.perf_counter()
    with pytest.raises(ModelCrashed, match="no answer within 1 s"):
        await b.call("echo", {"text": "hang"})
    assert time.perf_counter() - t < 3
    await b.wait_running(10)
    assert await b.call("echo", {"text": "awake"}) == {"text": "awake"}


@pytest.mark.asyncio
async def test_bad_output_fails_the_call_not_the_worker(backends):
    b = await backends("bad_output")
    pid = b._worker.proc.pid
    with pytest.raises(InferenceError, match="not an image"):
        await b.call("wrong_type", {})
    with pytest.raises(InferenceError, match="no value for its output 'b'"):
        await b.call("missing", {})
    with pytest.raises(InferenceError, match="cannot leave the worker"):
        await b.call("unpicklable", {})
    assert await b.call("echo", {"text": "ok"}) == {"text": "ok"}
    assert b._worker.proc.pid == pid


@pytest.mark.asyncio
async def test_model_is_imported_in_the_worker_only(backends):
    path = str((ADAPTERS / "bad_output" / "model.py").resolve())
    b = await backends("bad_output")
    assert (await b.manifest())["commands"]
    assert not [m for m in list(sys.modules.values()) if getattr(m, "__file__", None) == path]


@pytest.mark.asyncio
async def test_manifest_before_start_uses_a_short_lived_worker():
    b = ProcessBackend(ADAPTERS / "identity")
    manifest = await b.manifest()
    assert manifest["commands"][0]["name"] == "identity" and b.state is BackendState.STOPPED


@pytest.mark.asyncio
async def test_own_interpreter_from_the_card(backends):
    b = await backends("bad_output", python=sys.executable)
    assert b._worker.proc.args[0] == sys.executable
    card = ProcessBackend(ADAPTERS / "bad_output", {"process": {"python": sys.executable}})
    assert card.python == sys.executable
    await card.start({})
    try:
        assert await card.call("echo", {"text": "venv"}) == {"text": "venv"}
    finally:
        await card.stop()


@pytest.mark.asyncio
async def test_missing_interpreter_is_a_clear_setup_error():
    b = ProcessBackend(ADAPTERS / "bad_output", {"process": {"python": "/nowhere/bin/python"}})
    with pytest.raises(SetupError, match="cannot start a worker with /nowhere/bin/python"):
        await b.start({})
    assert b.state is BackendState.FAILED


@pytest.mark.asyncio
async def test_cancelled_generator_stops_and_frees_the_worker(backends):
    b = await backends("kitchen_sink")
    task = asyncio.create_task(b.call("count", {"steps": 50, "delay": 0.05}, on_partial=lambda o, i: None))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    t = time.perf_counter()
    assert await b.call("count", {"steps": 1}) == {"n": 1}
    assert time.perf_counter() - t < 1  # not the 2 s the whole generator would take


@pytest.mark.asyncio
async def test_stop_ends_a_hung_worker(backends):
    b = await backends("hang_in_command")
    proc = b._worker.proc
    task = asyncio.create_task(b.call("echo", {"text": "hang"}))
    await asyncio.sleep(0.2)
    await b.stop()
    with pytest.raises(Conflict, match="stopped"):
        await task
    assert proc.poll() is not None


def test_describe_exit():
    assert describe_exit(3) == "exited with code 3"
    assert describe_exit(-9) == "killed by SIGKILL (out of memory?)"
    assert describe_exit(-15) == "killed by SIGTERM"
    assert describe_exit(None) == "closed its connection"


@pytest.mark.asyncio
async def test_gpu_flag_comes_from_the_card_unless_the_model_knows(backends):
    assert (await backends("bad_output")).gpu is False
    assert (await backends("bad_output", gpu=True)).gpu is True


# -- giving up, RESTARTING, and the memory limit ------------------------------------------------------


@pytest.mark.asyncio
async def test_a_model_that_crashes_on_every_call_is_given_up_and_its_host_fails():
    from runway_bridge.host import Host

    backend = ProcessBackend(ADAPTERS / "exit_in_command", {"process": {"max_crashes": 3}})
    host = Host("exit_in_command", backend)
    await host.start({})
    assert host.status()["state"] == "RUNNING"
    for n in range(1, 4):
        with pytest.raises(ModelCrashed) as e:
            await host.call(None, {"text": "crash"})
        assert "exited with code 3" in e.value.message
        if n < 3:
            assert "restarting" in e.value.message
            status = host.status()  # honest while the worker is down: not RUNNING
            assert status["state"] == "RESTARTING" and "worker down" in status["detail"]
            await backend.wait_running(20)
            assert host.status()["state"] == "RUNNING"
    assert "given up" in e.value.message
    status = host.status()
    assert status["state"] == "FAILED" and "crashed 3 times in a row" in status["error"]
    assert not backend.restarting and backend._worker is None
    with pytest.raises(Conflict, match="crashed 3 times"):
        await host.call(None, {"text": "hello"})
    await host.start({})  # started again by hand: a fresh count
    await asyncio.wait_for(host._starting, 60)
    assert (await host.call(None, {"text": "hello"})).outputs == {"text": "hello"}
    await host.stop()


@pytest.mark.asyncio
async def test_one_good_call_resets_the_crash_count(backends):
    b = await backends("exit_in_command", card={"process": {"max_crashes": 2}})
    for _ in range(3):
        with pytest.raises(ModelCrashed, match="restarting"):
            await b.call("echo", {"text": "crash"})
        await b.wait_running(20)
        assert await b.call("echo", {"text": "ok"}) == {"text": "ok"}
    assert b.gave_up is None


def test_memory_sizes_parse():
    from runway_bridge.backends.process import parse_size

    assert parse_size("2GiB") == 2 << 30 and parse_size("512m") == 512 << 20 and parse_size("1.5 GB") == 3 << 29
    assert parse_size(1 << 30) == 1 << 30
    for bad in ("lots", "2 PB", "1m", -5):
        with pytest.raises(ValueError, match=r"\[process\] memory"):
            parse_size(bad)
    with pytest.raises(SetupError, match=r"model allocate: \[process\] memory = 'lots'"):
        ProcessBackend(ADAPTERS / "allocate", {"id": "allocate", "process": {"memory": "lots"}})


@pytest.mark.asyncio
async def test_over_the_cards_memory_limit_a_call_fails_clearly_and_the_worker_lives(backends):
    b = await backends("allocate", card={"process": {"memory": "1536MiB"}})
    assert await b.call("allocate", {"mib": 64}) == {"bytes": 64 << 20}
    pid = b._worker.proc.pid
    with pytest.raises(InferenceError) as e:
        await b.call("allocate", {"mib": 4096})
    assert "MemoryError" in e.value.message and "memory limit is 1536 MiB" in e.value.message
    assert "[process] memory" in e.value.message
    assert await b.call("allocate", {"mib": 64}) == {"bytes": 64 << 20}
    assert b._worker.proc.pid == pid  # the same worker: a MemoryError is not a crash


def test_memory_limit_from_the_card_through_the_daemon(daemon):
    from conftest import http

    d = daemon("allocate")
    url = d.url + "/v1/models/allocate/commands/allocate"
    status, _, body = http("POST", url, {"mib": 4096}, timeout=60)
    assert status == 500 and "memory limit is 1536 MiB" in body["error"] and "Traceback" not in str(body)
    status, _, body = http("POST", url, {"mib": 16}, timeout=60)
    assert status == 200 and body == {"bytes": 16 << 20}
    assert d.get("/healthz")[0] == 200 and d.get("/readyz")[0] == 200


def test_status_and_readyz_say_restarting_then_failed_through_the_daemon(daemon):
    from conftest import http

    d = daemon("gives_up")
    url = d.url + "/v1/models/gives_up/commands/echo"
    assert http("POST", url, {"text": "hi"})[2] == {"text": "hi"}
    status, _, body = http("POST", url, {"text": "crash"}, timeout=30)
    assert status == 502 and "exited with code 3" in body["error"] and "restarting" in body["error"]
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not seen or seen[-1] != "RUNNING"):
        ready_status, _, ready = d.get("/readyz")
        seen.append(ready["models"]["gives_up"])
        assert (ready_status == 200) == (seen[-1] == "RUNNING")
        time.sleep(0.05)
    assert seen[0] == "RESTARTING" and seen[-1] == "RUNNING", seen
    status, _, body = http("POST", url, {"text": "crash"}, timeout=30)
    assert status == 502 and "given up" in body["error"]
    ready_status, _, ready = d.get("/readyz")
    assert ready_status == 503 and ready["models"]["gives_up"] == "FAILED"
    model = d.get("/v1/models/gives_up")[2]["status"]
    assert model["state"] == "FAILED" and "crashed 2 times in a row" in model["error"]
    assert d.get("/healthz")[0] == 200


# -- two calls held by one worker (pipelining) --------------------------------------------------------


def _in_order(calls) -> tuple[list, list]:
    """Start `calls` (coroutines) in this order; `(tasks, finished)`: finished lists their indexes as
    they end."""
    finished: list[int] = []
    tasks = [asyncio.ensure_future(c) for c in calls]
    for i, t in enumerate(tasks):
        t.add_done_callback(lambda _t, i=i: finished.append(i))
    return tasks, finished


@pytest.mark.asyncio
async def test_two_calls_in_flight_are_answered_in_order_with_their_own_results(backends):
    b = await backends("kitchen_sink")
    assert b.concurrency == 2 and b.pipelined
    tasks, finished = _in_order([b.call("count", {"steps": 3, "delay": 0.1}), b.call("count", {"steps": 1})])
    await asyncio.sleep(0.1)
    assert len(b._calls) == 2  # both sent: the second waits in the worker, not in the daemon
    assert await asyncio.gather(*tasks) == [{"n": 3}, {"n": 1}]
    assert finished == [0, 1]  # the short one ran after the long one, as sent

    held = []  # more callers than room: they wait in the daemon, never more than two at the worker
    texts = [str(n) for n in range(8)]
    b2 = await backends("hang_in_command")
    orig = b2._calls.add
    b2._calls.add = lambda *a: (held.append(len(b2._calls)), orig(*a))[1]
    tasks, finished = _in_order([b2.call("echo", {"text": t}) for t in texts])
    assert await asyncio.gather(*tasks) == [{"text": t} for t in texts]
    assert finished == list(range(8)) and max(held) == 1 and len(b2._calls) == 0


@pytest.mark.asyncio
@pytest.mark.parametrize("name, words", [
    ("exit_in_command", "worker exited with code 3"),
    ("killed_in_command", "worker killed by SIGKILL"),
])
async def test_crash_fails_the_running_call_and_the_one_queued_behind_it(backends, name, words):
    b = await backends(name)
    crash, queued = asyncio.ensure_future(b.call("echo", {"text": "crash"})), asyncio.ensure_future(
        b.call("echo", {"text": "behind"}))
    with pytest.raises(ModelCrashed) as e:
        await crash
    assert words in e.value.message and "restarting" in e.value.message
    with pytest.raises(BackendUnavailable) as e:  # it never ran: safe to send again once restarted
        await queued
    assert "queued behind a call that crashed the worker" in e.value.message and words in e.value.message
    assert e.value.retry_after and e.value.status == 503
    assert b._crashes == 1 and len(b._calls) == 0  # one crash, counted once
    await b.wait_running(10)
    assert await b.call("echo", {"text": "back"}) == {"text": "back"}


@pytest.mark.asyncio
async def test_hang_fails_the_running_call_and_the_one_queued_behind_it(backends):
    b = await backends("hang_in_command", timeout_s=1)
    t = time.perf_counter()
    hang, queued = asyncio.ensure_future(b.call("echo", {"text": "hang"})), asyncio.ensure_future(
        b.call("echo", {"text": "behind"}))
    with pytest.raises(ModelCrashed, match="no answer within 1 s"):
        await hang
    with pytest.raises(BackendUnavailable, match="queued behind a call that crashed the worker .*no answer within"):
        await queued
    assert time.perf_counter() - t < 3
    await b.wait_running(10)
    assert await b.call("echo", {"text": "awake"}) == {"text": "awake"}


@pytest.mark.asyncio
async def test_the_queued_call_is_timed_from_when_it_runs(backends):
    b = await backends("kitchen_sink", timeout_s=1.5)
    first = b.call("count", {"steps": 10, "delay": 0.1})  # 1 s each: 2 s for both, each within 1.5 s
    second = b.call("count", {"steps": 10, "delay": 0.1})
    assert await asyncio.gather(first, second) == [{"n": 10}, {"n": 10}]


@pytest.mark.asyncio
@pytest.mark.parametrize("running", [
    ("count", {"steps": 10, "delay": 0.05}),  # a generator: the worker reads the Cancel between its steps
    ("slow_invert", {"image": np.zeros((4, 4, 3), np.uint8), "delay": 0.5}),  # not: it reads it before the next
])
async def test_cancelled_queued_call_never_runs(backends, running):
    b = await backends("kitchen_sink")
    first = asyncio.ensure_future(b.call(*running))
    queued = asyncio.ensure_future(b.call("count", {"steps": 50, "delay": 0.05}))  # 2.5 s if it ran
    await asyncio.sleep(0.1)
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert set(await first) == {"n"} if running[0] == "count" else {"image", "mean"}
    t = time.perf_counter()
    assert await b.call("count", {"steps": 1}) == {"n": 1}
    assert time.perf_counter() - t < 1 and len(b._calls) == 0


@pytest.mark.asyncio
async def test_a_call_that_arrives_during_a_generator_runs_next_with_its_own_partials(backends):
    b = await backends("kitchen_sink")
    seen: dict[str, list] = {"long": [], "next": []}
    long = b.call("count", {"steps": 5, "delay": 0.1}, on_partial=lambda o, i: seen["long"].append(o["n"]))
    nxt = b.call("count", {"steps": 3}, on_partial=lambda o, i: seen["next"].append(o["n"]))
    tasks, finished = _in_order([long, nxt])
    assert await asyncio.gather(*tasks) == [{"n": 5}, {"n": 3}]
    assert seen == {"long": [1, 2, 3, 4], "next": [1, 2]} and finished == [0, 1]


@pytest.mark.asyncio
async def test_stop_fails_every_pending_call(backends):
    b = await backends("hang_in_command")
    proc = b._worker.proc
    hang, queued = asyncio.ensure_future(b.call("echo", {"text": "hang"})), asyncio.ensure_future(
        b.call("echo", {"text": "behind"}))
    await asyncio.sleep(0.2)
    await b.stop()
    with pytest.raises(Conflict, match="stopped"):
        await hang
    with pytest.raises(Conflict, match="stopped before the call ran"):
        await queued
    assert proc.poll() is not None


@pytest.mark.asyncio
async def test_memory_error_with_a_call_queued_behind_it(backends):
    b = await backends("allocate", card={"process": {"memory": "1536MiB"}})
    big, small = b.call("allocate", {"mib": 4096}), b.call("allocate", {"mib": 64})
    results = await asyncio.gather(big, small, return_exceptions=True)
    assert isinstance(results[0], InferenceError) and "memory limit is 1536 MiB" in results[0].message
    assert results[1] == {"bytes": 64 << 20}


def test_through_the_daemon_a_worker_holds_two_calls_and_each_gets_its_own_answer(daemon):
    from concurrent.futures import ThreadPoolExecutor

    from conftest import http

    d = daemon("kitchen_sink", args=["--backend", "kitchen_sink=process"])
    url = d.url + "/v1/models/kitchen_sink/commands/count"
    seen, done = [], []

    def watch():
        while not done:
            seen.append(d.get("/v1/models/kitchen_sink")[2]["status"]["inflight"])
            time.sleep(0.02)

    with ThreadPoolExecutor(7) as pool:
        watcher = pool.submit(watch)
        answers = list(pool.map(lambda n: http("POST", url, {"steps": n, "delay": 0.05}), range(1, 7)))
        done.append(True)
        watcher.result()
    assert [(status, body) for status, _, body in answers] == [(200, {"n": n}) for n in range(1, 7)]
    assert max(seen) == 2  # one replica, two calls held by its worker
