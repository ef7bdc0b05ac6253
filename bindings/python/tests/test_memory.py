"""The engine frees everything: every byte and block it took from its
allocator is back after close(), whatever happened before; and the binding
leaks no Python objects. (The ASan run of this suite, asan_run.py, checks
the C side of the binding itself.)"""
import gc
import sys

import pytest

import causeway
from conftest import data


def assert_freed(eng):
    assert eng.closed
    assert eng.stats()["bytes_in_use"] == 0
    assert eng.allocated_bytes == 0 and eng.allocated_blocks == 0


def test_counting_matches_the_engine(mixed_requests):
    with causeway.Engine() as eng:
        for b in mixed_requests:
            eng.ingest(b)
            assert eng.allocated_bytes == eng.stats()["bytes_in_use"] > 0
        eng.flush()
        assert eng.allocated_bytes == eng.stats()["bytes_in_use"]
    assert_freed(eng)


def test_everything_freed_after_use(mixed_requests):
    eng = causeway.Engine(idle_timeout_ns=1)
    for i, b in enumerate(mixed_requests):
        eng.ingest(b)
        if i % 5 == 0:
            eng.tick()
    try:
        eng.ingest(b"\x0a\xff\xff", "protobuf")
    except causeway.Error:
        pass
    eng.flush()
    for t in eng.traces():
        eng.retry_groups(t["trace_id"]), eng.loops(t["trace_id"]), eng.dot(t["trace_id"])
    eng.chains(), eng.edges(), eng.dump(), eng.top("retries", 3)
    with eng.serve(listen="127.0.0.1:0", api="127.0.0.1:0"):
        pass
    eng.close()
    assert_freed(eng)
    final = eng.stats()
    assert final["traces_completed"] > 0 and final["spans_live"] == 0


def test_everything_freed_with_live_traces_and_a_running_server(mixed_requests):
    eng = causeway.Engine()
    for b in mixed_requests[:10]:
        eng.ingest(b)
    eng.serve(listen="127.0.0.1:0", api=None)
    assert eng.stats()["spans_live"] > 0
    eng.close()  # stops the server, frees the live traces
    assert_freed(eng)


def test_budget_exhaustion_frees_too(mixed_requests):
    eng = causeway.Engine(memory_budget=64 << 10)
    with pytest.raises(causeway.Error):
        for b in mixed_requests:
            eng.ingest(b)
    eng.close()
    assert_freed(eng)


def test_dealloc_without_close(mixed_requests):
    eng = causeway.Engine()
    eng.ingest(mixed_requests[0])
    del eng
    gc.collect()


@pytest.mark.skipif(not hasattr(sys, "getallocatedblocks") or sys.getallocatedblocks() == 0,
                    reason="needs pymalloc's block count (not under PYTHONMALLOC=malloc)")
def test_no_python_object_leaks(mixed):
    """Every query, repeated: the interpreter's block count stays flat."""
    tid = mixed.top("retries", 1)[0]["trace_id"]
    lid = mixed.top("recursion", 1)[0]["trace_id"]
    cid = mixed.top_chains("depth", 1)[0]["chain_id"]
    body = open(data("captures", "retry-proto-0000.pb"), "rb").read()

    def work():
        mixed.traces(), mixed.chains(), mixed.edges(), mixed.stats(), mixed.dump()
        mixed.top("depth", 5), mixed.top_chains("fanout", 5), mixed.trace(tid), mixed.chain(cid)
        mixed.retry_groups(tid), mixed.loops(lid), mixed.dot(cid)
        with causeway.Engine() as e:
            e.ingest(body)
            try:
                e.ingest(b"\x0a\xff\xff")
            except causeway.Error:
                pass
            try:
                e.trace("ab" * 16)
            except causeway.Error:
                pass

    for _ in range(3):
        work()
    gc.collect()
    before = sys.getallocatedblocks()
    for _ in range(30):
        work()
    gc.collect()
    grown = sys.getallocatedblocks() - before
    assert grown < 100, grown
