"""Ingest and queries from several Python threads at once (the GIL is
released inside the library)."""
import os
import threading

import causeway
from conftest import data


def run_threads(n, target):
    errors = []

    def wrap(i):
        try:
            target(i)
        except BaseException as e:  # reported below, with its thread
            errors.append((i, e))

    ts = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors


def test_threads_ingest_same_result(mixed, mixed_requests):
    want = mixed.dump()
    for nthreads in (2, 8):
        with causeway.Engine() as eng:
            run_threads(nthreads, lambda i: [eng.ingest(b) for b in mixed_requests[i::nthreads]])
            eng.flush()
            assert eng.dump() == want
            assert eng.stats()["spans_accepted"] == mixed.stats()["spans_accepted"]


def test_threads_ingest_while_others_query(mixed, mixed_requests):
    with causeway.Engine(idle_timeout_ns=1) as eng:
        done = threading.Event()

        def work(i):
            if i < 3:
                for b in mixed_requests[i::3]:
                    eng.ingest(b)
                    eng.tick()  # idle_timeout 1 ns: completes traces as they come
                return
            while not done.is_set():
                for t in eng.top("depth", 5):
                    try:
                        eng.trace(t["trace_id"])
                        eng.retry_groups(t["trace_id"])
                    except causeway.Error as e:  # evicted or replaced meanwhile
                        assert e.name == "CW_ENOTFOUND"
                eng.traces(), eng.chains(), eng.edges(), eng.stats(), eng.dump()

        readers = [threading.Thread(target=work, args=(i,)) for i in range(3, 6)]
        for r in readers:
            r.start()
        try:
            run_threads(3, work)
        finally:
            done.set()
            for r in readers:
                r.join()
        eng.flush()
        assert eng.stats()["spans_accepted"] == mixed.stats()["spans_accepted"]


def test_close_waits_for_running_calls(mixed_requests):
    eng = causeway.Engine()
    started = threading.Barrier(5)
    outcome = []

    def work(i):
        started.wait()
        try:
            while True:
                for b in mixed_requests:
                    eng.ingest(b)
                    eng.traces()
        except causeway.Error as e:
            outcome.append(e.name)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    started.wait()
    eng.close()
    for t in ts:
        t.join()
    assert outcome == ["CW_ECLOSED"] * 4
    assert eng.allocated_bytes == 0 and eng.allocated_blocks == 0


def test_ingest_releases_the_gil():
    """ingest_file('-') blocks in read(2) on standard input; this thread can
    only feed the pipe if the reading thread let go of the GIL."""
    with open(data("samples", "mixed", "pb", "0000.pb"), "rb") as f:
        body = f.read()
    r, w = os.pipe()
    saved = os.dup(0)
    os.dup2(r, 0)
    os.close(r)
    try:
        with causeway.Engine() as eng:
            result = []
            t = threading.Thread(target=lambda: result.append(eng.ingest_file("-")))
            t.start()
            for i in range(0, len(body), 4096):
                os.write(w, body[i:i + 4096])
            os.close(w)
            t.join()
            assert result[0]["spans_accepted"] > 0
    finally:
        os.dup2(saved, 0)
        os.close(saved)
