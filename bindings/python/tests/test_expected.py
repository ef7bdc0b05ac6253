"""The shared sample sets give the same summaries through Python as through
`causeway analyze --json`, and match the expected analyses committed with
them (tests/data, as tests/e2e/compare_expected.py checks the CLI)."""
import json

import pytest

import causeway
from conftest import as_json, data, run_cli, sample_sets

SETS = sample_sets()


def cli_objects(files, *flags):
    return [json.loads(l) for l in run_cli("analyze", "--json", *flags, *files).splitlines()
            if l.strip()]


@pytest.mark.parametrize("label,files", SETS, ids=[s[0] for s in SETS])
def test_same_as_cli(label, files):
    want = cli_objects(files)
    with causeway.load(files) as eng:
        # The objects, one by one, through the dict API...
        got = ([as_json(t) for t in eng.traces()] + [as_json(c) for c in eng.chains()] +
               [as_json(e) for e in eng.edges()])
        assert got == want
        # ... and the JSON lines, byte for byte.
        assert eng.dump() == run_cli("analyze", "--json", *files)
        # Lookups by id agree with the lists.
        for t in eng.traces():
            assert eng.trace(t["trace_id"]) == t
            assert eng.trace(t["trace_id"].upper()) == t
        for c in eng.chains():
            assert eng.chain(c["chain_id"]) == c


@pytest.mark.parametrize("label,files", SETS, ids=[s[0] for s in SETS])
def test_details_same_as_cli(label, files):
    """retry_groups() and loops() are the --detail objects of the CLI."""
    want = [o for o in cli_objects(files, "--detail") if o["type"] in ("retry_group", "loop")]
    with causeway.load(files) as eng:
        got = []
        for t in eng.traces():
            if t["retries"] or t["max_recursion"] > 1:
                got += eng.retry_groups(t["trace_id"]) + eng.loops(t["trace_id"])
    assert got == want


def expected(path, **match):
    with open(path) as f:
        rows = [json.loads(l) for l in f if l.strip()]
    return [r for r in rows if all(r.get(k) == v for k, v in match.items())]


def check_expected(eng, want):
    """Every expected object is there with the fields it has; nothing else."""
    got = {}
    for o in eng.traces():
        got[("trace", o["trace_id"])] = as_json(o)
    for o in eng.chains():
        got[("chain", o["chain_id"])] = as_json(o)
    for o in eng.edges():
        got[("edge", o["caller"], o["callee"], o["kind"])] = as_json(o)

    def key(o):
        if o["type"] == "edge":
            return ("edge", o["caller"], o["callee"], o["kind"])
        return (o["type"], o[o["type"] + "_id"])

    for e in want:
        g = got.get(key(e))
        assert g is not None, key(e)
        assert {k: g.get(k) for k in e} == e
    assert set(got) == {key(e) for e in want}


@pytest.mark.parametrize("name", ["basic", "mixed"])
def test_samples_expected(name):
    want = expected(data("samples", name, "expected.jsonl"))
    with causeway.load(data("samples", name, "pb")) as eng:
        check_expected(eng, want)
    with causeway.load(data("samples", name, "all.jsonl.gz")) as eng:
        check_expected(eng, want)


def test_realdata_expected():
    rows = expected(data("realdata", "expected.jsonl"))
    for name in sorted({r["file"] for r in rows}):
        want = [{k: v for k, v in r.items() if k != "file"} for r in rows if r["file"] == name]
        for path in (data("realdata", "otlp", name),
                     data("realdata", "otlp-proto", name[:-5] + ".pb")):
            with causeway.load(path) as eng:
                check_expected(eng, want)


def test_captures_expected():
    with open(data("captures", "manifest.json")) as f:
        captures = json.load(f)["captures"]
    for c in captures:
        with causeway.Engine() as eng:
            # As the receiver got them: bodies in memory, by content type.
            for f in c["files"]:
                with open(data("captures", f["file"]), "rb") as fh:
                    body = fh.read()
                enc = "json" if "json" in f["headers"]["content-type"] else "protobuf"
                gz = f["headers"].get("content-encoding") == "gzip"
                r = eng.ingest(body, enc, gzip=gz)
                assert r["spans_accepted"] == f["spans"]
            eng.flush()
            check_expected(eng, c["analysis"])
