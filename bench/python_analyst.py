#!/usr/bin/python3
"""The Python analyst baseline of `causeway-bench analyze`.

What an analyst writes today to get invocation chains out of OTLP files:
python3-protobuf to parse ExportTraceServiceRequest files, dictionaries to
group spans, networkx for the graphs. It computes the SPEC.md section 2
model (functions, invocations, parent and link edges, chains, span_depth,
depth, fan-out, retries, recursion) for every trace and chain, and prints
one JSON object: how many spans, traces and chains, totals of the summaries
(so that causeway-bench can check both computed the same thing) and the
seconds from opening the first file to the last summary.

    python_analyst.py --proto-dir DIR FILE.pb...

The OTLP message classes come from the .proto files under DIR, compiled to a
descriptor set with protoc (Debian protobuf-compiler) before timing starts.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import networkx as nx
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5
STATUS_ERROR = 2


def load_request_class(proto_dir):
    """ExportTraceServiceRequest, compiled from the project's .proto files."""
    files = [
        "opentelemetry/proto/common/v1/common.proto",
        "opentelemetry/proto/resource/v1/resource.proto",
        "opentelemetry/proto/trace/v1/trace.proto",
        "opentelemetry/proto/collector/trace/v1/trace_service.proto",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "otlp.desc")
        subprocess.run(["protoc", "--include_imports", "-I", proto_dir,
                        "--descriptor_set_out=" + out] + files, check=True)
        fds = descriptor_pb2.FileDescriptorSet()
        with open(out, "rb") as f:
            fds.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for fd in fds.file:
        pool.Add(fd)
    desc = pool.FindMessageTypeByName(
        "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest")
    return message_factory.MessageFactory(pool).GetPrototype(desc)


def value(v):
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


def attrs(kvs):
    return {kv.key: value(kv.value) for kv in kvs}


def target_of(a):
    """The call target from attributes (SPEC.md section 2, Retries)."""
    if "faas.invoked_name" in a:
        return a["faas.invoked_name"]
    if "rpc.service" in a:
        return "%s/%s" % (a["rpc.service"], a.get("rpc.method", ""))
    if "server.address" in a and ("http.route" in a or "url.path" in a):
        return str(a["server.address"]) + str(a.get("http.route", a.get("url.path")))
    return a.get("messaging.destination.name")


def read_spans(request_class, paths):
    """trace id -> {span id -> span dict}; the later copy of a span wins."""
    traces = {}
    req = request_class()
    for path in paths:
        with open(path, "rb") as f:
            req.ParseFromString(f.read())
        for rs in req.resource_spans:
            ra = attrs(rs.resource.attributes)
            rfn = ra.get("faas.name") or ra.get("service.name") or "unknown_service"
            for ss in rs.scope_spans:
                for sp in ss.spans:
                    a = attrs(sp.attributes)
                    code = a.get("http.response.status_code", 0)
                    failed = sp.status.code == STATUS_ERROR or (
                        isinstance(code, int) and (code >= 500 or code == 429))
                    traces.setdefault(sp.trace_id, {})[sp.span_id] = {
                        "id": sp.span_id,
                        "parent": sp.parent_span_id,
                        "fn": a.get("faas.name") or rfn,
                        "kind": sp.kind,
                        "name": sp.name,
                        "start": sp.start_time_unix_nano,
                        "failed": failed,
                        "resend": a.get("http.request.resend_count", 0),
                        "target": target_of(a),
                        "invocation_id": a.get("faas.invocation_id"),
                        "links": [(l.trace_id, l.span_id) for l in sp.links],
                    }
    return traces


def longest_path_nodes(g):
    """Nodes on the longest path of a DAG (0 when empty)."""
    return nx.dag_longest_path_length(g) + 1 if g.number_of_nodes() else 0


def max_recursion(g):
    """The most times one function appears on one path of the DAG g, whose
    nodes carry "fn"; computed per function over the DAG, in topological
    order."""
    best = 1 if g.number_of_nodes() else 0
    order = list(nx.topological_sort(g))
    for fn in {d["fn"] for _, d in g.nodes(data=True)}:
        count = {}
        for n in order:
            here = 1 if g.nodes[n]["fn"] == fn else 0
            count[n] = here + max((count[p] for p in g.predecessors(n)), default=0)
            best = max(best, count[n])
    return best


def acyclic(g):
    """g without the edges that close cycles (damaged data)."""
    if nx.is_directed_acyclic_graph(g):
        return g
    h = g.copy()
    while True:
        try:
            cycle = nx.find_cycle(h)
        except nx.NetworkXNoCycle:
            return h
        h.remove_edge(*cycle[-1][:2])


def analyze(traces):
    sums = {"span_depth": 0, "depth": 0, "max_fanout": 0, "retries": 0,
            "max_recursion": 0}
    inv = nx.DiGraph()      # every invocation, all traces: (trace, entry span)
    joins = nx.Graph()      # traces joined by link edges
    per_trace = {}
    for tid, spans in traces.items():
        joins.add_node(tid)
        sg = nx.DiGraph()
        sg.add_nodes_from(spans)
        for s in spans.values():
            if s["parent"] in spans:
                sg.add_edge(s["parent"], s["id"])
        sg = acyclic(sg)
        span_depth = longest_path_nodes(sg)

        # Invocations: entry spans, and every other span's owner.
        owner = {}
        for sid in nx.topological_sort(sg):
            s = spans[sid]
            p = spans.get(s["parent"]) if sg.has_edge(s["parent"], sid) else None
            entry = (s["kind"] in (SERVER, CONSUMER) or p is None or p["fn"] != s["fn"])
            owner[sid] = sid if entry else owner[p["id"]]
        tg = nx.DiGraph()
        for sid, o in owner.items():
            if o == sid:
                tg.add_node((tid, sid), fn=spans[sid]["fn"])
                inv.add_node((tid, sid), fn=spans[sid]["fn"])
        callee_fn = {}
        for sid, o in owner.items():
            if o != sid:
                continue
            s = spans[sid]
            if sg.has_edge(s["parent"], sid):
                caller = (tid, owner[s["parent"]])
                tg.add_edge(caller, (tid, sid))
                inv.add_edge(caller, (tid, sid))
                callee_fn[s["parent"]] = s["fn"]
            for ltid, lsid in s["links"]:
                lspans = traces.get(ltid)
                if ltid == tid:
                    if lsid in spans:
                        callee_fn[lsid] = s["fn"]
                        inv.add_edge((tid, owner[lsid]), (tid, sid))
                elif lspans and lsid in lspans:
                    joins.add_edge(tid, ltid)
                    per_trace.setdefault(ltid, {}).setdefault("links_in", []).append(
                        (lsid, (tid, sid), s["fn"]))

        # Retries: call sites grouped by target inside each invocation.
        groups = {}
        for sid, o in owner.items():
            s = spans[sid]
            if s["kind"] in (CLIENT, PRODUCER):
                t = s["target"] or callee_fn.get(sid) or s["name"]
                groups.setdefault((o, t), []).append(s)
        retries = 0
        for g in groups.values():
            g.sort(key=lambda s: s["start"])
            for i, s in enumerate(g):
                if s["resend"] >= 1 or (i > 0 and g[i - 1]["failed"]):
                    retries += 1
        seen = {}
        for sid, o in owner.items():
            s = spans[sid]
            if o == sid and s["invocation_id"]:
                key = (s["fn"], s["invocation_id"])
                retries += 1 if key in seen else 0
                seen[key] = True

        tg = acyclic(tg)
        per_trace.setdefault(tid, {}).update(owner=owner, tg=tg)
        sums["span_depth"] += span_depth
        sums["depth"] += longest_path_nodes(tg)
        sums["retries"] += retries
        sums["max_recursion"] += max_recursion(tg)

    # Link edges across traces, now that every trace has its owners.
    for tid, info in per_trace.items():
        for lsid, callee, _fn in info.get("links_in", []):
            inv.add_edge((tid, info["owner"][lsid]), callee)
    # Fan-out counts parent and link edges, into any trace.
    for tid, info in per_trace.items():
        if "tg" in info:
            sums["max_fanout"] += max((inv.out_degree(n) for n in info["tg"]), default=0)

    # Chains: connected groups of traces, with their invocation graphs.
    chains = []
    for comp in nx.connected_components(joins):
        nodes = [n for tid in comp for n in per_trace[tid]["tg"]]
        g = acyclic(inv.subgraph(nodes))
        chains.append({"id": min(comp).hex(), "traces": len(comp),
                       "depth": longest_path_nodes(g),
                       "max_fanout": max((d for _, d in g.out_degree()), default=0),
                       "max_recursion": max_recursion(g)})
    return sums, chains


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--proto-dir", required=True)
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    request_class = load_request_class(args.proto_dir)
    t0 = time.perf_counter()
    traces = read_spans(request_class, args.files)
    sums, chains = analyze(traces)
    seconds = time.perf_counter() - t0
    out = {"spans": sum(len(s) for s in traces.values()), "traces": len(traces),
           "chains": len(chains), "seconds": seconds}
    out.update(sums)
    out["chain_depth"] = sum(c["depth"] for c in chains)
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
