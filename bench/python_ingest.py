#!/usr/bin/python3
"""Python ingest throughput against the C API's, on the same requests.

usage: python_ingest.py [--quick] [--json] [--runs N] [--spans N] [FILE ...]

Each figure ingests every request body of a workload into a fresh engine,
one request after another on one thread, and reports spans/s:

  py-<enc>     causeway.Engine.ingest(body, encoding) in a Python for loop
               (the binding: argument parsing, the GIL released around
               cw_engine_ingest, the result dict), the engine with the
               binding's counting allocator;
  c-api-<enc>  the baseline: cw_engine_ingest on the same bodies in a C loop
               with the GIL released (causeway._causeway._c_ingest_loop), an
               engine with the C library's default allocator.

<enc> is pb (protobuf) and json. ratio = py median / C median, both from the
same process run, runs interleaved (round r measures every figure once).
The target (issue 6) is a ratio of at least 0.8.

Workload: FILEs (.pb/.bin protobuf, .json JSON, .gz gzipped; each file one
request) or, without any, causeway-gen's (seed 42, --spans N spans, default
200,000; 50,000 with --quick; requests of 512 spans) written to a scratch
folder in both encodings. causeway-gen is $CAUSEWAY_GEN, else
build*/tools/causeway-gen of this checkout, else on PATH.

Output: a table, or with --json one object per figure per line (SPEC.md
section 7: bench, name, threads, unit, median, min, max, spans_per_s,
baseline, ratio); context lines go to stderr.

Run with the package importable, e.g. from a build with -Dpython=enabled:
    PYTHONPATH=build/bindings/python bench/python_ingest.py
"""
import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import causeway
from causeway import _causeway

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def find_gen():
    gen = os.environ.get("CAUSEWAY_GEN")
    if gen:
        return gen
    for cand in sorted(glob.glob(os.path.join(ROOT, "build*", "tools", "causeway-gen"))):
        if os.access(cand, os.X_OK):
            return cand
    return shutil.which("causeway-gen")


def generate(spans, out):
    gen = find_gen()
    if not gen:
        sys.exit("python_ingest.py: no causeway-gen (set CAUSEWAY_GEN) and no FILE given")
    workloads = {}
    for enc, fmt in (("pb", "pb"), ("json", "json")):
        d = os.path.join(out, enc)
        os.makedirs(d)
        subprocess.run([gen, "--spans", str(spans), "--seed", "42", "--format", fmt, d],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        workloads[enc] = sorted(glob.glob(os.path.join(d, "*." + fmt)))
    return workloads


def read(paths):
    """(encoding, gzip, bodies) of files that share one encoding."""
    bodies, kinds = [], set()
    for p in paths:
        with open(p, "rb") as f:
            bodies.append(f.read())
        name = p[:-3] if p.endswith(".gz") else p
        kinds.add(("json" if name.endswith(".json") else "protobuf", p.endswith(".gz")))
    if len(kinds) != 1:
        sys.exit("python_ingest.py: give files of one encoding (%s)" % sorted(kinds))
    enc, gz = kinds.pop()
    return enc, gz, bodies


def py_run(bodies, enc, gz, budget):
    eng = causeway.Engine(memory_budget=budget)
    ingest = eng.ingest
    t0 = time.perf_counter_ns()
    spans = 0
    for b in bodies:
        spans += ingest(b, enc, gz)["spans_accepted"]
    t = (time.perf_counter_ns() - t0) / 1e9
    eng.close()
    return t, spans


def c_run(bodies, enc, gz, budget):
    return _causeway._c_ingest_loop(bodies, enc, gz, memory_budget=budget)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*")
    ap.add_argument("--quick", action="store_true", help="3 runs, 50,000 spans")
    ap.add_argument("--json", action="store_true", help="JSON lines (SPEC.md section 7)")
    ap.add_argument("--runs", type=int, help="runs per figure (default 7, 3 with --quick)")
    ap.add_argument("--spans", type=int, help="spans to generate")
    args = ap.parse_args(argv)
    runs = args.runs or (3 if args.quick else 7)
    spans = args.spans or (50_000 if args.quick else 200_000)

    scratch = None
    try:
        if args.files:
            enc, gz, bodies = read(args.files)
            sets = [("pb" if enc == "protobuf" else "json", enc, gz, bodies)]
            what = "%d files" % len(args.files)
        else:
            scratch = tempfile.mkdtemp(prefix="cw-python-ingest-")
            w = generate(spans, scratch)
            sets = [("pb", "protobuf", False, read(w["pb"])[2]),
                    ("json", "json", False, read(w["json"])[2])]
            what = "causeway-gen, seed 42, %d spans" % spans
    finally:
        if scratch:
            shutil.rmtree(scratch)

    log = sys.stderr if args.json else sys.stdout
    for tag, enc, gz, bodies in sets:
        size = sum(map(len, bodies))
        print("workload %s: %s, %d requests, %.1f MB%s" % (
            tag, what, len(bodies), size / 1e6, " gzipped" if gz else ""), file=log)
    print("causeway %s, Python %s, %d runs per figure, one thread" % (
        causeway.library_version, sys.version.split()[0], runs), file=log)

    times = {}
    counts = {}
    for tag, enc, gz, bodies in sets:
        # Offline budget (tools/causeway.c): every span may be live at once.
        budget = max(64 << 20, 4 * sum(map(len, bodies)) * (10 if gz else 1))
        for fn in (c_run, py_run):  # warm-up, and the span counts to compare
            counts[(fn, tag)] = fn(bodies, enc, gz, budget)[1]
        if counts[(c_run, tag)] != counts[(py_run, tag)]:
            sys.exit("python_ingest.py: C and Python accepted different span counts")
        for _ in range(runs):
            for fn in (c_run, py_run):
                times.setdefault((fn, tag), []).append(fn(bodies, enc, gz, budget)[0])

    rows = []
    for tag, *_ in sets:
        n = counts[(c_run, tag)]
        c = sorted(n / t for t in times[(c_run, tag)])
        p = sorted(n / t for t in times[(py_run, tag)])
        base = {"bench": "python", "threads": 1, "unit": "spans/s"}
        cmed, pmed = statistics.median(c), statistics.median(p)
        rows.append(dict(base, name="c-api-" + tag, median=cmed, min=c[0], max=c[-1],
                         spans_per_s=cmed))
        rows.append(dict(base, name="py-" + tag, median=pmed, min=p[0], max=p[-1],
                         spans_per_s=pmed, baseline="c-api-" + tag, ratio=pmed / cmed))
    if args.json:
        for r in rows:
            print(json.dumps(r))
    else:
        print("%-12s %14s %14s %14s %8s" % ("figure", "median/s", "min/s", "max/s", "ratio"))
        for r in rows:
            print("%-12s %14.4g %14.4g %14.4g %8s" % (
                r["name"], r["median"], r["min"], r["max"],
                "%.3f" % r["ratio"] if "ratio" in r else "-"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
