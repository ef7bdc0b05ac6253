"""Bad input raises causeway.Error carrying the CW_E* name and the reason;
it never crashes and never loses what was already accepted."""
import gzip
import json
import os
import random

import pytest

import causeway
from conftest import data


def span_json(trace_id="5b8efff798038103d269b633813fc60c", span_id="eee19b7ec3c1b174",
              name="op", parent=None):
    span = {"traceId": trace_id, "spanId": span_id, "name": name, "kind": 2,
            "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000100000000"}
    if parent:
        span["parentSpanId"] = parent
    return json.dumps({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
        "scopeSpans": [{"spans": [span]}]}]})


def raises(name, fn, *args, **kw):
    with pytest.raises(causeway.Error) as info:
        fn(*args, **kw)
    e = info.value
    assert e.name == name, str(e)
    assert e.code == causeway.ERROR_CODES[name]
    assert str(e).startswith(name) or name in str(e)
    assert e.message
    return e


def test_malformed_requests():
    with causeway.Engine() as eng:
        e = raises("CW_EPROTO", eng.ingest, b"\x0a\xff\xff\xff", "protobuf")
        assert e.reason and e.result["spans_accepted"] == 0
        e = raises("CW_EJSON", eng.ingest, b'{"resourceSpans": [', "json")
        assert e.reason and e.offset
        raises("CW_EJSON", eng.ingest, '{"resourceSpans": 5}', "json")
        raises("CW_EGZIP", eng.ingest, b"not gzip at all", "protobuf", gzip=True)
        raises("CW_EGZIP", eng.ingest, gzip.compress(b"x" * 100)[:-6], "json", gzip=True)
        # None of it was kept.
        st = eng.stats()
        assert st["spans_accepted"] == 0 and st["requests_rejected"] >= 5


def test_good_request_in_every_form():
    body = span_json()
    for data_ in (body, body.encode(), bytearray(body.encode()), memoryview(body.encode())):
        with causeway.Engine() as eng:
            r = eng.ingest(data_, "json")
            assert r == {"spans_accepted": 1, "spans_rejected": 0, "links_dropped": 0,
                         "reason": None, "rejected": {k: 0 for k in r["rejected"]}}
    with causeway.Engine() as eng:
        assert eng.ingest(gzip.compress(body.encode()), "json", gzip=True)["spans_accepted"] == 1


def test_partial_success_is_not_an_error():
    with causeway.Engine() as eng:
        r = eng.ingest(span_json(trace_id="abcd"), "json")
        assert r["spans_accepted"] == 0 and r["spans_rejected"] == 1
        assert r["rejected"]["bad_trace_id"] == 1 and r["reason"]
        assert eng.stats()["rejected"]["bad_trace_id"] == 1


def test_limits():
    big = gzip.compress(span_json().encode() * 1)
    with causeway.Engine(max_decompressed_bytes=100) as eng:
        raises("CW_ETOOBIG", eng.ingest, big, "json", gzip=True)
    with open(data("samples", "mixed", "pb", "0000.pb"), "rb") as f:
        body = f.read()
    with causeway.Engine(memory_budget=4096) as eng:
        e = raises("CW_EBUDGET", eng.ingest, body)
        assert e.result["spans_rejected"] > 0
        assert e.result["rejected"]["over_budget"] == e.result["spans_rejected"]


def test_files(tmp_path):
    with causeway.Engine() as eng:
        missing = tmp_path / "missing.pb"
        e = raises("CW_EIO", eng.ingest_file, missing)
        assert e.path == str(missing)
        raises("CW_EIO", eng.ingest_file, str(tmp_path))  # a folder
        # Line files: lines before the bad one stay ingested.
        lines = tmp_path / "bad.jsonl"
        lines.write_text(span_json() + "\n" + "{nope\n")
        e = raises("CW_EJSON", eng.ingest_file, lines)
        assert e.line == 2 and "line 2" in str(e)
        assert eng.stats()["spans_accepted"] == 1
        bad = tmp_path / "bad.pb"
        bad.write_bytes(b"\x0a\xff\xff\xff")
        raises("CW_EPROTO", eng.ingest_file, bad)
        with pytest.raises(TypeError):
            eng.ingest_file(42)


def test_ids_and_lookups():
    with causeway.load(data("captures", "retry-proto-0000.pb")) as eng:
        for fn in (eng.trace, eng.chain, eng.retry_groups, eng.loops, eng.dot):
            raises("CW_EINVAL", fn, "xyz")
            raises("CW_EINVAL", fn, "zz" * 16)
            raises("CW_EINVAL", fn, "0" * 32)  # all zero: no trace has it
            raises("CW_ENOTFOUND", fn, "ab" * 16)
            with pytest.raises(TypeError):
                fn(123)


def test_bad_arguments():
    with causeway.Engine() as eng:
        raises("CW_EINVAL", eng.ingest, b"", "xml")
        raises("CW_EINVAL", eng.ingest, "text", "protobuf")
        raises("CW_EINVAL", eng.top, "width")
        raises("CW_EINVAL", eng.top, "depth", -1)
        raises("CW_EINVAL", eng.top_chains, "width")
        with pytest.raises(TypeError):
            eng.ingest(12345, "json")
        with pytest.raises(TypeError):
            eng.serve(bogus=1)
        with pytest.raises(TypeError):
            eng.serve(listen=4318)
        raises("CW_EINVAL", eng.serve, listen="no-port-here", api=None)
    with pytest.raises(TypeError):
        causeway.Engine(bogus=1)
    with pytest.raises(TypeError):
        causeway.Engine(memory_budget="1GiB")
    with pytest.raises(TypeError):
        causeway.Engine(1)
    raises("CW_EINVAL", causeway.Engine, memory_budget=-1)
    raises("CW_EINVAL", causeway.Engine, max_attr_len=1 << 40)
    raises("CW_EINVAL", causeway.Engine, max_attr_len=0)   # the library's own check
    raises("CW_EINVAL", causeway.Engine, idle_timeout_ns=0.5)
    raises("CW_EINVAL", causeway.Engine, completion_threads=9)  # at most 8
    assert causeway.Engine(completion_threads=2).stats()["requests"] == 0
    assert causeway.Engine(idle_timeout_ns=5e9).stats()["requests"] == 0


def test_closed_engine():
    eng = causeway.Engine()
    eng.ingest(span_json(), "json")
    eng.close()
    eng.close()  # idempotent
    assert eng.closed
    for call in (lambda: eng.ingest(span_json(), "json"), eng.flush, eng.tick, eng.traces,
                 eng.chains, eng.edges, lambda: eng.trace("ab" * 16), lambda: eng.top(),
                 lambda: eng.dump(), lambda: eng.serve(listen="127.0.0.1:0", api=None),
                 lambda: eng.ingest_file(data("captures", "retry-proto-0000.pb"))):
        raises("CW_ECLOSED", call)
    with pytest.raises(causeway.Error):
        with eng:
            pass
    assert eng.stats()["spans_accepted"] == 1


def test_garbage_never_crashes():
    """Random and mutated bodies: an error or a result, nothing else."""
    rng = random.Random(6)
    with open(data("captures", "chain-proto-0000.pb"), "rb") as f:
        pb = f.read()
    js = span_json().encode()
    with causeway.Engine() as eng:
        for i in range(400):
            base = pb if i % 2 else js
            b = bytearray(base)
            for _ in range(rng.randint(1, 8)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            if i % 7 == 0:
                b = bytearray(os.urandom(rng.randint(0, 64)))
            for enc in ("protobuf", "json"):
                try:
                    eng.ingest(bytes(b), enc)
                except causeway.Error as e:
                    assert e.name in ("CW_EPROTO", "CW_EJSON")
        eng.flush()
        eng.traces(), eng.chains(), eng.edges()
