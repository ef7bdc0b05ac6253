#!/usr/bin/env node
// Checks what the query API of `causeway serve` reports against expected.json files
// written by send.mjs. Node built-ins only (global fetch, Node >= 18).
//
// usage: node check.mjs --api http://127.0.0.1:4320 --expected expected.json
//                       [--expected more.json ...] [--timeout 30] [--interval-ms 200]
//                       [--settle 2] [--allow-extra-edges] [--verbose]
//
// 1. For every expected trace, polls GET /api/v1/traces/{trace_id} (404 until the
//    server knows it) until the summary says "complete": true, up to --timeout seconds
//    in all.
// 2. Compares every field of every expected trace with the summary, every expected
//    chain with GET /api/v1/chains/{chain_id}, and the expected edges with
//    GET /api/v1/edges (a JSON array; matched by caller + callee + kind, then every
//    other expected field, i.e. calls). Edges expected by several files are summed, so
//    several runs that went to one server can be checked together. An edge the server
//    reports between two functions of the expected runs that no file expects is a
//    mismatch too (unless --allow-extra-edges). When something differs, the comparison
//    is retried for --settle seconds before it counts (edges and chains may be updated
//    just after the traces complete).
// 3. Prints one line per mismatch; exit 0 when everything matches, 1 when something
//    differs or a trace never completed, 2 on usage errors or when the API cannot be
//    reached.

import { readFileSync } from 'node:fs';

const USAGE = 'usage: node check.mjs --api URL --expected FILE [--expected FILE ...] [--timeout SECONDS] '
  + '[--interval-ms N] [--settle SECONDS] [--allow-extra-edges] [--verbose]';

function usage(msg) {
  process.stderr.write(`check.mjs: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = { expected: [], timeout: 30, intervalMs: 200, settle: 2, allowExtraEdges: false, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
    switch (a) {
      case '--api': o.api = v(); break;
      case '--expected': o.expected.push(v()); break;
      case '--timeout': o.timeout = Number(v()); break;
      case '--interval-ms': o.intervalMs = Number(v()); break;
      case '--settle': o.settle = Number(v()); break;
      case '--allow-extra-edges': o.allowExtraEdges = true; break;
      case '--verbose': o.verbose = true; break;
      case '-h': case '--help': process.stdout.write(`${USAGE}\n`); process.exit(0); break;
      default: usage(`unknown argument ${a}`);
    }
  }
  if (!o.api) usage('--api is required');
  try {
    const u = new URL(o.api);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
  } catch {
    usage(`--api ${o.api} is not an http(s) URL`);
  }
  o.api = o.api.replace(/\/+$/, '');
  if (!o.expected.length) usage('--expected is required');
  for (const [k, min] of [['timeout', 0], ['intervalMs', 1], ['settle', 0]]) {
    if (!Number.isFinite(o[k]) || o[k] < min) usage(`--${k.replace(/[A-Z]/g, c => `-${c.toLowerCase()}`)} must be a number >= ${min}`);
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const log = msg => { if (opts.verbose) process.stderr.write(`check.mjs: ${msg}\n`); };
const sleep = ms => new Promise(r => setTimeout(r, ms));

// ------------------------------------------------------------------ expectations

const traces = new Map(); // trace_id -> expected object
const chains = new Map(); // chain_id -> expected object
const edges = new Map(); // caller \0 callee \0 kind -> expected object (calls summed)
const expectedFunctions = new Set();
const edgeKey = e => `${e.caller}\u0000${e.callee}\u0000${e.kind}`;
const edgeName = e => `edge ${e.caller} -> ${e.callee} (${e.kind})`;

for (const file of opts.expected) {
  let doc;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    usage(`cannot read ${file}: ${e.message}`);
  }
  if (!doc || !Array.isArray(doc.traces) || !Array.isArray(doc.chains) || !Array.isArray(doc.edges)) {
    usage(`${file}: not an expected.json written by send.mjs (needs traces, chains, edges arrays)`);
  }
  for (const t of doc.traces) {
    if (!/^[0-9a-f]{32}$/.test(t.trace_id || '')) usage(`${file}: bad trace_id ${t.trace_id}`);
    traces.set(t.trace_id, t);
    for (const f of t.functions || []) expectedFunctions.add(f);
  }
  for (const c of doc.chains) {
    if (!/^[0-9a-f]{32}$/.test(c.chain_id || '')) usage(`${file}: bad chain_id ${c.chain_id}`);
    chains.set(c.chain_id, c);
  }
  for (const e of doc.edges) {
    const k = edgeKey(e);
    const prev = edges.get(k);
    if (prev) prev.calls += e.calls;
    else edges.set(k, { ...e });
    expectedFunctions.add(e.caller);
    expectedFunctions.add(e.callee);
  }
}

// ------------------------------------------------------------------ HTTP

class ConnectionError extends Error {}

async function getJson(path) {
  const url = `${opts.api}${path}`;
  let res;
  try {
    res = await fetch(url, { headers: { Accept: 'application/json' }, signal: AbortSignal.timeout(10000) });
  } catch (e) {
    const cause = e.cause && (e.cause.code || e.cause.message);
    throw new ConnectionError(`GET ${url}: ${cause || e.message}`);
  }
  const text = await res.text();
  if (res.status === 404) return { status: 404, body: null, text };
  if (res.status !== 200) return { status: res.status, body: null, text };
  try {
    return { status: 200, body: JSON.parse(text), text };
  } catch {
    return { status: 200, body: null, text, parseError: true };
  }
}

// ------------------------------------------------------------------ comparison

function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

const show = v => (v === undefined ? 'absent' : JSON.stringify(v));

function compareObject(label, got, want, skip) {
  const out = [];
  for (const [k, v] of Object.entries(want)) {
    if (skip.has(k)) continue;
    if (!same(got[k], v)) out.push(`${label} ${k}: got ${show(got[k])}, want ${show(v)}`);
  }
  return out;
}

const SKIP_TRACE = new Set(['complete']);
const SKIP_CHAIN = new Set();
const SKIP_EDGE = new Set(['caller', 'callee', 'kind']);

async function compareAll(traceBodies) {
  const problems = [];
  for (const [id, want] of traces) {
    problems.push(...compareObject(`trace ${id}`, traceBodies.get(id), want, SKIP_TRACE));
  }
  for (const [id, want] of chains) {
    const r = await getJson(`/api/v1/chains/${id}`);
    if (r.status !== 200 || !r.body) {
      problems.push(`chain ${id}: GET /api/v1/chains/${id} answered ${r.status}${r.parseError ? ' (not JSON)' : ''}`);
      continue;
    }
    problems.push(...compareObject(`chain ${id}`, r.body, want, SKIP_CHAIN));
  }
  if (edges.size || !opts.allowExtraEdges) {
    const r = await getJson('/api/v1/edges');
    if (r.status !== 200 || !Array.isArray(r.body)) {
      problems.push(`edges: GET /api/v1/edges answered ${r.status}${r.status === 200 ? ' without a JSON array' : ''}`);
    } else {
      const got = new Map();
      for (const e of r.body) {
        const k = edgeKey(e);
        if (got.has(k)) problems.push(`${edgeName(e)}: listed more than once`);
        got.set(k, e);
      }
      for (const [k, want] of edges) {
        const g = got.get(k);
        if (!g) {
          problems.push(`${edgeName(want)}: missing`);
          continue;
        }
        problems.push(...compareObject(edgeName(want), g, want, SKIP_EDGE));
      }
      if (!opts.allowExtraEdges) {
        for (const [k, g] of got) {
          if (!edges.has(k) && expectedFunctions.has(g.caller) && expectedFunctions.has(g.callee)) {
            problems.push(`${edgeName(g)}: unexpected (calls ${show(g.calls)})`);
          }
        }
      }
    }
  }
  return problems;
}

// ------------------------------------------------------------------ main

async function main() {
  const deadline = Date.now() + opts.timeout * 1000;
  const pending = new Set(traces.keys());
  const bodies = new Map();
  const lastState = new Map(); // trace id -> description of the last answer
  let everConnected = false;
  let lastConnError = null;
  let roundFailed = false; // the last polling round could not reach the API

  while (pending.size) {
    roundFailed = false;
    for (const id of [...pending]) {
      let r;
      try {
        r = await getJson(`/api/v1/traces/${id}`);
        everConnected = true;
      } catch (e) {
        if (!(e instanceof ConnectionError)) throw e;
        lastConnError = e.message;
        roundFailed = true;
        break; // retry the whole round after the interval
      }
      if (r.status === 404) {
        lastState.set(id, 'unknown (404)');
      } else if (r.status !== 200 || !r.body) {
        lastState.set(id, `answered ${r.status}${r.parseError ? ' (not JSON)' : ''}: ${r.text.slice(0, 120)}`);
      } else if (r.body.complete !== true) {
        lastState.set(id, `complete: ${show(r.body.complete)}, spans ${show(r.body.spans)}`);
      } else {
        bodies.set(id, r.body);
        pending.delete(id);
        log(`trace ${id} complete`);
      }
    }
    if (!pending.size) break;
    if (Date.now() >= deadline) break;
    await sleep(opts.intervalMs);
  }

  if (!everConnected || roundFailed) {
    process.stderr.write(`check.mjs: ${everConnected ? 'lost' : 'cannot reach'} the query API: ${lastConnError}\n`);
    process.exit(2);
  }
  const problems = [];
  for (const id of pending) {
    problems.push(`trace ${id}: not complete after ${opts.timeout} s (last: ${lastState.get(id) ?? 'no answer'})`);
  }

  let compared = [];
  const settleEnd = Date.now() + opts.settle * 1000;
  for (;;) {
    try {
      compared = await compareAll(new Map([...traces.keys()].map(k => [k, bodies.get(k) ?? {}])));
    } catch (e) {
      if (!(e instanceof ConnectionError)) throw e;
      process.stderr.write(`check.mjs: lost the query API: ${e.message}\n`);
      process.exit(2);
    }
    // traces that never completed are reported once, above, not field by field
    compared = compared.filter(p => ![...pending].some(id => p.startsWith(`trace ${id} `)));
    if (!compared.length || Date.now() >= settleEnd) break;
    log(`${compared.length} differences, retrying`);
    await sleep(opts.intervalMs);
    // re-read completed trace summaries too: a late span may have changed them
    for (const id of bodies.keys()) {
      const r = await getJson(`/api/v1/traces/${id}`).catch(() => null);
      if (r && r.status === 200 && r.body) bodies.set(id, r.body);
    }
  }
  problems.push(...compared);

  for (const p of problems) process.stdout.write(`${p}\n`);
  const n = traces.size + chains.size + edges.size;
  if (problems.length) {
    process.stderr.write(`check.mjs: ${problems.length} mismatches (${traces.size} traces, ${chains.size} chains, ${edges.size} edges expected)\n`);
    process.exit(1);
  }
  log(`all ${n} expected objects match`);
  process.exit(0);
}

main().catch(e => {
  process.stderr.write(`check.mjs: ${e && e.message ? e.message : String(e)}\n`);
  process.exit(2);
});
