#!/usr/bin/env node
// A stand-in for `causeway serve`, for testing send.mjs and check.mjs without the real
// receiver. Node built-ins only (plus the local otlp.mjs and ref_analyze.mjs).
//
// usage: node mock_server.mjs [--listen HOST:PORT] [--record DIR] [--api HOST:PORT]
//                             [--idle-timeout SECONDS] [--fail STATUS[:COUNT]]
//                             [--retry-after SECONDS] [--delay-ms N]
//                             [--respond partial:N|garbage]
//
// Receiver (default 127.0.0.1:4318; port 0 picks a free one):
//   POST /v1/traces, Content-Type application/x-protobuf or application/json,
//   Content-Encoding gzip or identity. Decodes the body (protobuf: a hand-written
//   wire-format reader) and counts its spans; answers 200 with an empty
//   ExportTraceServiceResponse in the request's content type (protobuf: empty body;
//   JSON: {}); 400 for a body that does not decode, 415 for another content type or
//   encoding, 413 over 64 MiB, 404/405 otherwise; error bodies are google.rpc.Status
//   in the request's encoding.
//   --fail STATUS[:COUNT] answers the first COUNT (default: every) POST with STATUS
//   instead (with Retry-After when --retry-after is given); --delay-ms delays answers.
//   --respond partial:N answers 200 with partial_success.rejected_spans = N (and an
//   error_message); --respond garbage answers 200 with a body that does not decode.
// Recording (--record DIR): for request N, DIR/NNNN.meta.json (method, path, HTTP
//   version, headers as received, raw header order, body sizes, span count, answer)
//   and DIR/NNNN.body (the body exactly as received, still gzipped if it was); one
//   line per request in DIR/requests.jsonl.
// Query API (--api HOST:PORT): GET /healthz, /api/v1/traces/{id}, /api/v1/chains/{id},
//   /api/v1/edges, computed by ref_analyze.mjs over every span received; a trace is
//   "complete" when none of its spans arrived for --idle-timeout seconds (default 1).
//
// On start prints one JSON line to stdout: {"listen":"http://HOST:PORT","api":...}.
// Stops on SIGINT/SIGTERM.

import http from 'node:http';
import { mkdirSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeRequestBody, flattenSpans } from './otlp.mjs';
import { analyze } from './ref_analyze.mjs';

const USAGE = 'usage: node mock_server.mjs [--listen HOST:PORT] [--record DIR] [--api HOST:PORT] '
  + '[--idle-timeout SECONDS] [--fail STATUS[:COUNT]] [--retry-after SECONDS] [--delay-ms N] '
  + '[--respond partial:N|garbage]';
const MAX_BODY = 64 * 1024 * 1024;

function usage(msg) {
  process.stderr.write(`mock_server.mjs: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

function hostPort(s, what) {
  const m = /^(.*):(\d+)$/.exec(s || '');
  if (!m) usage(`${what} must be HOST:PORT`);
  return { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

const o = { listen: '127.0.0.1:4318', idle: 1, failCount: 0, delayMs: 0 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const v = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
  switch (a) {
    case '--listen': o.listen = v(); break;
    case '--record': o.record = v(); break;
    case '--api': o.api = v(); break;
    case '--idle-timeout': o.idle = Number(v()); break;
    case '--fail': {
      const [st, n] = v().split(':');
      o.failStatus = Number(st);
      o.failCount = n === undefined ? Infinity : Number(n);
      break;
    }
    case '--retry-after': o.retryAfter = v(); break;
    case '--delay-ms': o.delayMs = Number(v()); break;
    case '--respond': o.respond = v(); break;
    case '-h': case '--help': process.stdout.write(`${USAGE}\n`); process.exit(0); break;
    default: usage(`unknown argument ${a}`);
  }
}
if (!Number.isFinite(o.idle) || o.idle < 0) usage('--idle-timeout must be a number of seconds');
if (o.record) mkdirSync(o.record, { recursive: true });

// ------------------------------------------------------------------ state

const allSpans = [];
const lastArrival = new Map(); // traceId -> ms
let seq = 0;
let failed = 0;

// ------------------------------------------------------------------ helpers

function encodeStatusProto(code, message) {
  const msg = Buffer.from(message, 'utf8');
  const parts = [];
  if (code) parts.push(Buffer.from([0x08]), varintBytes(code));
  parts.push(Buffer.from([0x12]), varintBytes(msg.length), msg);
  return Buffer.concat(parts);
}

// gRPC codes for the google.rpc.Status bodies
const GRPC = { 400: 3, 404: 5, 405: 12, 413: 8, 415: 3, 429: 8, 500: 13, 502: 14, 503: 14, 504: 4 };

function okBody(isProto) {
  const m = /^partial:(\d+)$/.exec(o.respond || '');
  if (m) {
    const n = Number(m[1]);
    const msg = `mock_server: rejected ${n} spans on purpose`;
    if (!isProto) return Buffer.from(JSON.stringify({ partialSuccess: { rejectedSpans: String(n), errorMessage: msg } }));
    const inner = Buffer.concat([Buffer.from([0x08]), varintBytes(n), Buffer.from([0x12]), varintBytes(Buffer.byteLength(msg)), Buffer.from(msg)]);
    return Buffer.concat([Buffer.from([0x0a]), varintBytes(inner.length), inner]);
  }
  if (o.respond === 'garbage') return isProto ? Buffer.from([0x0a, 0xff, 0xff]) : Buffer.from('<html>ok</html>');
  return isProto ? Buffer.alloc(0) : Buffer.from('{}');
}

function varintBytes(n) {
  const out = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return Buffer.from(out);
}

function answer(res, status, isProto, message, extraHeaders = {}) {
  let body;
  if (status === 200) body = okBody(isProto);
  else if (isProto) body = encodeStatusProto(GRPC[status] ?? 2, message);
  else body = Buffer.from(JSON.stringify({ code: GRPC[status] ?? 2, message }));
  res.writeHead(status, {
    'Content-Type': isProto ? 'application/x-protobuf' : 'application/json',
    'Content-Length': body.length,
    ...extraHeaders,
  });
  res.end(body);
}

function record(meta, body) {
  if (!o.record) return;
  const base = String(meta.seq).padStart(4, '0');
  writeFileSync(join(o.record, `${base}.body`), body);
  writeFileSync(join(o.record, `${base}.meta.json`), `${JSON.stringify(meta, null, 1)}\n`);
  appendFileSync(join(o.record, 'requests.jsonl'), `${JSON.stringify(meta)}\n`);
}

// ------------------------------------------------------------------ receiver

function onTraces(req, res) {
  const chunks = [];
  let size = 0;
  let tooBig = false;
  req.on('data', c => {
    size += c.length;
    if (size > MAX_BODY) tooBig = true;
    else chunks.push(c);
  });
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const ct = (req.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
    const isProto = ct !== 'application/json';
    const meta = {
      seq: seq++,
      time: new Date().toISOString(),
      method: req.method,
      path: req.url,
      httpVersion: req.httpVersion,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      bodyBytes: body.length,
      spans: 0,
    };
    let status = 200;
    let message = '';
    let spans = [];
    if (tooBig) {
      status = 413;
      message = `request body over ${MAX_BODY} bytes`;
    } else if (ct !== 'application/x-protobuf' && ct !== 'application/json') {
      status = 415;
      message = `unsupported content type ${req.headers['content-type']}`;
    } else {
      try {
        const decoded = decodeRequestBody(body, ct, req.headers['content-encoding']);
        spans = flattenSpans(decoded);
        meta.spans = spans.length;
        meta.traceIds = [...new Set(spans.map(s => s.traceId))];
      } catch (e) {
        status = /content-encoding/.test(e.message) ? 415 : 400;
        message = `body does not decode: ${e.message}`;
      }
    }
    const headers = {};
    if (status === 200 && failed < o.failCount && o.failStatus) {
      failed++;
      status = o.failStatus;
      message = `mock_server: failing on purpose (${failed} of ${o.failCount})`;
      if (o.retryAfter !== undefined) headers['Retry-After'] = o.retryAfter;
      spans = [];
    }
    if (status === 200) {
      const now = Date.now();
      for (const s of spans) {
        allSpans.push(s);
        lastArrival.set(s.traceId, now);
      }
    }
    meta.answer = status;
    if (message) meta.error = message;
    record(meta, body);
    setTimeout(() => answer(res, status, isProto, message, headers), o.delayMs);
  });
}

const receiver = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  if (path !== '/v1/traces') {
    req.resume();
    return answer(res, 404, false, `no such path ${path}`);
  }
  if (req.method !== 'POST') {
    req.resume();
    return answer(res, 405, false, `method ${req.method} not allowed`, { Allow: 'POST' });
  }
  onTraces(req, res);
});

// ------------------------------------------------------------------ query API

function sendJson(res, status, obj) {
  const body = Buffer.from(JSON.stringify(obj));
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': body.length });
  res.end(body);
}

const queryApi = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  if (req.method !== 'GET') return sendJson(res, 405, { error: 'method not allowed' });
  if (path === '/healthz') return sendJson(res, 200, { status: 'ok' });
  const r = analyze(allSpans);
  let m = /^\/api\/v1\/traces\/([0-9a-fA-F]{32})$/.exec(path);
  if (m) {
    const id = m[1].toLowerCase();
    const t = r.traces.find(x => x.trace_id === id);
    if (!t) return sendJson(res, 404, { error: `unknown trace ${id}` });
    const complete = Date.now() - lastArrival.get(id) >= o.idle * 1000;
    return sendJson(res, 200, { ...t, complete });
  }
  m = /^\/api\/v1\/chains\/([0-9a-fA-F]{32})$/.exec(path);
  if (m) {
    const id = m[1].toLowerCase();
    const c = r.chains.find(x => x.chain_id === id);
    return c ? sendJson(res, 200, c) : sendJson(res, 404, { error: `unknown chain ${id}` });
  }
  if (path === '/api/v1/edges') return sendJson(res, 200, r.edges);
  return sendJson(res, 404, { error: `no such path ${path}` });
});

// ------------------------------------------------------------------ start

function listen(server, hp) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(hp.port, hp.host, () => resolve(server.address()));
  });
}

const url = a => `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
try {
  const ra = await listen(receiver, hostPort(o.listen, '--listen'));
  const info = { listen: url(ra), api: null, record: o.record ?? null };
  if (o.api) info.api = url(await listen(queryApi, hostPort(o.api, '--api')));
  process.stdout.write(`${JSON.stringify(info)}\n`);
} catch (e) {
  process.stderr.write(`mock_server.mjs: cannot listen: ${e.message}\n`);
  process.exit(2);
}

function stop() {
  receiver.close();
  queryApi.close();
  receiver.closeAllConnections?.();
  queryApi.closeAllConnections?.();
  process.exit(0);
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
