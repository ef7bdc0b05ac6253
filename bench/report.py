#!/usr/bin/python3
"""Turns a `causeway-bench all --out DIR` run into bench/README.md tables and
PNG plots.

    bench/report.py DIR [--readme bench/README.md] [--plots bench/plots]

Reads DIR/results.jsonl (one JSON object per figure, SPEC.md section 7) and
DIR/machine.json, replaces the part of the README between the markers
<!-- report:begin --> and <!-- report:end --> with one table per scenario
(and the machine and command), and writes the plots the tables refer to.
Needs Debian's python3-matplotlib for the plots; without it, the tables are
still written and the plots are skipped with a message.
"""

import argparse
import json
import math
import os
import re
import sys

BEGIN, END = "<!-- report:begin -->", "<!-- report:end -->"
ORDER = ["decode", "graph", "analyze", "http", "query", "scaling"]
STANDARD = {"bench", "name", "threads", "unit", "median", "min", "max", "baseline",
            "ratio", "spans_per_s"}


def num(v):
    """A figure as people read it: 3 significant digits, SI-ish suffixes."""
    if v is None:
        return "n/a"
    if isinstance(v, float) and math.isnan(v):
        return "n/a"
    a = abs(v)
    for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return "%.3g%s" % (v / div, suf)
    if a >= 100 or v == int(v):
        return "%.0f" % v
    return "%.3g" % v


def load(dir_):
    rows = []
    with open(os.path.join(dir_, "results.jsonl")) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    machine = {}
    path = os.path.join(dir_, "machine.json")
    if os.path.exists(path):
        with open(path) as f:
            machine = json.load(f)
    return rows, machine


def table(rows):
    extras = []
    for r in rows:
        for k in r:
            if k not in STANDARD and k not in extras:
                extras.append(k)
    head = ["figure", "threads", "unit", "median", "min", "max", "vs baseline"] + extras
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        vs = ""
        if r.get("baseline"):
            vs = "%.2fx %s" % (r["ratio"], r["baseline"]) if r.get("ratio") is not None \
                else "n/a " + r["baseline"]
        cells = [r["name"], str(r["threads"]), r["unit"], num(r.get("median")),
                 num(r.get("min")), num(r.get("max")), vs]
        cells += [num(r[k]) if k in r else "" for k in extras]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


# The issues' targets: (issue, what, bench, name, threads or None, field,
# ">=" or "<=", value).
TARGETS = [
    (2, "hot-path decode vs protobuf-c", "decode", "hotpath", None, "ratio", ">=", 10),
    (2, "hot-path decode vs nanopb", "decode", "hotpath-vs-nanopb", None, "ratio", ">=", 3),
    (2, "JSON decode vs protobuf-c (protobuf)", "decode", "json", None, "ratio", ">=", 1),
    (2, "gzip vs libdeflate inflate-only (on par)", "decode", "gzip", None, "ratio", ">=", 0.9),
    (3, "graph inserts, 1 thread", "graph", "insert", 1, "median", ">=", 10e6),
    (3, "graph inserts, 2 threads / 1 thread", "graph", "scaling-2", 2, "ratio", ">=", 1.6),
    (3, "graph inserts vs mutex table, 2 threads", "graph", "insert", 2, "ratio", ">=", 3.0),
    (3, "bytes per live span", "graph", "memory", None, "median", "<=", 96),
    (4, "analysis vs the Python analyst", "analyze", "files", None, "ratio", ">=", 50),
    (4, "summary of a 100,201-span trace, ms", "analyze", "trace-summary-100k", None,
     "median", "<=", 50),
    (5, "end to end with gzip, spans/s", "http", "e2e-gzip", None, "median", ">=", 1e6),
    (5, "end to end with gzip vs decode-only", "http", "e2e-gzip", None, "ratio", ">=", 0.5),
]


def targets(rows):
    out = ["| issue | target | measured | met |", "|---|---|---|---|"]
    for issue, what, bench, name, threads, field, op, value in TARGETS:
        r = next((r for r in rows if r["bench"] == bench and r["name"] == name
                  and (threads is None or r["threads"] == threads)), None)
        got = r.get(field) if r else None
        if got is None:
            out.append("| %d | %s %s %s | not measured | - |" % (issue, what, op, num(value)))
            continue
        met = got >= value if op == ">=" else got <= value
        out.append("| %d | %s %s %s | %s | %s |" % (issue, what, op, num(value), num(got),
                                                   "yes" if met else "**no**"))
    return "\n".join(out)


def plots(rows, outdir):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("report.py: python3-matplotlib missing; plots skipped", file=sys.stderr)
        return []
    os.makedirs(outdir, exist_ok=True)
    made = []

    # Graph inserts against the mutex table, by thread count.
    g = [r for r in rows if r["bench"] == "graph" and r["name"] in ("insert", "mutex-table")]
    if g:
        fig, ax = plt.subplots(figsize=(6, 4))
        for name, style in (("insert", "o-"), ("mutex-table", "s--")):
            pts = sorted((r["threads"], r["median"]) for r in g if r["name"] == name)
            if pts:
                ax.plot([p[0] for p in pts], [p[1] / 1e6 for p in pts], style, label=name)
        ax.set_xlabel("writer threads")
        ax.set_ylabel("M spans/s")
        ax.set_title("graph inserts (1 concurrent reader)")
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(outdir, "graph.png"), dpi=100)
        plt.close(fig)
        made.append("graph.png")

    # Throughput against each baseline, as ratios.
    rat = [r for r in rows if r.get("baseline") and r.get("ratio") is not None
           and r["bench"] in ("decode", "graph", "analyze", "http")]
    if rat:
        fig, ax = plt.subplots(figsize=(7, 0.35 * len(rat) + 1.2))
        labels = ["%s %s (%s, %d thr)" % (r["bench"], r["name"], r["baseline"], r["threads"])
                  for r in rat]
        ax.barh(range(len(rat)), [r["ratio"] for r in rat])
        ax.set_yticks(range(len(rat)))
        ax.set_yticklabels(labels, fontsize=7)
        ax.axvline(1.0, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("ratio to baseline (same run; > 1 is better for throughput)")
        ax.invert_yaxis()
        fig.tight_layout()
        fig.savefig(os.path.join(outdir, "ratios.png"), dpi=100)
        plt.close(fig)
        made.append("ratios.png")

    # Scaling: time per point against size, log-log, one panel a dimension.
    sc = [r for r in rows if r["bench"] == "scaling" and "x" in r and r["unit"] == "ms"]
    dims = []
    for r in sc:
        if r["name"] not in dims:
            dims.append(r["name"])
    if dims:
        fig, axes = plt.subplots(1, len(dims), figsize=(3.2 * len(dims), 3.2))
        axes = axes if len(dims) > 1 else [axes]
        for ax, d in zip(axes, dims):
            pts = sorted((r["x"], r["median"]) for r in sc if r["name"] == d)
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            ax.loglog(xs, ys, "o-", label="measured")
            # A linear reference through the last point.
            ax.loglog(xs, [ys[-1] * x / xs[-1] for x in xs], ":", color="gray",
                      label="linear")
            slope = next((r["median"] for r in rows
                          if r["bench"] == "scaling" and r["name"] == d + "-slope"), None)
            ax.set_title("%s (slope %.2f)" % (d, slope) if slope is not None else d,
                         fontsize=9)
            ax.set_xlabel("x", fontsize=8)
            ax.set_ylabel("ms", fontsize=8)
            ax.grid(True, which="both", alpha=0.2)
        axes[0].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(os.path.join(outdir, "scaling.png"), dpi=100)
        plt.close(fig)
        made.append("scaling.png")
    return made


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("dir")
    ap.add_argument("--readme", default=os.path.join(here, "README.md"))
    ap.add_argument("--plots", default=os.path.join(here, "plots"))
    ap.add_argument("--command", default="build/bench/causeway-bench all --out DIR")
    args = ap.parse_args()
    rows, machine = load(args.dir)
    if not rows:
        sys.exit("report.py: %s/results.jsonl: no figures" % args.dir)

    parts = [BEGIN, ""]
    if machine:
        parts.append("Machine: %s, %s CPUs, %.0f GiB, Linux %s, %s; %s run (%s runs per "
                     "figure). Command: `%s`, then `bench/report.py DIR`." % (
                         machine.get("cpu", "?"), machine.get("cpus", "?"),
                         machine.get("memory_bytes", 0) / 2**30, machine.get("kernel", "?"),
                         machine.get("compiler", "?"),
                         "quick" if machine.get("quick") else "full",
                         machine.get("runs", "?"), args.command))
        parts.append("")
    parts.append("### targets")
    parts.append("")
    parts.append(targets(rows))
    parts.append("")
    benches = [b for b in ORDER if any(r["bench"] == b for r in rows)]
    benches += sorted({r["bench"] for r in rows} - set(benches))
    for b in benches:
        parts.append("### %s" % b)
        parts.append("")
        parts.append(table([r for r in rows if r["bench"] == b]))
        parts.append("")
    made = plots(rows, args.plots)
    rel = os.path.relpath(args.plots, os.path.dirname(os.path.abspath(args.readme)))
    for p in made:
        parts.append("![%s](%s/%s)" % (p[:-4], rel, p))
        parts.append("")
    parts.append(END)
    block = "\n".join(parts)

    with open(args.readme) as f:
        text = f.read()
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _m: block, text,
                      flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n## Results\n\n" + block + "\n"
    with open(args.readme, "w") as f:
        f.write(text)
    print("report.py: %d figures, %d plots -> %s" % (len(rows), len(made), args.readme))


if __name__ == "__main__":
    main()
