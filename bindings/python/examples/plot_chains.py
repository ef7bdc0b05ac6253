#!/usr/bin/python3
"""Plot how deep and how wide the invocation chains of a trace set go, and
draw the deepest chain.

usage: plot_chains.py [-o OUT.png] [--gen SPANS] [FILE_OR_FOLDER ...]

Inputs are OTLP files (any format `causeway analyze` reads) or folders of
them; without any, the repository's sample set tests/data/samples/mixed.
--gen SPANS generates a workload of that many spans with causeway-gen
($CAUSEWAY_GEN, else causeway-gen on PATH) instead. Writes one PNG (default
chains.png): the distributions of depth and fan-out over traces and chains,
and the deepest chain as a graph (one colour per trace; a red outline where
the invocation's entry span failed; solid arrows for sync calls, dashed for
async calls through a parent, dotted for span links).

Needs matplotlib and networkx (Debian: python3-matplotlib, python3-networkx).
Run from a build folder without installing anything:
    PYTHONPATH=build/bindings/python bindings/python/examples/plot_chains.py
"""
import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile

import matplotlib

matplotlib.use("Agg")  # files only: no display needed
import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402

import causeway  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_INPUT = os.path.join(HERE, "..", "..", "..", "tests", "data", "samples", "mixed", "pb")


def histogram(ax, title, series):
    """Side-by-side bars of integer-valued distributions, one per series.
    The values seen are the categories (fan-out runs from 0 to the hundreds
    with gaps in between; a linear axis would squeeze the common ones)."""
    values = sorted({v for _, vs in series for v in vs})
    width = 0.8 / len(series)
    for k, (label, vs) in enumerate(series):
        counts = collections.Counter(vs)
        ax.bar([i + (k - (len(series) - 1) / 2) * width for i in range(len(values))],
               [counts.get(v, 0) for v in values], width=width, label=label)
    ax.set_title(title)
    ax.set_xticks(range(len(values)))
    ax.set_xticklabels([str(v) for v in values], fontsize=8,
                       rotation=0 if len(values) <= 20 else 90)
    ax.set_ylabel("count")
    ax.set_yscale("log")
    ax.legend()


def layered(g):
    """Each node's layer: the longest call path from a chain entry to it."""
    layer = {}
    for n in nx.topological_sort(g):
        layer[n] = max((layer[p] + 1 for p in g.predecessors(n)), default=0)
    return layer


def draw_chain(ax, g):
    layer = layered(g)
    nx.set_node_attributes(g, layer, "layer")
    pos = nx.multipartite_layout(g, subset_key="layer")
    traces = g.graph["traces"]
    cmap = plt.get_cmap("tab10")
    colour = {t: cmap(i % 10) for i, t in enumerate(traces)}
    nodes = list(g.nodes)
    nx.draw_networkx_nodes(
        g, pos, ax=ax, nodelist=nodes, node_size=260,
        node_color=[colour[g.nodes[n]["trace_id"]] for n in nodes],
        edgecolors=["red" if g.nodes[n]["failed"] else "black" for n in nodes],
        linewidths=[2.5 if g.nodes[n]["failed"] else 0.5 for n in nodes])
    styles = {("sync", "parent"): "solid", ("async", "parent"): "dashed",
              ("async", "link"): "dotted"}
    for key, style in styles.items():
        edges = [(u, v) for u, v, d in g.edges(data=True) if (d["kind"], d["via"]) == key]
        if edges:
            nx.draw_networkx_edges(g, pos, ax=ax, edgelist=edges, style=style, arrows=True,
                                   arrowsize=10, node_size=260)
    # Labels just above their nodes; the y limits are set by hand because
    # autoscaling sees the nodes only (a one-row chain would clip them).
    ys = [y for _, y in pos.values()]
    pad = max(0.15, 0.1 * (max(ys) - min(ys)))
    ax.set_ylim(min(ys) - pad, max(ys) + pad)
    if len(nodes) <= 60:
        labels = {n: g.nodes[n]["function"][-18:] for n in nodes}
        nx.draw_networkx_labels(g, {n: (x, y + pad / 4) for n, (x, y) in pos.items()},
                                labels=labels, ax=ax, font_size=7)
    c = g.graph["chain"]
    ax.set_title("deepest chain %s: depth %d, %d invocations in %d trace(s), max fan-out %d, "
                 "%d retries, max recursion %d" % (c["chain_id"][:12] + "...", c["depth"],
                                                   c["invocations"], c["traces"],
                                                   c["max_fanout"], c["retries"],
                                                   c["max_recursion"]), fontsize=9)
    ax.set_axis_off()


def generate(spans):
    gen = os.environ.get("CAUSEWAY_GEN") or shutil.which("causeway-gen")
    if not gen:
        sys.exit("plot_chains.py: --gen needs causeway-gen (set CAUSEWAY_GEN)")
    out = tempfile.mkdtemp(prefix="causeway-gen-")
    subprocess.run([gen, "--spans", str(spans), "--format", "pb", out], check=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("inputs", nargs="*", help="OTLP files or folders")
    ap.add_argument("-o", "--output", default="chains.png", help="PNG to write")
    ap.add_argument("--gen", type=int, metavar="SPANS", help="generate a workload instead")
    args = ap.parse_args(argv)
    inputs = args.inputs or [DEFAULT_INPUT]
    tmp = None
    if args.gen:
        tmp = inputs = generate(args.gen)
    try:
        with causeway.load(inputs) as eng:
            traces, chains = eng.traces(), eng.chains()
            if not chains:
                sys.exit("plot_chains.py: no complete traces in the input")
            worst = eng.top_chains("depth", 1)[0]
            graph = eng.to_networkx(worst["chain_id"])
    finally:
        if tmp:
            shutil.rmtree(tmp)

    fig = plt.figure(figsize=(14, 10), constrained_layout=True)
    grid = fig.add_gridspec(2, 2, height_ratios=[1, 1.4])
    histogram(fig.add_subplot(grid[0, 0]), "depth (invocations on the longest path)",
              [("traces", [t["depth"] for t in traces]), ("chains", [c["depth"] for c in chains])])
    histogram(fig.add_subplot(grid[0, 1]), "max fan-out (distinct callees of one invocation)",
              [("traces", [t["max_fanout"] for t in traces]),
               ("chains", [c["max_fanout"] for c in chains])])
    draw_chain(fig.add_subplot(grid[1, :]), graph)
    fig.suptitle("%d traces, %d chains, %d spans" % (len(traces), len(chains),
                                                    sum(t["spans"] for t in traces)))
    fig.savefig(args.output, dpi=110)
    print("%s: %d traces, %d chains; deepest chain %s (depth %d)" % (
        args.output, len(traces), len(chains), worst["chain_id"], worst["depth"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
