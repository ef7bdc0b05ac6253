#!/usr/bin/python3
"""Checks `causeway analyze --json` against the expected analyses of the
test data (tests/data, copied from the team's shared vectors).

For each check, every expected object must appear in the output with every
field it has equal to the output's (the output may carry more fields: times,
latencies); the output must hold no other objects and be in SPEC.md
section 3.1 order (traces by trace_id, chains by chain_id, edges by caller,
callee, kind).

usage: compare_expected.py CAUSEWAY samples DIR      pb/*.pb and all.jsonl.gz
       compare_expected.py CAUSEWAY realdata DIR     each file alone, JSON and pb
       compare_expected.py CAUSEWAY captures DIR     each scenario, per manifest
"""
import glob
import json
import os
import subprocess
import sys


def key(o):
    t = o["type"]
    if t == "trace":
        return (0, o["trace_id"])
    if t == "chain":
        return (1, o["chain_id"])
    return (2, o["caller"], o["callee"], o["kind"])


def analyze(exe, inputs):
    run = subprocess.run([exe, "analyze", "--json", *inputs], capture_output=True, text=True)
    if run.returncode != 0:
        return None, f"causeway exited {run.returncode}: {run.stderr.strip()}"
    return [json.loads(l) for l in run.stdout.splitlines() if l.strip()], None


def compare(exe, expected, inputs, label):
    got, err = analyze(exe, inputs)
    if err:
        return [f"{label}: {err}"]
    problems = []
    if [key(o) for o in got] != sorted(key(o) for o in got):
        problems.append(f"{label}: output is not in SPEC.md section 3.1 order")
    index = {key(o): o for o in got}
    for e in expected:
        g = index.get(key(e))
        if g is None:
            problems.append(f"{label}: missing {key(e)}")
            continue
        for field, want in e.items():
            if g.get(field) != want:
                problems.append(f"{label}: {key(e)} {field}: got {g.get(field)!r}, want {want!r}")
    for k in sorted(set(index) - {key(e) for e in expected}):
        problems.append(f"{label}: unexpected {k}")
    return problems


def load_jsonl(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def check_samples(exe, d):
    expected = load_jsonl(os.path.join(d, "expected.jsonl"))
    pbs = sorted(glob.glob(os.path.join(d, "pb", "*.pb")))
    if not pbs:
        return [f"no protobuf files in {d}/pb"], 0
    problems = compare(exe, expected, pbs, f"{d} (protobuf)")
    problems += compare(exe, expected, [os.path.join(d, "all.jsonl.gz")], f"{d} (JSON lines)")
    return problems, 2 * len(expected)


def check_realdata(exe, d):
    expected = load_jsonl(os.path.join(d, "expected.jsonl"))
    files = sorted({e["file"] for e in expected})
    problems, n = [], 0
    for name in files:
        want = [{k: v for k, v in e.items() if k != "file"} for e in expected if e["file"] == name]
        base = name[: -len(".json")]
        problems += compare(exe, want, [os.path.join(d, "otlp", name)], name)
        problems += compare(exe, want, [os.path.join(d, "otlp-proto", base + ".pb")], base + ".pb")
        n += 2 * len(want)
    return problems, n


def check_captures(exe, d):
    with open(os.path.join(d, "manifest.json")) as f:
        manifest = json.load(f)
    problems, n = [], 0
    for c in manifest["captures"]:
        inputs = [os.path.join(d, f["file"]) for f in c["files"]]
        problems += compare(exe, c["analysis"], inputs, f"{c['scenario']} ({c['encoding']})")
        n += len(c["analysis"])
    return problems, n


def main(argv):
    checks = {"samples": check_samples, "realdata": check_realdata, "captures": check_captures}
    if len(argv) != 4 or argv[2] not in checks:
        print(__doc__, file=sys.stderr)
        return 2
    problems, n = checks[argv[2]](argv[1], argv[3])
    for p in problems[:40]:
        print(p, file=sys.stderr)
    if problems:
        print(f"{len(problems)} differences over {n} expected objects", file=sys.stderr)
        return 1
    print(f"ok: {n} expected objects match")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
