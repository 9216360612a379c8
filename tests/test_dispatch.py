"""Replicas, pipelining and dynamic batching in the host, with real backends and a real model.

The `dispatch` fixture model says which instance and thread ran each call, and has a batching
command that answers each input with the size of the batch it came in.
"""

from __future__ import annotations

import asyncio
import collections

import pytest

from runway_bridge.backends import create
from runway_bridge.errors import BadInput, BridgeError
from runway_bridge.host import Host, HostState

from conftest import FIXTURE_ADAPTERS

MODEL = FIXTURE_ADAPTERS / "dispatch"


async def started(replicas: int = 1, kind: str = "local", card: dict | None = None) -> Host:
    card = card or {"batch": {"wait_ms": 20}}
    host = Host("dispatch", [create(kind, MODEL, card) for _ in range(replicas)])
    await asyncio.wait_for(host.start({}), 60)
    assert host.state is HostState.RUNNING, host.error
    return host


async def until(cond, timeout=10.0):
    for _ in range(int(timeout / 0.01)):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out waiting")


async def test_calls_go_to_every_replica_and_each_answers_its_own():
    host = await started(replicas=2)
    results = await asyncio.gather(*(host.call("work", {"n": i, "ms": 150}) for i in range(4)))
    assert [r.outputs["n"] for r in results] == [0, 1, 2, 3]
    by_instance = collections.Counter(r.outputs["instance"] for r in results)
    assert len(by_instance) == 2 and set(by_instance.values()) == {2}, by_instance
    assert host.status()["replicas"] == 2
    await host.stop()


async def test_one_replica_runs_its_calls_on_one_model_thread():
    host = await started(replicas=1)
    results = await asyncio.gather(*(host.call("work", {"n": i, "ms": 20}) for i in range(4)))
    assert len({r.outputs["instance"] for r in results}) == 1
    assert len({r.outputs["thread"] for r in results}) == 1  # the model thread; codecs ran elsewhere
    assert {"decode", "model", "encode", "queue", "total"} <= set(results[0].timings)
    await host.stop()


async def test_a_streams_results_stay_in_order_when_a_later_frame_finishes_first():
    host = await started(replicas=2)
    got: list = []
    s = host.open_stream("work", got.append)
    s.submit({"n": 0, "ms": 400}, frame_id="slow")
    await until(lambda: s.pending is None)  # taken by one replica
    s.submit({"n": 1, "ms": 0}, frame_id="fast")  # the other replica, done long before "slow"
    await until(lambda: len(got) == 2)
    assert [r.frame_id for r in got] == ["slow", "fast"]
    assert [r.outputs["n"] for r in got] == [0, 1]
    assert got[0].outputs["instance"] != got[1].outputs["instance"]
    await host.stop()


async def test_latest_frame_wins_while_every_replica_is_busy():
    host = await started(replicas=2)
    got: list = []
    s = host.open_stream("work", got.append)
    blockers = [asyncio.ensure_future(host.call("work", {"n": -1, "ms": 300})) for _ in range(4)]
    await until(lambda: host.replicas.inflight() == 4)  # both replicas full (two calls each, pipelined)
    for i in range(5):
        s.submit({"n": i}, frame_id=i)
    await asyncio.gather(*blockers)
    await until(lambda: len(got) == 1)
    await asyncio.sleep(0.1)
    assert [r.frame_id for r in got] == [4] and s.dropped == 4
    await host.stop()


async def test_frames_of_several_streams_are_batched_and_go_back_to_their_own_stream():
    host = await started()
    got: dict[int, list] = collections.defaultdict(list)
    streams = [host.open_stream("batched", got[i].append) for i in range(8)]
    blocker = asyncio.ensure_future(host.call("work", {"n": 100, "ms": 200}))  # hold both slots
    blocker2 = asyncio.ensure_future(host.call("work", {"n": 101, "ms": 200}))
    await until(lambda: host.replicas.inflight() == 2)
    for rnd in range(3):
        for i, s in enumerate(streams):
            s.submit({"n": i * 10 + rnd}, frame_id=f"s{i}-f{rnd}")
        await until(lambda r=rnd: all(len(got[i]) > r for i in range(8)))
    await asyncio.gather(blocker, blocker2)
    for i in range(8):
        assert [r.frame_id for r in got[i]] == [f"s{i}-f{k}" for k in range(3)]
        assert [r.outputs["n"] for r in got[i]] == [i * 10 + k for k in range(3)]
        assert all(r.stream_id == streams[i].id for r in got[i])
    sizes = [r.outputs["size"] for i in range(8) for r in got[i]]
    assert max(sizes) == 8, sizes  # the first round waited while the model was busy: one full batch
    assert all(r.timings["batch"] == r.outputs["size"] for i in range(8) for r in got[i])
    await host.stop()


async def test_a_lone_stream_is_not_kept_waiting_for_a_batch():
    host = await started(card={"batch": {"wait_ms": 5000}})
    got: list = []
    s = host.open_stream("batched", got.append)
    s.submit({"n": 7}, frame_id="only")
    await until(lambda: got, timeout=2)  # far less than wait_ms: no other stream could fill it
    assert got[0].outputs == {"n": 7, "size": 1}
    await host.stop()


async def test_one_bad_frame_fails_only_itself_and_a_failing_batch_fails_its_frames():
    host = await started()
    calls = [host.call("batched", {"n": i, "ms": 50}) for i in range(3)] + [host.call("batched", {"n": "x"})]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert [r.outputs["n"] for r in results[:3]] == [0, 1, 2]
    assert isinstance(results[3], BadInput)
    results = await asyncio.gather(host.call("batched", {"n": -1, "ms": 50}), host.call("batched", {"n": 5}),
                                   return_exceptions=True)
    assert all(isinstance(r, BridgeError) and "negative n" in r.message for r in results), results
    assert (await host.call("batched", {"n": 9})).outputs["n"] == 9  # and the model serves on
    await host.stop()


async def test_the_cards_max_size_caps_batches():
    host = await started(card={"batch": {"max_size": 1}})
    results = await asyncio.gather(*(host.call("batched", {"n": i, "ms": 30}) for i in range(4)))
    assert [r.outputs["size"] for r in results] == [1, 1, 1, 1]
    await host.stop()


async def test_process_replicas_are_separate_workers_and_batch_too():
    host = await started(replicas=2, kind="process")
    results = await asyncio.gather(*(host.call("work", {"n": i, "ms": 200}) for i in range(2)))
    assert len({r.outputs["pid"] for r in results}) == 2
    results = await asyncio.gather(*(host.call("batched", {"n": i, "ms": 100}) for i in range(6)))
    assert [r.outputs["n"] for r in results] == list(range(6))
    assert max(r.outputs["size"] for r in results) > 1
    await host.stop()


@pytest.mark.parametrize("spec", ["dispatch=0", "dispatch=x", "dispatch", "=2", "dispatch=65"])
def test_bad_replica_counts_are_refused_by_the_cli(spec, capsys):
    from runway_bridge.cli import main

    with pytest.raises(SystemExit) as e:
        main(["serve", "--replicas", spec])
    assert "--replicas takes MODEL=N" in str(e.value)


async def test_stopping_while_a_batch_fills_answers_the_requests_already_in_it():
    host = await started(card={"batch": {"wait_ms": 1000}})
    first = asyncio.ensure_future(host.call("batched", {"n": 1}))
    second = asyncio.ensure_future(host.call("batched", {"n": 2}))
    await asyncio.gather(first, second)  # the last batch held two: the next one waits for a second
    lone = asyncio.ensure_future(host.call("batched", {"n": 3}))
    await until(lambda: not host.queue and host.dispatch._gathering)
    await host.stop()
    with pytest.raises(BridgeError, match="stopped"):
        await asyncio.wait_for(lone, 5)


@pytest.mark.parametrize("batch", [{"max_size": "8"}, {"max_size": 0}, {"wait_ms": "5"}, {"wait_ms": 20000}])
async def test_bad_batch_settings_in_a_card_fail_the_start_with_the_key(batch):
    host = Host("dispatch", [create("local", MODEL, {"batch": batch})])
    await asyncio.wait_for(host.start({}), 60)
    assert host.state is HostState.FAILED and "[batch]" in host.error.message
    await host.stop()
