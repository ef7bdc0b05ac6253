#!/usr/bin/env node
// Sends one serverless-shaped scenario to an OTLP/HTTP traces endpoint with the real
// OpenTelemetry JS SDK exporters, then writes what the query API should report.
//
// usage: node send.mjs --endpoint http://127.0.0.1:4318/v1/traces --exporter proto|json
//                      [--gzip] --scenario chain|fanout|retry|async|recursion
//                      --out expected.json
//                      [--fn-prefix P] [--order forward|reverse] [--timeout-ms N]
//                      [--base-time-ns N] [--lenient] [--verbose]
//
// Exit status: 0 when every export succeeded (expected.json written), 1 when an export
// failed (one line on stderr), 2 on usage errors. An export "fails" when the exporter
// gives up (non-retryable status, retries exhausted, timeout, connection refused until
// the timeout) and also, unless --lenient, when a 2xx answer carries a partial success
// (rejected spans) or a body that is not an ExportTraceServiceResponse (the SDK itself
// only logs those).
//
// Each "function" is its own BasicTracerProvider (Resource: service.name = faas.name =
// the function, cloud.provider aws, cloud.region eu-west-1) with a BatchSpanProcessor
// and its own exporter; so each function's spans go out in one request per function
// (BatchSpanProcessor batches up to 512 spans), flushed one function after the other
// (--order reverse flushes the last function first, so callees arrive before callers).

import { writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';

// The SDK reads OTEL_* variables (sampler, batch sizes, exporter endpoint, headers,
// timeouts, certificates). This program configures everything explicitly; drop the
// variables so that a stray environment cannot change what is sent.
for (const k of Object.keys(process.env)) if (k.startsWith('OTEL_')) delete process.env[k];

const api = await import('@opentelemetry/api');
const { BasicTracerProvider, BatchSpanProcessor, AlwaysOnSampler } = await import('@opentelemetry/sdk-trace-base');
const { resourceFromAttributes } = await import('@opentelemetry/resources');
const { OTLPTraceExporter: ProtoExporter } = await import('@opentelemetry/exporter-trace-otlp-proto');
const { OTLPTraceExporter: JsonExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
const { SCENARIOS } = await import('./scenarios.mjs');

const { ROOT_CONTEXT, SpanStatusCode, trace: traceApi, diag, DiagConsoleLogger, DiagLogLevel } = api;

const USAGE = 'usage: node send.mjs --endpoint URL --exporter proto|json [--gzip] '
  + `--scenario ${Object.keys(SCENARIOS).join('|')} --out FILE [--fn-prefix P] `
  + '[--order forward|reverse] [--timeout-ms N] [--base-time-ns N] [--lenient] [--verbose]';

function usage(msg) {
  process.stderr.write(`send.mjs: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

function fail(msg) {
  process.stderr.write(`send.mjs: ${String(msg).replace(/\s+/g, ' ').trim()}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  const o = { gzip: false, verbose: false, lenient: false, fnPrefix: '', order: 'forward', timeoutMs: 10000 };
  const need = i => {
    if (i + 1 >= argv.length) usage(`${argv[i]} needs a value`);
    return argv[i + 1];
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '--endpoint': o.endpoint = need(i); i++; break;
      case '--exporter': o.exporter = need(i); i++; break;
      case '--scenario': o.scenario = need(i); i++; break;
      case '--out': o.out = need(i); i++; break;
      case '--fn-prefix': o.fnPrefix = need(i); i++; break;
      case '--order': o.order = need(i); i++; break;
      case '--timeout-ms': o.timeoutMs = Number(need(i)); i++; break;
      case '--base-time-ns': o.baseTimeNs = need(i); i++; break;
      case '--gzip': o.gzip = true; break;
      case '--verbose': o.verbose = true; break;
      case '--lenient': o.lenient = true; break;
      case '-h': case '--help':
        process.stdout.write(`${USAGE}\n`);
        process.exit(0);
        break;
      default: usage(`unknown argument ${a}`);
    }
  }
  if (!o.endpoint) usage('--endpoint is required');
  try {
    const u = new URL(o.endpoint);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
  } catch {
    usage(`--endpoint ${o.endpoint} is not an http(s) URL`);
  }
  if (o.exporter !== 'proto' && o.exporter !== 'json') usage('--exporter must be proto or json');
  if (!o.scenario || !Object.hasOwn(SCENARIOS, o.scenario)) usage(`--scenario must be one of ${Object.keys(SCENARIOS).join(', ')}`);
  if (!o.out) usage('--out is required');
  if (o.order !== 'forward' && o.order !== 'reverse') usage('--order must be forward or reverse');
  if (!Number.isFinite(o.timeoutMs) || o.timeoutMs <= 0) usage('--timeout-ms must be a positive number');
  if (o.baseTimeNs !== undefined && !/^[0-9]{1,19}$/.test(o.baseTimeNs)) usage('--base-time-ns must be a decimal integer');
  return o;
}

const opts = parseArgs(process.argv.slice(2));

// The exporter treats every 2xx as success and only logs (through diag) a partial
// success (spans the server rejected) or a response body that is not an
// ExportTraceServiceResponse. Both are receiver bugs for this suite: catch them.
const diagProblems = [];
const diagWarnings = [];
{
  const consoleLogger = new DiagConsoleLogger();
  const text = args => args.map(a => (typeof a === 'string' ? a : (a && a.message) || JSON.stringify(a))).join(' ');
  const watch = level => (...args) => {
    const msg = text(args);
    if (/Partial Success/i.test(msg)) {
      // rejected_spans > 0 is a failure; 0 with an error_message is the OTLP way to
      // send a warning: print it, do not fail
      let rejected = NaN;
      try { rejected = Number(JSON.parse(args[args.length - 1]).rejectedSpans ?? 0); } catch { /* unknown shape */ }
      const what = msg.replace(/^.*?response:\s*/i, '');
      if (rejected === 0) diagWarnings.push(`server answered with a warning (partial_success, 0 spans rejected): ${what}`);
      else diagProblems.push(`server reported a partial success: ${what}`);
    } else if (/could not deserialize response|Failed to parse trace export response/i.test(msg)) {
      diagProblems.push(`the 2xx response body is not an ExportTraceServiceResponse in the request's encoding: ${msg}`);
    }
    if (opts.verbose || level === 'error') consoleLogger[level](...args);
  };
  diag.setLogger({
    error: watch('error'), warn: watch('warn'), info: watch('info'), debug: watch('debug'), verbose: watch('verbose'),
  }, opts.verbose ? DiagLogLevel.DEBUG : DiagLogLevel.WARN);
}

// ------------------------------------------------------------------ exporters

// Wraps the real exporter to see every export result: the BatchSpanProcessor reports a
// failed export only as a rejected forceFlush (and the provider may fold it into an
// array of errors), so the wrapper is the reliable place to learn what failed and why.
class WatchedExporter {
  constructor(inner, fnName, stats) {
    this.inner = inner;
    this.fnName = fnName;
    this.stats = stats;
  }
  export(spans, resultCallback) {
    const n = spans.length;
    this.stats.exports++;
    this.inner.export(spans, result => {
      if (result.code === 0) {
        this.stats.spansOk += n;
        this.stats.exported.push(...spans);
      } else {
        const e = result.error;
        let why = e ? (e.message || String(e)) : 'unknown error';
        if (e && e.code !== undefined && typeof e.code === 'number') why = `HTTP ${e.code} ${why}`;
        if (e && e.data) why += `: ${statusText(String(e.data))}`;
        this.stats.failures.push(`${this.fnName}: export of ${n} spans failed: ${why}`);
      }
      resultCallback(result);
    });
  }
  forceFlush() {
    return this.inner.forceFlush ? this.inner.forceFlush() : Promise.resolve();
  }
  shutdown() {
    return this.inner.shutdown();
  }
}

// The text of an error response body (the exporter hands it over as a string): a
// google.rpc.Status, in JSON or protobuf (field 2: message), or anything else.
function statusText(data) {
  if (data.charCodeAt(0) === 0x08 || data.charCodeAt(0) === 0x12) {
    let i = 0;
    const varint = () => {
      let v = 0;
      for (let shift = 0; i < data.length && shift < 35; shift += 7) {
        const b = data.charCodeAt(i++);
        v += (b & 0x7f) * 2 ** shift;
        if (!(b & 0x80)) break;
      }
      return v;
    };
    while (i < data.length) {
      const tag = varint();
      if (tag === 0x08) varint();
      else if (tag === 0x12) {
        const n = varint();
        return data.slice(i, i + n).slice(0, 200);
      } else break;
    }
  }
  return data.replace(/[^\x20-\x7e]+/g, ' ').trim().slice(0, 200);
}

function makeExporter() {
  const config = {
    url: opts.endpoint,
    timeoutMillis: opts.timeoutMs,
    compression: opts.gzip ? 'gzip' : 'none',
  };
  return opts.exporter === 'proto' ? new ProtoExporter(config) : new JsonExporter(config);
}

// ------------------------------------------------------------------ scenario context

const stats = { exports: 0, spansOk: 0, failures: [], exported: [] };
const functions = []; // in creation order

// Base time: now (the server may bound trace age), or --base-time-ns; a fixed odd
// nanosecond part checks that nanoseconds survive the trip exactly.
const NS = 1000000000n;
const baseNs = opts.baseTimeNs !== undefined
  ? BigInt(opts.baseTimeNs)
  : (BigInt(Date.now()) - 60000n) * 1000000n + 123457n;

function hrTimeAt(ms) {
  const ns = baseNs + BigInt(Math.round(ms * 1e6));
  return [Number(ns / NS), Number(ns % NS)];
}

const ctx = {
  fn(name) {
    const full = `${opts.fnPrefix}${name}`;
    const existing = functions.find(f => f.name === full);
    if (existing) return existing;
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({
        'service.name': full,
        'faas.name': full,
        'cloud.provider': 'aws',
        'cloud.platform': 'aws_lambda',
        'cloud.region': 'eu-west-1',
      }),
      sampler: new AlwaysOnSampler(),
      spanProcessors: [new BatchSpanProcessor(new WatchedExporter(makeExporter(), full, stats), {
        maxExportBatchSize: 512,
        maxQueueSize: 4096,
        // only forceFlush exports, so every function's spans go in one request
        scheduledDelayMillis: 600000,
        exportTimeoutMillis: opts.timeoutMs + 5000,
      })],
      forceFlushTimeoutMillis: opts.timeoutMs + 10000,
    });
    const f = { name: full, provider, tracer: provider.getTracer('causeway-e2e', '1.0.0') };
    functions.push(f);
    return f;
  },
  t: hrTimeAt,
  // Starts a span; ends it at `end` now, or, with deferEnd, when span.endNow() is called.
  span(fn, name, { kind, parent, links = [], attributes = {}, start, end, error, deferEnd = false }) {
    let parentCtx = ROOT_CONTEXT;
    if (parent) {
      const sc = parent.spanContext();
      // a parent in another function arrives as a remote context (propagated headers)
      parentCtx = parent.__fn === fn
        ? traceApi.setSpan(ROOT_CONTEXT, parent)
        : traceApi.setSpanContext(ROOT_CONTEXT, { ...sc, isRemote: true });
    }
    const entry = kind === api.SpanKind.SERVER || kind === api.SpanKind.CONSUMER;
    const attrs = { ...attributes };
    if (entry) attrs['faas.invocation_id'] = randomUUID();
    const span = fn.tracer.startSpan(name, {
      kind,
      attributes: attrs,
      links: links.map(l => ({ context: l.spanContext() })),
      startTime: hrTimeAt(start),
      root: !parent,
    }, parentCtx);
    span.__fn = fn;
    if (error) span.setStatus({ code: SpanStatusCode.ERROR, message: error });
    span.endNow = () => span.end(hrTimeAt(end));
    if (!deferEnd) span.endNow();
    return span;
  },
};

// ------------------------------------------------------------------ run

const plan = SCENARIOS[opts.scenario](ctx);

const order = opts.order === 'reverse' ? [...functions].reverse() : functions;
const flushErrors = [];
for (const f of order) {
  try {
    await f.provider.forceFlush();
  } catch (e) {
    const list = Array.isArray(e) ? e : [e];
    for (const x of list) flushErrors.push(`${f.name}: ${x && x.message ? x.message : String(x)}`);
  }
  // stop at the first failure: the other functions' exports would only wait out their
  // own retries and timeouts against the same endpoint
  if (stats.failures.length) fail(`export to ${opts.endpoint} failed: ${stats.failures[0]}`);
  if (flushErrors.length) fail(`export to ${opts.endpoint} failed: ${flushErrors[0]}`);
  if (diagProblems.length && !opts.lenient) fail(`export to ${opts.endpoint}: ${f.name}: ${diagProblems[0]}`);
}
for (const f of functions) {
  try {
    await f.provider.shutdown();
  } catch (e) {
    flushErrors.push(`${f.name}: shutdown: ${e && e.message ? e.message : String(e)}`);
  }
}

if (stats.failures.length) fail(`export to ${opts.endpoint} failed: ${stats.failures[0]}`);
if (flushErrors.length) fail(`export to ${opts.endpoint} failed: ${flushErrors[0]}`);
if (diagProblems.length && !opts.lenient) fail(`export to ${opts.endpoint}: ${diagProblems[0]}`);
for (const p of [...diagProblems, ...diagWarnings]) process.stderr.write(`send.mjs: warning: ${p}\n`);

// Every span the scenario made must have been exported, each trace as planned.
const planned = plan.traces.reduce((n, t) => n + t.spans, 0);
if (stats.spansOk !== planned) fail(`internal: exported ${stats.spansOk} spans, the scenario planned ${planned}`);

// start_unix_nano and duration_ns of each trace, from the spans as exported.
const toNs = hr => BigInt(hr[0]) * NS + BigInt(hr[1]);
const bounds = new Map();
for (const s of stats.exported) {
  const id = s.spanContext().traceId;
  const st = toNs(s.startTime);
  const en = toNs(s.endTime);
  const b = bounds.get(id) || { start: st, end: en, n: 0 };
  if (st < b.start) b.start = st;
  if (en > b.end) b.end = en;
  b.n++;
  bounds.set(id, b);
}
for (const t of plan.traces) {
  const b = bounds.get(t.trace_id);
  if (!b || b.n !== t.spans) fail(`internal: trace ${t.trace_id} exported ${b ? b.n : 0} spans, planned ${t.spans}`);
  t.start_unix_nano = b.start.toString();
  t.duration_ns = (b.end - b.start).toString();
}

const expected = {
  scenario: opts.scenario,
  exporter: opts.exporter,
  gzip: opts.gzip,
  endpoint: opts.endpoint,
  fn_prefix: opts.fnPrefix,
  sent: { exports: stats.exports, spans: stats.spansOk, functions: functions.map(f => f.name) },
  traces: plan.traces,
  chains: plan.chains,
  edges: plan.edges,
};
writeFileSync(opts.out, `${JSON.stringify(expected, null, 1)}\n`);
if (opts.verbose) process.stderr.write(`send.mjs: ${opts.scenario}: ${stats.spansOk} spans in ${stats.exports} requests, ${plan.traces.length} traces\n`);
process.exit(0);
