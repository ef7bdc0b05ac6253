#!/usr/bin/env node
// Self-test of the e2e client, without the real receiver: runs send.mjs for every
// scenario and exporter (proto, proto+gzip, json) against mock_server.mjs, and checks
//   - the HTTP requests as the mock recorded them (method, path, content-type,
//     content-encoding, user agent, framing: chunked or content-length; one request per
//     function),
//   - the spans in the bodies, decoded (JSON parsed; protobuf by otlp.mjs): span counts,
//     resources, kinds, parents, links, attributes,
//   - the figures send.mjs wrote to expected.json, against an independent
//     implementation of SPEC.md's rules (ref_analyze.mjs) run on the decoded spans,
//   - check.mjs against the mock's stand-in query API (match: exit 0; tampered
//     expectations: exit 1; no API: exit 2),
//   - failure paths: a 400 answer (send.mjs exits 1 at once), a 503 once (the exporter
//     retries), a closed port (send.mjs exits 1 after its timeout).
// With --captures DIR (default /work/shared/data/captures when present) it first checks
// otlp.mjs and ref_analyze.mjs against the analyses in DIR/manifest.json.
// With --causeway BIN it also runs the matrix against `BIN serve` (a fresh server per
// run, --idle-timeout 1) and reports check.mjs's verdict for each.
//
// usage: node selftest.mjs [--captures DIR|--no-captures] [--causeway BIN] [--keep DIR] [--verbose]
// Exit status 0 when every check passed.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, existsSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { decodeRequestBody, flattenSpans } from './otlp.mjs';
import { analyze } from './ref_analyze.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const SCENARIOS = ['chain', 'fanout', 'retry', 'async', 'recursion'];
const MODES = [
  { name: 'proto', exporter: 'proto', gzip: false },
  { name: 'proto-gzip', exporter: 'proto', gzip: true },
  { name: 'json', exporter: 'json', gzip: false },
  { name: 'json-gzip', exporter: 'json', gzip: true },
];
const SDK_UA = 'OTel-OTLP-Exporter-JavaScript/0.223.1';

const o = { captures: '/work/shared/data/captures', verbose: false };
{
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i];
    if (a === '--captures') o.captures = v();
    else if (a === '--no-captures') o.captures = null;
    else if (a === '--causeway') o.causeway = v();
    else if (a === '--keep') o.keep = v();
    else if (a === '--verbose') o.verbose = true;
    else {
      process.stderr.write('usage: node selftest.mjs [--captures DIR|--no-captures] [--causeway BIN] [--keep DIR] [--verbose]\n');
      process.exit(2);
    }
  }
}

const work = o.keep ? (mkdirSync(o.keep, { recursive: true }), o.keep) : mkdtempSync(join(tmpdir(), 'cw-e2e-js-'));
let failures = 0;
let passes = 0;
const notes = [];

function ok(cond, what) {
  if (cond) {
    passes++;
    if (o.verbose) console.log(`  ok   ${what}`);
  } else {
    failures++;
    console.log(`  FAIL ${what}`);
  }
  return cond;
}

function run(cmd, args, { timeoutMs = 60000 } = {}) {
  return new Promise(resolve => {
    const t0 = Date.now();
    const p = spawn(cmd, args, { cwd: HERE, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', d => { out += d; });
    p.stderr.on('data', d => { err += d; });
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', code => {
      clearTimeout(timer);
      resolve({ code, out, err, ms: Date.now() - t0 });
    });
  });
}

// Starts a long-running process; resolves when its first stdout line arrives (mock) or
// when `ready()` says so.
function startMock(args) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(HERE, 'mock_server.mjs'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    let err = '';
    p.stderr.on('data', d => { err += d; });
    p.stdout.on('data', d => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0 && !p._info) {
        p._info = JSON.parse(buf.slice(0, nl));
        resolve({ proc: p, info: p._info });
      }
    });
    p.on('close', code => { if (!p._info) reject(new Error(`mock_server exited ${code}: ${err.trim()}`)); });
  });
}

function stop(proc) {
  return new Promise(resolve => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.once('close', () => resolve());
    proc.kill('SIGTERM');
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function readRecorded(dir) {
  const metas = readdirSync(dir).filter(f => f.endsWith('.meta.json')).sort();
  return metas.map(f => {
    const meta = JSON.parse(readFileSync(join(dir, f), 'utf8'));
    const body = readFileSync(join(dir, f.replace('.meta.json', '.body')));
    return { meta, body };
  });
}

const keyOf = x => (x.type === 'trace' ? `trace ${x.trace_id}` : x.type === 'chain' ? `chain ${x.chain_id}`
  : `edge ${x.caller}>${x.callee}>${x.kind}`);

function compareFigures(label, expected, ref) {
  const got = new Map([...ref.traces, ...ref.chains, ...ref.edges].map(x => [keyOf(x), x]));
  const want = [...expected.traces, ...expected.chains, ...expected.edges];
  let good = true;
  for (const w of want) {
    const g = got.get(keyOf(w));
    if (!g) {
      good = ok(false, `${label}: reference analysis has no ${keyOf(w)}`) && good;
      continue;
    }
    for (const [k, v] of Object.entries(w)) {
      if (JSON.stringify(g[k]) !== JSON.stringify(v)) {
        good = ok(false, `${label}: ${keyOf(w)} ${k}: reference ${JSON.stringify(g[k])}, expected.json ${JSON.stringify(v)}`) && good;
      }
    }
  }
  const wantKeys = new Set(want.map(keyOf));
  for (const k of got.keys()) if (!wantKeys.has(k)) good = ok(false, `${label}: reference analysis has an unexpected ${k}`) && good;
  return ok(good, `${label}: expected.json figures agree with the reference analysis of the decoded spans`);
}

// Structural checks on the decoded spans: what each scenario means to send.
function checkStructure(label, scenario, spans, expected) {
  const byId = new Map(spans.map(s => [`${s.traceId}/${s.spanId}`, s]));
  const fnOf = s => s.resource['faas.name'];
  let good = true;
  const check = (c, what) => { if (!c) { good = false; ok(false, `${label}: ${what}`); } };
  for (const s of spans) {
    check(s.resource['service.name'] === s.resource['faas.name'], `span ${s.spanId}: service.name != faas.name`);
    check(s.resource['cloud.provider'] === 'aws' && s.resource['cloud.region'] === 'eu-west-1', `span ${s.spanId}: cloud.* resource attributes`);
    check(s.end > s.start, `span ${s.spanId}: duration not positive`);
    check(/^[0-9a-f]{32}$/.test(s.traceId) && /^[0-9a-f]{16}$/.test(s.spanId), `span ${s.spanId}: id format`);
    if (s.parentSpanId) {
      const p = byId.get(`${s.traceId}/${s.parentSpanId}`);
      check(p, `span ${s.name} ${s.spanId}: parent ${s.parentSpanId} not sent`);
      if (p) check(p.start <= s.start && s.end <= p.end, `span ${s.spanId}: not inside its parent's time`);
      if (p && fnOf(p) !== fnOf(s)) {
        // a cross-function parent is the call site: a CLIENT span naming this function
        check(p.kind === 3 && s.kind === 2, `span ${s.spanId}: cross-function parent is not CLIENT -> SERVER`);
        check(p.attrs['faas.invoked_name'] === fnOf(s), `span ${s.spanId}: parent's faas.invoked_name ${p.attrs['faas.invoked_name']} != ${fnOf(s)}`);
        check(p.attrs['rpc.service'] === 'Lambda' && p.attrs['rpc.method'] === 'Invoke', `span ${p.spanId}: rpc.service/method`);
      }
    }
    if (s.kind === 2 || s.kind === 5) check(typeof s.attrs['faas.invocation_id'] === 'string', `entry ${s.spanId}: faas.invocation_id`);
    for (const l of s.links) {
      const t = byId.get(`${l.traceId}/${l.spanId}`);
      check(t, `span ${s.spanId}: link to a span not sent`);
      if (t) {
        check(t.kind === 4 && s.kind === 5, `span ${s.spanId}: link is not CONSUMER -> PRODUCER`);
        check(t.traceId !== s.traceId, `span ${s.spanId}: link within one trace`);
      }
    }
  }
  const kinds = {};
  for (const s of spans) kinds[s.kind] = (kinds[s.kind] || 0) + 1;
  const want = {
    chain: { 2: 4, 3: 3 },
    fanout: { 2: 51, 3: 50 },
    retry: { 2: 4, 3: 3 },
    async: { 2: 1, 4: 1, 5: 1 },
    recursion: { 2: 1, 4: 20, 5: 19 },
  }[scenario];
  check(JSON.stringify(kinds) === JSON.stringify(want), `span kinds ${JSON.stringify(kinds)}, want ${JSON.stringify(want)}`);
  const roots = spans.filter(s => !s.parentSpanId);
  check(roots.length === expected.traces.length, `${roots.length} root spans for ${expected.traces.length} traces`);
  if (scenario === 'retry') {
    const calls = spans.filter(s => s.kind === 3).sort((a, b) => (a.start < b.start ? -1 : 1));
    check(calls.map(c => c.statusCode).join() === '2,2,0', `retry: CLIENT statuses ${calls.map(c => c.statusCode)}`);
    check(calls.map(c => c.attrs['http.response.status_code']).join() === '503,429,200', 'retry: CLIENT http.response.status_code');
    check(spans.filter(s => s.statusCode === 2).length === 4, 'retry: 4 spans with status ERROR');
  }
  if (scenario === 'async' || scenario === 'recursion') {
    for (const s of spans.filter(x => x.kind === 4)) {
      check(typeof s.attrs['messaging.destination.name'] === 'string', `producer ${s.spanId}: messaging.destination.name`);
    }
  }
  if (scenario === 'async') {
    check(spans.some(s => s.kind === 4 && s.name === 'publish orders' && s.attrs['messaging.destination.name'] === 'orders'), 'async: PRODUCER "publish orders"');
  }
  if (scenario === 'recursion') {
    // the links form one path through all 20 traces
    const consumers = spans.filter(s => s.kind === 5);
    check(new Set(consumers.map(c => `${c.links[0].traceId}/${c.links[0].spanId}`)).size === 19, 'recursion: 19 distinct link targets');
  }
  return ok(good, `${label}: span structure (kinds, parents, links, attributes, resources)`);
}

// ------------------------------------------------------------------ 1. captures

async function checkCaptures() {
  const dir = o.captures;
  if (!dir || !existsSync(join(dir, 'manifest.json'))) {
    console.log(`captures: skipped (${dir ? `no ${dir}/manifest.json` : '--no-captures'})`);
    return;
  }
  console.log(`captures: checking otlp.mjs + ref_analyze.mjs against ${dir}/manifest.json`);
  const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  for (const c of m.captures) {
    const spans = [];
    for (const f of c.files) {
      const req = decodeRequestBody(readFileSync(join(dir, f.file)), f.headers['content-type'], f.headers['content-encoding']);
      const fl = flattenSpans(req);
      ok(fl.length === f.spans, `capture ${f.file}: ${fl.length} spans, manifest says ${f.spans}`);
      spans.push(...fl);
    }
    const ref = analyze(spans);
    const got = new Map([...ref.traces, ...ref.chains, ...ref.edges].map(x => [keyOf(x), x]));
    let good = got.size === c.analysis.length;
    for (const w of c.analysis) {
      const g = got.get(keyOf(w));
      for (const [k, v] of Object.entries(w)) if (!g || JSON.stringify(g[k]) !== JSON.stringify(v)) good = false;
    }
    ok(good, `capture ${c.scenario}/${c.encoding}: reference analysis equals the manifest's`);
  }
}

// ------------------------------------------------------------------ 2. matrix on the mock

async function oneRun(scenario, mode, { order = 'forward' } = {}) {
  const label = `${scenario}/${mode.name}${order === 'reverse' ? '/reverse' : ''}`;
  const dir = join(work, label.replace(/\//g, '_'));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const rec = join(dir, 'recorded');
  const { proc, info } = await startMock(['--listen', '127.0.0.1:0', '--api', '127.0.0.1:0', '--record', rec, '--idle-timeout', '0.3']);
  try {
    const out = join(dir, 'expected.json');
    const args = ['send.mjs', '--endpoint', `${info.listen}/v1/traces`, '--exporter', mode.exporter,
      '--scenario', scenario, '--out', out, '--order', order];
    if (mode.gzip) args.push('--gzip');
    const r = await run(process.execPath, args);
    if (!ok(r.code === 0 && existsSync(out), `${label}: send.mjs exit ${r.code} ${r.err.trim()}`)) return null;
    const expected = JSON.parse(readFileSync(out, 'utf8'));
    const reqs = readRecorded(rec);
    const nfn = expected.sent.functions.length;
    ok(reqs.length === nfn, `${label}: ${reqs.length} requests for ${nfn} functions`);
    const ct = mode.exporter === 'proto' ? 'application/x-protobuf' : 'application/json';
    const framing = new Set();
    const spans = [];
    let good = true;
    for (const { meta, body } of reqs) {
      const h = meta.headers;
      good = ok(meta.method === 'POST' && meta.path === '/v1/traces', `${label}: POST /v1/traces`) && good;
      good = ok(h['content-type'] === ct, `${label}: content-type ${h['content-type']}`) && good;
      good = ok(mode.gzip ? h['content-encoding'] === 'gzip' : h['content-encoding'] === undefined,
        `${label}: content-encoding ${h['content-encoding']}`) && good;
      good = ok(h['user-agent'] === SDK_UA, `${label}: user-agent ${h['user-agent']}`) && good;
      good = ok(meta.answer === 200, `${label}: answered ${meta.answer} ${meta.error || ''}`) && good;
      framing.add(h['transfer-encoding'] ? `transfer-encoding: ${h['transfer-encoding']}` : `content-length: ${h['content-length']}`);
      const fl = flattenSpans(decodeRequestBody(body, h['content-type'], h['content-encoding']));
      ok(new Set(fl.map(s => s.resource['faas.name'])).size === 1, `${label}: one function per request`);
      spans.push(...fl);
    }
    const chunked = [...framing].every(f => f === 'transfer-encoding: chunked');
    ok(chunked, `${label}: every request chunked (${[...framing].join(', ')})`);
    ok(spans.length === expected.sent.spans, `${label}: ${spans.length} spans received, ${expected.sent.spans} sent`);
    checkStructure(label, scenario, spans, expected);
    compareFigures(label, expected, analyze(spans));
    const c = await run(process.execPath, ['check.mjs', '--api', info.api, '--expected', out, '--timeout', '10']);
    ok(c.code === 0, `${label}: check.mjs against the mock API: exit ${c.code} ${c.out.trim()} ${c.err.trim()}`);
    console.log(`${label}: ${reqs.length} requests [${reqs.map(x => x.meta.spans).join('+')} spans; `
      + `${reqs.map(x => x.meta.bodyBytes).join('/')} bytes on the wire], ${[...framing].join(', ')}, `
      + `${expected.traces.length} traces, send ${r.ms} ms`);
    return { expected, out, info };
  } finally {
    await stop(proc);
  }
}

async function negativeTests() {
  console.log('failure paths:');
  // tampered expectations -> check exit 1; no API -> 2
  {
    const dir = join(work, 'negative');
    mkdirSync(dir, { recursive: true });
    const { proc, info } = await startMock(['--listen', '127.0.0.1:0', '--api', '127.0.0.1:0', '--idle-timeout', '0.2']);
    try {
      const out = join(dir, 'retry.json');
      const r = await run(process.execPath, ['send.mjs', '--endpoint', `${info.listen}/v1/traces`, '--exporter', 'json', '--scenario', 'retry', '--out', out]);
      ok(r.code === 0, `negative: send retry ${r.err.trim()}`);
      const exp = JSON.parse(readFileSync(out, 'utf8'));
      exp.traces[0].retries = 3;
      exp.edges[0].calls = 4;
      const bad = join(dir, 'bad.json');
      (await import('node:fs')).writeFileSync(bad, JSON.stringify(exp));
      const c = await run(process.execPath, ['check.mjs', '--api', info.api, '--expected', bad, '--timeout', '5', '--settle', '0.3']);
      const lines = c.out.trim().split('\n');
      ok(c.code === 1 && lines.length === 2, `check.mjs with two wrong figures: exit ${c.code}, lines: ${JSON.stringify(lines)}`);
      console.log(`  check.mjs, tampered expected.json: exit ${c.code}: ${lines.join(' | ')}`);
      const unknown = { ...JSON.parse(readFileSync(out, 'utf8')) };
      unknown.traces = [{ ...unknown.traces[0], trace_id: '0'.repeat(31) + '1' }];
      (await import('node:fs')).writeFileSync(bad, JSON.stringify(unknown));
      const c2 = await run(process.execPath, ['check.mjs', '--api', info.api, '--expected', bad, '--timeout', '1', '--settle', '0']);
      ok(c2.code === 1 && /not complete after 1 s \(last: unknown \(404\)\)/.test(c2.out), `check.mjs with an unknown trace: exit ${c2.code} ${c2.out.trim()}`);
    } finally {
      await stop(proc);
    }
    const port = await freePort();
    const c3 = await run(process.execPath, ['check.mjs', '--api', `http://127.0.0.1:${port}`, '--expected', join(dir, 'retry.json'), '--timeout', '1']);
    ok(c3.code === 2 && c3.err.trim().split('\n').length === 1, `check.mjs without an API: exit ${c3.code} ${c3.err.trim()}`);
    console.log(`  check.mjs, no API: exit ${c3.code}: ${c3.err.trim()}`);
  }
  // 400: not retryable, send.mjs exits 1 at once with one line
  {
    const rec = join(work, 'negative', 'rec400');
    const { proc, info } = await startMock(['--listen', '127.0.0.1:0', '--record', rec, '--fail', '400']);
    try {
      const r = await run(process.execPath, ['send.mjs', '--endpoint', `${info.listen}/v1/traces`, '--exporter', 'proto', '--scenario', 'async', '--out', join(work, 'negative', 'x.json')]);
      const n = readRecorded(rec).length;
      ok(r.code === 1 && r.err.trim().split('\n').length === 1 && r.ms < 5000, `send.mjs on 400: exit ${r.code} in ${r.ms} ms, ${n} requests: ${r.err.trim()}`);
      console.log(`  send.mjs, server answers 400: exit ${r.code} after ${r.ms} ms, ${n} requests (no retry): ${r.err.trim()}`);
    } finally {
      await stop(proc);
    }
  }
  // 503 once, no Retry-After: the exporter retries after its backoff (about 1 s)
  for (const retryAfter of [undefined, '0']) {
    const rec = join(work, 'negative', `rec503-${retryAfter ?? 'none'}`);
    const args = ['--listen', '127.0.0.1:0', '--record', rec, '--fail', '503:1'];
    if (retryAfter !== undefined) args.push('--retry-after', retryAfter);
    const { proc, info } = await startMock(args);
    try {
      const r = await run(process.execPath, ['send.mjs', '--endpoint', `${info.listen}/v1/traces`, '--exporter', 'json', '--scenario', 'chain', '--out', join(work, 'negative', 'y.json')]);
      const reqs = readRecorded(rec);
      const gap = reqs.length >= 2 ? Date.parse(reqs[1].meta.time) - Date.parse(reqs[0].meta.time) : NaN;
      const sameBody = reqs.length >= 2 && Buffer.compare(reqs[0].body, reqs[1].body) === 0;
      ok(r.code === 0 && reqs.length === 5 && sameBody, `send.mjs on one 503: exit ${r.code}, ${reqs.length} requests, resent body identical ${sameBody}`);
      console.log(`  server answers 503 once${retryAfter !== undefined ? ` with Retry-After: ${retryAfter}` : ''}: send.mjs exit ${r.code}, `
        + `${reqs.length} requests (4 functions + 1 resend, same body: ${sameBody}), resent after ${gap} ms`);
    } finally {
      await stop(proc);
    }
  }
  // 200 with a partial success (rejected spans), or with a body that is not an
  // ExportTraceServiceResponse: the SDK only logs these; send.mjs fails unless --lenient
  for (const [respond, exporter] of [['partial:2', 'proto'], ['partial:2', 'json'], ['garbage', 'proto'], ['garbage', 'json']]) {
    const { proc, info } = await startMock(['--listen', '127.0.0.1:0', '--respond', respond]);
    try {
      const base = ['send.mjs', '--endpoint', `${info.listen}/v1/traces`, '--exporter', exporter, '--scenario', 'async', '--out', join(work, 'negative', 'p.json')];
      const r = await run(process.execPath, base);
      const r2 = await run(process.execPath, [...base, '--lenient']);
      ok(r.code === 1 && r.err.trim().split('\n').length === 1 && r2.code === 0,
        `send.mjs on 200 + ${respond} (${exporter}): exit ${r.code}, with --lenient ${r2.code}: ${r.err.trim()}`);
      console.log(`  server answers 200 with ${respond} (${exporter}): send.mjs exit ${r.code} (--lenient: ${r2.code}): ${r.err.trim().slice(0, 160)}`);
    } finally {
      await stop(proc);
    }
  }
  // closed port: ECONNREFUSED is retryable; send.mjs gives up at its timeout
  {
    const port = await freePort();
    const r = await run(process.execPath, ['send.mjs', '--endpoint', `http://127.0.0.1:${port}/v1/traces`, '--exporter', 'proto', '--scenario', 'async', '--out', join(work, 'negative', 'z.json'), '--timeout-ms', '3000']);
    ok(r.code === 1 && r.err.trim().split('\n').length === 1, `send.mjs to a closed port: exit ${r.code} in ${r.ms} ms: ${r.err.trim()}`);
    console.log(`  send.mjs to a closed port (--timeout-ms 3000): exit ${r.code} after ${r.ms} ms: ${r.err.trim()}`);
  }
}

// ------------------------------------------------------------------ 3. shared server

async function sharedServer() {
  console.log('one mock server for all scenarios (--fn-prefix per run), one check.mjs call:');
  const { proc, info } = await startMock(['--listen', '127.0.0.1:0', '--api', '127.0.0.1:0', '--idle-timeout', '0.3']);
  try {
    const files = [];
    for (const s of SCENARIOS) {
      for (const m of MODES) {
        const out = join(work, `shared-${s}-${m.name}.json`);
        const args = ['send.mjs', '--endpoint', `${info.listen}/v1/traces`, '--exporter', m.exporter, '--scenario', s, '--out', out, '--fn-prefix', `${s}-${m.name}-`];
        if (m.gzip) args.push('--gzip');
        const r = await run(process.execPath, args);
        ok(r.code === 0, `shared ${s}/${m.name}: send exit ${r.code} ${r.err.trim()}`);
        files.push(out);
      }
    }
    // and once more without prefixes: the same edges from several files are summed
    for (const s of ['chain', 'fanout']) {
      const out = join(work, `shared-plain-${s}.json`);
      const r = await run(process.execPath, ['send.mjs', '--endpoint', `${info.listen}/v1/traces`, '--exporter', 'proto', '--scenario', s, '--out', out]);
      ok(r.code === 0, `shared plain ${s}: send exit ${r.code}`);
      files.push(out);
    }
    const c = await run(process.execPath, ['check.mjs', '--api', info.api, ...files.flatMap(f => ['--expected', f]), '--timeout', '20']);
    ok(c.code === 0, `shared: check.mjs over ${files.length} files: exit ${c.code} ${c.out.trim()} ${c.err.trim()}`);
    console.log(`  ${files.length} runs, check.mjs exit ${c.code}`);
  } finally {
    await stop(proc);
  }
}

// ------------------------------------------------------------------ 4. real server (optional)

async function realServer() {
  if (!o.causeway) return;
  console.log(`against ${o.causeway} serve (fresh server per run, --idle-timeout 1):`);
  for (const s of SCENARIOS) {
    for (const m of MODES) {
      const label = `causeway ${s}/${m.name}`;
      const lp = await freePort();
      const ap = await freePort();
      const srv = spawn(o.causeway, ['serve', '--listen', `127.0.0.1:${lp}`, '--api', `127.0.0.1:${ap}`, '--idle-timeout', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let serr = '';
      srv.stderr.on('data', d => { serr += d; });
      try {
        let up = false;
        for (let i = 0; i < 50 && !up; i++) {
          try {
            up = (await fetch(`http://127.0.0.1:${ap}/healthz`)).status === 200;
          } catch { await new Promise(r => setTimeout(r, 100)); }
        }
        if (!ok(up, `${label}: /healthz answers 200 (stderr: ${serr.trim().slice(0, 200)})`)) continue;
        const out = join(work, `real-${s}-${m.name}.json`);
        const args = ['send.mjs', '--endpoint', `http://127.0.0.1:${lp}/v1/traces`, '--exporter', m.exporter, '--scenario', s, '--out', out];
        if (m.gzip) args.push('--gzip');
        const r = await run(process.execPath, args);
        if (!ok(r.code === 0, `${label}: send.mjs exit ${r.code} ${r.err.trim()}`)) continue;
        const c = await run(process.execPath, ['check.mjs', '--api', `http://127.0.0.1:${ap}`, '--expected', out, '--timeout', '15']);
        ok(c.code === 0, `${label}: check.mjs exit ${c.code}\n${c.out.trim().split('\n').map(l => `        ${l}`).join('\n')} ${c.err.trim()}`);
        if (c.code === 0) console.log(`  ${label}: match`);
      } finally {
        await stop(srv);
      }
    }
  }
  // one server for everything: every scenario and exporter with its own --fn-prefix,
  // plus callee-first (--order reverse) runs, checked by one check.mjs call
  const lp = await freePort();
  const ap = await freePort();
  const srv = spawn(o.causeway, ['serve', '--listen', `127.0.0.1:${lp}`, '--api', `127.0.0.1:${ap}`, '--idle-timeout', '1'], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 50; i++) {
      try { if ((await fetch(`http://127.0.0.1:${ap}/healthz`)).status === 200) break; } catch { /* starting */ }
      await new Promise(r => setTimeout(r, 100));
    }
    const files = [];
    for (const s of SCENARIOS) {
      for (const m of MODES) {
        for (const order of ['forward', 'reverse']) {
          const out = join(work, `real-shared-${s}-${m.name}-${order}.json`);
          const args = ['send.mjs', '--endpoint', `http://127.0.0.1:${lp}/v1/traces`, '--exporter', m.exporter, '--scenario', s,
            '--out', out, '--fn-prefix', `${s}-${m.name}-${order}-`, '--order', order];
          if (m.gzip) args.push('--gzip');
          const r = await run(process.execPath, args);
          ok(r.code === 0, `causeway shared ${s}/${m.name}/${order}: send exit ${r.code} ${r.err.trim()}`);
          files.push(out);
        }
      }
    }
    const c = await run(process.execPath, ['check.mjs', '--api', `http://127.0.0.1:${ap}`, ...files.flatMap(f => ['--expected', f]), '--timeout', '30']);
    ok(c.code === 0, `causeway shared: check.mjs over ${files.length} files: exit ${c.code}\n${c.out.trim()} ${c.err.trim()}`);
    console.log(`  one causeway serve, ${files.length} runs (forward and reverse flush order, prefixed functions): check.mjs exit ${c.code}`);
  } finally {
    await stop(srv);
  }
}

// ------------------------------------------------------------------ main

await checkCaptures();
console.log('scenario x exporter against mock_server.mjs:');
for (const s of SCENARIOS) for (const m of MODES) await oneRun(s, m);
await oneRun('async', MODES[0], { order: 'reverse' });
await oneRun('chain', MODES[2], { order: 'reverse' });
await negativeTests();
await sharedServer();
await realServer();
for (const n of notes) console.log(n);
console.log(`selftest: ${passes} checks passed, ${failures} failed${o.keep ? ` (files in ${work})` : ''}`);
if (!o.keep) rmSync(work, { recursive: true, force: true });
process.exit(failures ? 1 : 0);
