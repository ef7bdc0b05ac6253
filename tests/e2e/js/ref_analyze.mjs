// A small, independent reference implementation of the model of SPEC.md sections 2
// and 3 (trace summaries, chain summaries, edge aggregates: the fields the e2e check
// compares). It is used only by the self-test: to cross-check the figures send.mjs
// writes into expected.json against what the exporter actually put on the wire, and
// by mock_server.mjs to serve a stand-in query API. It is not the product; where the
// product and this file disagree, read SPEC.md.
//
// Input: span records as produced by otlp.mjs flattenSpans().

const SERVER = 2;
const CLIENT = 3;
const PRODUCER = 4;
const CONSUMER = 5;
const STATUS_ERROR = 2;

function functionOf(s) {
  return s.attrs['faas.name'] ?? s.resource['faas.name'] ?? s.resource['service.name'] ?? 'unknown_service';
}

function attemptFailed(s) {
  const code = Number(s.attrs['http.response.status_code']);
  return s.statusCode === STATUS_ERROR || code >= 500 || code === 429;
}

function targetOf(s, calleeFunctionBySite) {
  const a = s.attrs;
  if (a['faas.invoked_name'] != null) return `faas:${a['faas.invoked_name']}`;
  if (a['rpc.service'] != null && a['rpc.method'] != null) return `rpc:${a['rpc.service']}/${a['rpc.method']}`;
  if (a['server.address'] != null && (a['http.route'] != null || a['url.path'] != null)) {
    return `http:${a['server.address']}${a['http.route'] ?? a['url.path']}`;
  }
  if (a['messaging.destination.name'] != null) return `msg:${a['messaging.destination.name']}`;
  const callee = calleeFunctionBySite.get(s);
  if (callee != null) return `fn:${callee}`;
  return `name:${s.name}`;
}

function sortFunctions(spans) {
  const first = new Map();
  for (const s of spans) {
    const f = s.fn;
    if (!first.has(f) || s.start < first.get(f)) first.set(f, s.start);
  }
  return [...first.keys()].sort((x, y) => {
    const a = first.get(x);
    const b = first.get(y);
    if (a !== b) return a < b ? -1 : 1;
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

// Longest path (number of nodes) and largest count of one function on one path, over
// a DAG given by succ(node) -> nodes. Cycles (which a correct input does not have) are
// cut by not revisiting a node on the current path.
function pathFigures(nodes, succ, fnOf) {
  let depth = 0;
  let maxRec = 0;
  const onPath = new Set();
  const counts = new Map();
  const memoDepth = new Map();
  function longest(n) {
    if (memoDepth.has(n)) return memoDepth.get(n);
    onPath.add(n);
    let best = 0;
    for (const m of succ(n)) if (!onPath.has(m)) best = Math.max(best, longest(m));
    onPath.delete(n);
    memoDepth.set(n, best + 1);
    return best + 1;
  }
  // Recursion: enumerate paths from each source (exponential in general, fine here).
  function walk(n) {
    onPath.add(n);
    const f = fnOf(n);
    const c = (counts.get(f) || 0) + 1;
    counts.set(f, c);
    if (c > maxRec) maxRec = c;
    for (const m of succ(n)) if (!onPath.has(m)) walk(m);
    counts.set(f, c - 1);
    onPath.delete(n);
  }
  const hasPred = new Set();
  for (const n of nodes) for (const m of succ(n)) hasPred.add(m);
  for (const n of nodes) depth = Math.max(depth, longest(n));
  const sources = nodes.filter(n => !hasPred.has(n));
  for (const n of sources.length ? sources : nodes) walk(n);
  return { depth, maxRecursion: Math.max(maxRec, nodes.length ? 1 : 0) };
}

/**
 * Analyzes a list of span records. Returns {traces, chains, edges} with the objects of
 * SPEC.md 3.1-3.3 (the fields this e2e suite compares, plus start_unix_nano and
 * duration_ns), each list sorted as `causeway analyze --json` sorts them.
 */
export function analyze(spanRecords) {
  // Duplicates: the later copy wins.
  const byKey = new Map();
  for (const s of spanRecords) byKey.set(`${s.traceId}/${s.spanId}`, { ...s });
  const spans = [...byKey.values()];
  for (const s of spans) s.fn = functionOf(s);

  const traces = new Map(); // traceId -> {spans: [], byId: Map}
  for (const s of spans) {
    let t = traces.get(s.traceId);
    if (!t) traces.set(s.traceId, (t = { id: s.traceId, spans: [], byId: new Map() }));
    t.spans.push(s);
    t.byId.set(s.spanId, s);
  }

  // Parents (within the trace), children, cycle guard.
  for (const t of traces.values()) {
    for (const s of t.spans) {
      s.parent = s.parentSpanId ? t.byId.get(s.parentSpanId) ?? null : null;
      s.children = [];
    }
    for (const s of t.spans) {
      // cut parent cycles: walk up; if we come back to s, drop s's parent
      const seen = new Set([s]);
      for (let p = s.parent; p; p = p.parent) {
        if (seen.has(p)) { s.parent = null; break; }
        seen.add(p);
      }
    }
    for (const s of t.spans) if (s.parent) s.parent.children.push(s);
  }

  // Invocations.
  const invocations = [];
  for (const t of traces.values()) {
    for (const s of t.spans) {
      s.isEntry = s.kind === SERVER || s.kind === CONSUMER || !s.parentSpanId ||
        !s.parent || s.parent.fn !== s.fn;
    }
    const invOf = s => {
      if (s.inv) return s.inv;
      if (s.isEntry) {
        s.inv = { entry: s, trace: t, fn: s.fn, spans: [], callees: new Set(), edgesOut: [], edgesIn: [] };
        invocations.push(s.inv);
      } else {
        s.inv = invOf(s.parent);
      }
      return s.inv;
    };
    for (const s of t.spans) invOf(s).spans.push(s);
  }

  // Edges, at most one per pair of invocations (the parent edge first).
  const edges = [];
  const pairSeen = new Set();
  const calleeFunctionBySite = new Map();
  const spanIndex = new Map();
  for (const s of spans) spanIndex.set(`${s.traceId}/${s.spanId}`, s);
  function addEdge(site, entry, viaLink) {
    const caller = site.inv;
    const callee = entry.inv;
    if (caller === callee) return;
    if (!calleeFunctionBySite.has(site)) calleeFunctionBySite.set(site, callee.fn);
    const key = `${invocations.indexOf(caller)}>${invocations.indexOf(callee)}`;
    if (pairSeen.has(key)) return;
    pairSeen.add(key);
    const async = viaLink || site.kind === PRODUCER || entry.kind === CONSUMER;
    const e = { caller, callee, async, viaLink, site, entry };
    edges.push(e);
    caller.edgesOut.push(e);
    callee.edgesIn.push(e);
    caller.callees.add(callee);
  }
  for (const inv of invocations) {
    const e = inv.entry;
    if (e.parent) addEdge(e.parent, e, false);
  }
  for (const inv of invocations) {
    const e = inv.entry;
    for (const l of e.links) {
      const target = spanIndex.get(`${l.traceId}/${l.spanId}`);
      if (target) addEdge(target, e, true);
    }
  }

  // Retries per invocation.
  for (const inv of invocations) {
    let retries = 0;
    const groups = new Map();
    for (const s of inv.spans) {
      if (s.kind !== CLIENT && s.kind !== PRODUCER) continue;
      const k = targetOf(s, calleeFunctionBySite);
      if (!groups.has(k)) groups.set(k, []);
      groups.get(k).push(s);
    }
    for (const g of groups.values()) {
      g.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
      g.forEach((s, i) => {
        const resend = Number(s.attrs['http.request.resend_count']) >= 1;
        if ((i > 0 && attemptFailed(g[i - 1])) || resend) retries++;
      });
    }
    inv.retries = retries;
  }
  // Platform redeliveries: entry spans of one function sharing faas.invocation_id.
  const redeliveries = new Map();
  for (const inv of invocations) {
    const id = inv.entry.attrs['faas.invocation_id'];
    if (id == null) continue;
    const k = `${inv.fn}\u0000${id}`;
    if (!redeliveries.has(k)) redeliveries.set(k, []);
    redeliveries.get(k).push(inv);
  }
  for (const group of redeliveries.values()) {
    group.sort((a, b) => (a.entry.start < b.entry.start ? -1 : a.entry.start > b.entry.start ? 1 : 0));
    for (const inv of group.slice(1)) inv.retries += 1;
  }

  // Chains: union-find over traces joined by link edges crossing traces.
  const parentOf = new Map([...traces.keys()].map(k => [k, k]));
  const find = k => {
    while (parentOf.get(k) !== k) {
      parentOf.set(k, parentOf.get(parentOf.get(k)));
      k = parentOf.get(k);
    }
    return k;
  };
  for (const e of edges) {
    if (e.viaLink && e.caller.trace !== e.callee.trace) {
      const a = find(e.caller.trace.id);
      const b = find(e.callee.trace.id);
      if (a !== b) parentOf.set(a < b ? b : a, a < b ? a : b);
    }
  }
  const chains = new Map();
  for (const t of traces.values()) {
    const root = find(t.id);
    if (!chains.has(root)) chains.set(root, []);
    chains.get(root).push(t);
  }
  const chainIdOf = new Map();
  for (const members of chains.values()) {
    const id = members.map(t => t.id).sort()[0];
    for (const t of members) chainIdOf.set(t.id, id);
  }

  // Trace summaries.
  const traceOut = [];
  for (const t of traces.values()) {
    let spanDepth = 0;
    const depthOf = s => (s._d ??= s.parent ? depthOf(s.parent) + 1 : 1);
    for (const s of t.spans) spanDepth = Math.max(spanDepth, depthOf(s));
    const maxSpanFanout = Math.max(0, ...t.spans.map(s => s.children.length));
    const invs = invocations.filter(i => i.trace === t);
    const parentSucc = inv => inv.edgesOut.filter(e => !e.viaLink && e.callee.trace === t).map(e => e.callee);
    const pf = pathFigures(invs, parentSucc, inv => inv.fn);
    const entries = invs.map(i => i.entry).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    const rootEntry = entries.find(e => !e.parentSpanId) ?? entries[0];
    const start = t.spans.reduce((m, s) => (s.start < m ? s.start : m), t.spans[0].start);
    const end = t.spans.reduce((m, s) => (s.end > m ? s.end : m), t.spans[0].end);
    traceOut.push({
      type: 'trace',
      trace_id: t.id,
      chain_id: chainIdOf.get(t.id),
      spans: t.spans.length,
      span_depth: spanDepth,
      max_span_fanout: maxSpanFanout,
      invocations: invs.length,
      depth: pf.depth,
      max_fanout: Math.max(0, ...invs.map(i => i.callees.size)),
      retries: invs.reduce((n, i) => n + i.retries, 0),
      max_recursion: pf.maxRecursion,
      errors: t.spans.filter(s => s.statusCode === STATUS_ERROR).length,
      functions: sortFunctions(t.spans),
      root_function: rootEntry ? rootEntry.fn : null,
      start_unix_nano: start.toString(),
      duration_ns: (end - start).toString(),
    });
  }
  traceOut.sort((a, b) => (a.trace_id < b.trace_id ? -1 : 1));

  // Chain summaries.
  const chainOut = [];
  for (const members of chains.values()) {
    const set = new Set(members);
    const invs = invocations.filter(i => set.has(i.trace));
    const succ = inv => inv.edgesOut.filter(e => set.has(e.callee.trace)).map(e => e.callee);
    const pf = pathFigures(invs, succ, inv => inv.fn);
    chainOut.push({
      type: 'chain',
      chain_id: chainIdOf.get(members[0].id),
      traces: members.length,
      invocations: invs.length,
      depth: pf.depth,
      max_fanout: Math.max(0, ...invs.map(i => i.callees.size)),
      retries: invs.reduce((n, i) => n + i.retries, 0),
      max_recursion: pf.maxRecursion,
      functions: sortFunctions(members.flatMap(t => t.spans)),
    });
  }
  chainOut.sort((a, b) => (a.chain_id < b.chain_id ? -1 : 1));

  // Edge aggregates.
  const agg = new Map();
  for (const e of edges) {
    const kind = e.async ? 'async' : 'sync';
    const k = `${e.caller.fn}\u0000${e.callee.fn}\u0000${kind}`;
    if (!agg.has(k)) agg.set(k, { type: 'edge', caller: e.caller.fn, callee: e.callee.fn, kind, calls: 0 });
    agg.get(k).calls++;
  }
  const edgeOut = [...agg.values()].sort((a, b) => {
    for (const f of ['caller', 'callee', 'kind']) if (a[f] !== b[f]) return a[f] < b[f] ? -1 : 1;
    return 0;
  });

  return { traces: traceOut, chains: chainOut, edges: edgeOut };
}
