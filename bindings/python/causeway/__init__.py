"""Causeway for Python: the causal chains of serverless invocations, from
OpenTelemetry traces, at the C library's speed.

    import causeway

    eng = causeway.load("traces/")          # files or folders; completes the traces
    eng.top("depth", 5)                     # the five deepest traces (dicts)
    eng.chains()                            # every chain summary
    df = eng.to_pandas("traces")            # a DataFrame (pandas installed)
    g = eng.to_networkx(chain_id)           # the invocation graph (networkx)

    with causeway.Engine() as eng:          # or by hand
        eng.ingest(body, "protobuf")        # one OTLP request: bytes, gzip=...
        eng.ingest_file("spans.jsonl.gz")
        eng.flush()                         # complete the live traces
        eng.edges()                         # the service graph

    srv = eng.serve(listen="127.0.0.1:4318", api="127.0.0.1:4320")
    ...                                     # OTLP/HTTP in the background
    srv.stop()

Summaries are plain dicts with the field names of SPEC.md section 3 (the
objects `causeway analyze --json` prints), except that nanosecond fields
(start_unix_nano, duration_ns, p50_ns, p99_ns) are ints, where JSON writes
decimal strings. Errors raise causeway.Error; its .name is the C library's
CW_E* name (CW_EJSON, CW_ENOTFOUND...). Every Engine method releases the
GIL inside the library, so threads ingest and query in parallel.
"""
from __future__ import annotations

import atexit
import os
import re
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, TypedDict, Union

from . import _causeway
from ._causeway import ERROR_CODES, Error, Server, library_version, strerror

if TYPE_CHECKING:  # pragma: no cover
    import networkx
    import pandas

__all__ = [
    "Engine",
    "Error",
    "Server",
    "load",
    "ERROR_CODES",
    "offline_options",
    "library_version",
    "strerror",
    "TraceSummary",
    "ChainSummary",
    "EdgeSummary",
    "RetryGroup",
    "Loop",
    "IngestResult",
]

__version__ = "0.1.0"

# Running servers stop (drain their requests) before the interpreter goes.
atexit.register(_causeway._stop_all_servers)

PathLike = Union[str, "os.PathLike[str]"]


class TraceSummary(TypedDict):
    """SPEC.md section 3.1."""

    type: str
    trace_id: str
    chain_id: str
    spans: int
    span_depth: int
    max_span_fanout: int
    invocations: int
    depth: int
    max_fanout: int
    retries: int
    max_recursion: int
    errors: int
    functions: List[str]
    root_function: str
    start_unix_nano: int
    duration_ns: int
    complete: bool


class ChainSummary(TypedDict):
    """SPEC.md section 3.2."""

    type: str
    chain_id: str
    traces: int
    invocations: int
    depth: int
    max_fanout: int
    retries: int
    max_recursion: int
    functions: List[str]


class EdgeSummary(TypedDict):
    """SPEC.md section 3.3 (kind: 'sync' or 'async')."""

    type: str
    caller: str
    callee: str
    kind: str
    calls: int
    errors: int
    retries: int
    p50_ns: int
    p99_ns: int


class RetryGroup(TypedDict):
    """SPEC.md section 3.4, as `causeway analyze --detail --json` writes it."""

    type: str
    trace_id: str
    caller: str
    target: str
    kind: str
    attempts: int
    failed: int
    retries: int
    final_status: str
    span_ids: List[str]


class LoopStep(TypedDict):
    function: str
    span_id: str


class Loop(TypedDict):
    """SPEC.md section 3.4: a function repeating on one causal path."""

    type: str
    trace_id: str
    function: str
    occurrences: int
    path: List[LoopStep]


class IngestResult(TypedDict):
    spans_accepted: int
    spans_rejected: int
    rejected: Dict[str, int]
    links_dropped: int
    reason: Optional[str]



def offline_options(paths: Iterable[PathLike]) -> Dict[str, int]:
    """The engine budgets `causeway analyze` takes for these files
    (tools/causeway.c, offline_budgets): offline, every span of a file set
    may be live at once, so the span budget is four times the input's bytes
    (a .gz file counts ten times its size, '-' or a file that cannot be
    sized 1 GiB), the summary budget once, each at least 64 MiB and at most
    16 GiB (4 GiB for summaries). Budgets far beyond the input would cost
    time: the engine sizes its hash indexes from them up front."""
    size = 0
    for p in _expand(paths):
        name = os.fsdecode(p)
        try:
            n = os.stat(p).st_size if name != "-" else None
        except OSError:
            n = None
        size += (1 << 30) if n is None else n * (10 if name.endswith(".gz") else 1)
    floor = 64 << 20
    return {"memory_budget": min(max(size * 4, floor), 16 << 30),
            "summary_budget": min(max(size, floor), 4 << 30),
            "expected_spans": size // 100}

# Columns of the DataFrames of to_pandas(), also when there are no rows.
_COLUMNS = {
    "traces": list(TraceSummary.__annotations__),
    "chains": list(ChainSummary.__annotations__),
    "edges": list(EdgeSummary.__annotations__),
    "retry_groups": list(RetryGroup.__annotations__),
    "loops": list(Loop.__annotations__),
}

# The DOT that cw_engine_dot() writes (lib/query/query.c): one node per
# invocation, "TRACEID-N" [label="FUNCTION\nSPANID"] (", color=red" when the
# entry span failed), and edges with no style (sync call through a parent),
# style=dashed (async call through a parent) or style=dotted (span link).
_DOT_NODE = re.compile(
    r'"([0-9a-f]{32})-(\d+)" \[label="((?:[^"\\]|\\.)*)\\n([0-9a-f]{16})"(, color=red)?\];')
_DOT_EDGE = re.compile(
    r'"([0-9a-f]{32}-\d+)" -> "([0-9a-f]{32}-\d+)"(?: \[style=(dashed|dotted)\])?;')
_DOT_UNESCAPE = re.compile(r"\\(.)", re.S)


class Engine(_causeway.Engine):
    """A Causeway engine: ingest OpenTelemetry traces, query their chains.

    Engine(**options) takes the C library's engine options (all ints):
    memory_budget (bytes of live spans, default 1 GiB), idle_timeout_ns (a
    trace completes this long after its last span, default 10 s),
    max_trace_age_ns (5 min), max_decompressed_bytes (64 MiB),
    max_file_bytes (4 GiB), max_attr_len (1024), intern_limit (262,144),
    summary_budget (256 MiB), completion_threads (0: one per CPU),
    expected_spans (0: what memory_budget holds). causeway.load() sizes
    the budgets and expected_spans from its input, as `causeway analyze`
    does (offline_options()).

    Feeding it:  ingest(data, encoding, gzip=False), ingest_file(path), or
                 serve(listen=..., api=...) for OTLP/HTTP in the background.
    Completing:  flush() completes every live trace (offline analysis);
                 tick() those idle for idle_timeout_ns (a server ticks by
                 itself). Queries see completed traces; trace(id) also
                 summarizes a live one.
    Querying:    traces(), trace(id), chains(), chain(id), edges(),
                 top(by, n), top_chains(by, n), retry_groups(trace_id),
                 loops(trace_id), dump() (the CLI's JSON lines), dot(id),
                 stats(); to_pandas(kind) and to_networkx(chain_id).
    Closing:     close(), or use the engine as a context manager.

    Every method may be called from any number of threads at once: the GIL
    is released inside the library. Errors raise causeway.Error.
    """

    def __repr__(self) -> str:
        if self.closed:
            return "<causeway.Engine closed>"
        st = self.stats()
        return "<causeway.Engine: %d traces completed, %d live, %d chains>" % (
            st["traces_completed"], st["traces_live"], st["chains"])

    def ingest_files(self, paths: Iterable[PathLike]) -> IngestResult:
        """ingest_file() on each path (a folder: its files, sorted); returns
        the totals. Stops at the first bad file (causeway.Error)."""
        total: Dict[str, Any] = {"spans_accepted": 0, "spans_rejected": 0, "rejected": {},
                                 "links_dropped": 0, "reason": None}
        for path in _expand(paths):
            r = self.ingest_file(path)
            for k in ("spans_accepted", "spans_rejected", "links_dropped"):
                total[k] += r[k]
            for k, v in r["rejected"].items():
                total["rejected"][k] = total["rejected"].get(k, 0) + v
            total["reason"] = total["reason"] or r["reason"]
        return total  # type: ignore[return-value]

    def to_pandas(self, kind: str = "traces") -> "pandas.DataFrame":
        """A pandas DataFrame of one kind of object, one row each:
        'traces' (trace summaries), 'chains', 'edges', 'retry_groups' (of
        every trace with retries) or 'loops' (of every trace that recurses).
        Columns are the SPEC.md field names (functions: a list per row;
        nanosecond fields: int64). Needs pandas."""
        import pandas  # the binding itself does not need it

        if kind == "traces":
            rows: List[Any] = self.traces()
        elif kind == "chains":
            rows = self.chains()
        elif kind == "edges":
            rows = self.edges()
        elif kind == "retry_groups":
            rows = [g for t in self.traces() if t["retries"] for g in self.retry_groups(t["trace_id"])]
        elif kind == "loops":
            rows = [l for t in self.traces() if t["max_recursion"] > 1
                    for l in self.loops(t["trace_id"])]
        else:
            raise ValueError("kind must be one of: " + ", ".join(_COLUMNS))
        return pandas.DataFrame.from_records(rows, columns=_COLUMNS[kind])

    def to_networkx(self, chain_id: str) -> "networkx.DiGraph":
        """The invocation graph of a chain (its id), or of one completed
        trace (a trace id), as a networkx DiGraph.

        Nodes (keys 'TRACEID-N') are invocations, with attributes function,
        trace_id, span_id (the entry span, 16 hex digits), failed (the entry
        span failed) and index (N, the invocation's number in its trace).
        Edges are calls, caller to callee, with kind ('sync' or 'async') and
        via ('parent': the callee's entry span is a child of the call site;
        'link': a span link, possibly into another trace). Graph attributes:
        id, traces (the trace ids drawn) and chain (the chain summary when
        the id names a chain, else None). Needs networkx."""
        import networkx  # the binding itself does not need it

        dot = self.dot(chain_id)
        g = networkx.DiGraph()
        traces: List[str] = []
        for m in _DOT_NODE.finditer(dot):
            tid, index, label, span, red = m.groups()
            if tid not in traces:
                traces.append(tid)
            g.add_node("%s-%s" % (tid, index), function=_DOT_UNESCAPE.sub(r"\1", label),
                       trace_id=tid, span_id=span, failed=bool(red), index=int(index))
        for m in _DOT_EDGE.finditer(dot):
            caller, callee, style = m.groups()
            g.add_edge(caller, callee, kind="sync" if style is None else "async",
                       via="link" if style == "dotted" else "parent")
        g.graph["id"] = chain_id.lower()
        g.graph["traces"] = sorted(traces)
        try:
            g.graph["chain"] = self.chain(chain_id)
        except Error as e:
            if e.name != "CW_ENOTFOUND":
                raise
            g.graph["chain"] = None
        return g


def _expand(paths: Iterable[PathLike]) -> List[PathLike]:
    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = [paths]  # type: ignore[list-item]
    out: List[PathLike] = []
    for p in paths:
        if os.path.isdir(p):
            out += sorted(os.path.join(p, f) for f in os.listdir(p)
                          if not f.startswith(".") and os.path.isfile(os.path.join(p, f)))
        else:
            out.append(p)
    return out


def load(*paths: Union[PathLike, Iterable[PathLike]], **options: int) -> Engine:
    """A new Engine with every file ingested and every trace completed, as
    `causeway analyze FILE...` does: paths are files (any format of SPEC.md
    section 1) or folders (their files, sorted), or lists of them. options
    are Engine options over offline_options(paths). Raises causeway.Error
    on the first bad file (the engine is closed then)."""
    flat: List[PathLike] = []
    for p in paths:
        flat += _expand(p)  # type: ignore[arg-type]
    eng = Engine(**{**offline_options(flat), **options})
    try:
        eng.ingest_files(flat)
        eng.flush()
    except BaseException:
        eng.close()
        raise
    return eng
