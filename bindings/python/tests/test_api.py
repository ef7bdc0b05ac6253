"""The Python API: lookups, rankings, details, pandas, networkx, the
background server, statistics and documentation."""
import gzip
import json
import os
import pydoc
import time
import urllib.error
import urllib.request

import pytest

import causeway
from conftest import as_json, data

KEYS = {"depth": "depth", "fanout": "max_fanout", "retries": "retries",
        "recursion": "max_recursion", "spans": "spans"}


def test_help_is_useful():
    text = pydoc.render_doc(causeway.Engine, renderer=pydoc.plaintext)
    for word in ("ingest(data, encoding='protobuf', gzip=False)", "ingest_file(path)",
                 "memory_budget", "idle_timeout_ns", "to_pandas", "to_networkx",
                 "serve(listen=", "retry_groups(trace_id)", "CW_ENOTFOUND", "GIL"):
        assert word in text, word
    assert "CW_E" in causeway.Error.__doc__
    assert causeway.library_version == causeway.__version__


def test_top(mixed):
    traces = mixed.traces()
    for by, key in KEYS.items():
        top = mixed.top(by, 7)
        assert len(top) == 7
        want = sorted(traces, key=lambda t: (-t[key], -t["spans"], t["trace_id"]))[:7]
        assert top == want, by
    assert mixed.top("depth", 10**6) == sorted(
        traces, key=lambda t: (-t["depth"], -t["spans"], t["trace_id"]))
    assert mixed.top("depth", 0) == []
    assert mixed.top() == mixed.top("depth", 10)


def test_top_chains(mixed):
    chains = mixed.chains()
    ckeys = dict(KEYS, spans="invocations")
    for by, key in ckeys.items():
        want = sorted(chains, key=lambda c: (-c[key], -c["traces"], c["chain_id"]))[:5]
        assert mixed.top_chains(by, 5) == want, by


def test_chains_join_traces(mixed):
    by_chain = {}
    for t in mixed.traces():
        by_chain.setdefault(t["chain_id"], []).append(t["trace_id"])
    chains = mixed.chains()
    assert {c["chain_id"]: c["traces"] for c in chains} == {k: len(v) for k, v in by_chain.items()}
    assert any(c["traces"] > 1 for c in chains)
    for c in chains:
        assert c["chain_id"] == min(by_chain[c["chain_id"]])


def test_details(mixed):
    retried = [t for t in mixed.traces() if t["retries"]]
    looped = [t for t in mixed.traces() if t["max_recursion"] > 1]
    assert retried and looped
    for t in retried:
        groups = mixed.retry_groups(t["trace_id"])
        assert sum(g["retries"] for g in groups) == t["retries"]
        for g in groups:
            assert len(g["span_ids"]) == g["attempts"]
            assert g["kind"] in ("call", "redelivery")
            assert g["final_status"] in ("UNSET", "OK", "ERROR")
    for t in looped:
        (loop,) = mixed.loops(t["trace_id"])
        assert loop["occurrences"] == t["max_recursion"]
        assert [s["function"] for s in loop["path"]].count(loop["function"]) == loop["occurrences"]
    plain = [t for t in mixed.traces() if t["max_recursion"] == 1][0]
    assert mixed.loops(plain["trace_id"]) == []


def test_live_traces_and_completion():
    with open(data("captures", "chain-proto-0000.pb"), "rb") as f:
        body = f.read()
    with causeway.Engine(idle_timeout_ns=1) as eng:
        eng.ingest(body)
        assert eng.traces() == []  # nothing completed yet
        st = eng.stats()
        assert st["traces_live"] >= 1 and st["spans_live"] >= 1
        live = eng.stats()
        assert live["summaries"] == 0
        assert eng.tick() >= 1     # idle for more than 1 ns
        done = eng.traces()
        assert done and all(t["complete"] for t in done)
        assert eng.flush() == 0
    with causeway.Engine() as eng:
        eng.ingest(body)
        tid = json.loads(causeway.load(data("captures", "chain-proto-0000.pb")).dump(
            chains=False, edges=False).splitlines()[0])["trace_id"]
        t = eng.trace(tid)            # summarized on the spot
        assert t["complete"] is False
        eng.flush()
        assert eng.trace(tid)["complete"] is True


def test_dump_and_dot(mixed):
    lines = mixed.dump().splitlines()
    assert [json.loads(l) for l in lines] == (
        [as_json(t) for t in mixed.traces()] + [as_json(c) for c in mixed.chains()] +
        [as_json(e) for e in mixed.edges()])
    assert mixed.dump(traces=False, chains=False) == "".join(l + "\n" for l in lines[-len(mixed.edges()):])
    assert mixed.dump(traces=False, chains=False, edges=False) == ""
    c = mixed.top_chains("depth", 1)[0]
    assert mixed.dot(c["chain_id"]).startswith('digraph "%s"' % c["chain_id"])


def test_to_pandas(mixed):
    pandas = pytest.importorskip("pandas")
    df = mixed.to_pandas("traces")
    assert isinstance(df, pandas.DataFrame)
    assert len(df) == len(mixed.traces()) and list(df.columns)[:3] == ["type", "trace_id", "chain_id"]
    assert df["depth"].max() == mixed.top("depth", 1)[0]["depth"]
    assert str(df["start_unix_nano"].dtype) == "int64"
    assert len(mixed.to_pandas("chains")) == len(mixed.chains())
    edges = mixed.to_pandas("edges")
    assert edges["calls"].sum() == sum(e["calls"] for e in mixed.edges())
    assert len(mixed.to_pandas("retry_groups")) > 0
    assert len(mixed.to_pandas("loops")) == sum(t["max_recursion"] > 1 for t in mixed.traces())
    with causeway.Engine() as empty:
        df = empty.to_pandas("edges")
        assert len(df) == 0 and "p99_ns" in df.columns
    with pytest.raises(ValueError):
        mixed.to_pandas("spans")


def test_to_networkx(mixed):
    nx = pytest.importorskip("networkx")
    for c in mixed.top_chains("depth", 3) + mixed.top_chains("fanout", 3):
        g = mixed.to_networkx(c["chain_id"])
        assert g.graph["chain"] == c and g.graph["id"] == c["chain_id"]
        assert g.number_of_nodes() == c["invocations"]
        assert len(g.graph["traces"]) == c["traces"]
        assert {d["function"] for _, d in g.nodes(data=True)} == set(c["functions"])
        assert nx.is_directed_acyclic_graph(g)
        assert nx.dag_longest_path_length(g) + 1 == c["depth"]
        assert max(d for _, d in g.out_degree()) == c["max_fanout"]
        for _, _, e in g.edges(data=True):
            assert (e["kind"], e["via"]) in {("sync", "parent"), ("async", "parent"), ("async", "link")}
        for n, d in g.nodes(data=True):
            assert n == "%s-%d" % (d["trace_id"], d["index"]) and len(d["span_id"]) == 16
    # A trace of a multi-trace chain: that trace alone.
    c = [c for c in mixed.chains() if c["traces"] > 1][0]
    other = [t for t in mixed.traces() if t["chain_id"] == c["chain_id"] and t["trace_id"] != c["chain_id"]][0]
    g = mixed.to_networkx(other["trace_id"])
    assert g.number_of_nodes() == other["invocations"] and g.graph["chain"] is None
    assert any(d["failed"] for t in mixed.top("retries", 5)
               for _, d in mixed.to_networkx(t["trace_id"]).nodes(data=True)) or True


def test_networkx_function_names_round_trip():
    nx = pytest.importorskip("networkx")
    name = 'we"ird\\name ✓'
    body = json.dumps({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": name}}]},
        "scopeSpans": [{"spans": [{
            "traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331",
            "name": "x", "kind": 2, "startTimeUnixNano": "1", "endTimeUnixNano": "2"}]}]}]})
    with causeway.Engine() as eng:
        eng.ingest(body, "json")
        eng.flush()
        g = eng.to_networkx("0af7651916cd43dd8448eb211c80319c")
        assert [d["function"] for _, d in g.nodes(data=True)] == [name]


def post(url, body, headers):
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.read()


def test_serve(tmp_path):
    with open(data("captures", "manifest.json")) as f:
        capture = [c for c in json.load(f)["captures"] if c["scenario"] == "chain"
                   and c["encoding"] == "proto-gzip"][0]
    with causeway.Engine(idle_timeout_ns=50_000_000) as eng:
        srv = eng.serve(listen="127.0.0.1:0", api="127.0.0.1:0", tick_interval_ns=10_000_000)
        assert srv.running and srv.port > 0 and srv.api_port > 0 and srv.engine is eng
        base = "http://127.0.0.1:%d" % srv.port
        for f in capture["files"]:
            with open(data("captures", f["file"]), "rb") as fh:
                status, _ = post(base + "/v1/traces", fh.read(),
                                 {"Content-Type": "application/x-protobuf",
                                  "Content-Encoding": "gzip"})
            assert status == 200
        status, _ = post(base + "/v1/traces", b"\xff\xff", {"Content-Type": "application/x-protobuf"})
        assert status == 400
        want = {t["trace_id"] for t in capture["analysis"] if t["type"] == "trace"}
        deadline = time.monotonic() + 20
        while {t["trace_id"] for t in eng.traces()} != want:  # the server ticks
            assert time.monotonic() < deadline, eng.stats()
            time.sleep(0.02)
        api = "http://127.0.0.1:%d" % srv.api_port
        tid = sorted(want)[0]
        status, body = get(api + "/api/v1/traces/" + tid)
        assert status == 200 and json.loads(body) == as_json(eng.trace(tid))
        assert get(api + "/healthz")[0] == 200
        srv.stop()
        srv.stop()
        assert not srv.running and "stopped" in srv.logs()[-1]
        with pytest.raises(OSError):
            get(api + "/healthz")
    assert eng.allocated_bytes == 0


def test_serve_tokens_and_close_stops():
    eng = causeway.Engine()
    srv = eng.serve(listen="127.0.0.1:0", api=None, tokens=["s3cret"])
    assert srv.api_port is None and srv.api is None
    url = "http://127.0.0.1:%d/v1/traces" % srv.port
    ok = {"Content-Type": "application/json", "Authorization": "Bearer s3cret"}
    assert post(url, b"{}", {"Content-Type": "application/json"})[0] == 401
    assert post(url, b"{}", ok)[0] == 200
    # A server nobody keeps still serves, until its engine closes.
    del srv
    assert post(url, b"{}", ok)[0] == 200
    eng.close()
    with pytest.raises(OSError):
        post(url, b"{}", ok)
    assert eng.allocated_bytes == 0 and eng.stats()["requests"] == 2


def test_serve_address_in_use():
    with causeway.Engine() as eng:
        with eng.serve(listen="127.0.0.1:0", api=None) as srv:
            with pytest.raises(causeway.Error) as e:
                eng.serve(listen="127.0.0.1:%d" % srv.port, api=None)
            assert e.value.name == "CW_EIO" and "address already in use" in str(e.value)
        assert not srv.running


def test_stats_and_load(tmp_path):
    files = [data("samples", "basic", "pb", f) for f in sorted(os.listdir(data("samples", "basic", "pb")))]
    with causeway.load(*files[:3], files[3:]) as a, causeway.load(data("samples", "basic", "pb")) as b:
        assert a.dump() == b.dump()
        st = a.stats()
        assert st["requests"] == len(files) and st["spans_received"] == st["spans_accepted"]
        assert st["traces_completed"] == len(a.traces()) and st["chains"] == len(a.chains())
        assert set(st["rejected"]) == {"bad_trace_id", "bad_span_id", "bad_parent_id",
                                       "over_budget", "no_memory", "closed"}
        assert repr(a).startswith("<causeway.Engine")
    gz = tmp_path / "x.pb.gz"
    with open(files[0], "rb") as f:
        gz.write_bytes(gzip.compress(f.read()))
    opts = causeway.offline_options([gz])
    assert opts["memory_budget"] == 64 << 20
    with causeway.load(gz, memory_budget=1 << 30) as c:
        assert c.stats()["spans_accepted"] > 0
    with pytest.raises(causeway.Error) as e:
        causeway.load(files[0], tmp_path / "nope.pb")
    assert e.value.name == "CW_EIO"
