// The five serverless-shaped scenarios send.mjs emits, and the figures each one
// determines (SPEC.md sections 2 and 3), worked out from the scenario's structure.
//
// A scenario is build(ctx) -> plan. ctx gives:
//   ctx.fn(name)          a "function": {name, tracer}, one TracerProvider whose Resource
//                         carries service.name = faas.name = name (with the --fn-prefix)
//   ctx.t(ms)             an HrTime at base + ms (explicit times: positive durations and
//                         a deterministic order, whatever the machine's speed)
//   ctx.span(fn, name, {kind, parent, links, attributes, start, end, error})
//                         starts and ends a span; parent is a span (same or other
//                         function: other functions get it as a remote parent) or
//                         undefined for a new trace (ROOT_CONTEXT)
// and plan = {traces: [...], chains: [...], edges: [...]} of expected objects. Trace
// objects need not carry start_unix_nano/duration_ns: send.mjs adds them from the spans.
//
// Figures are cross-checked in the self-test (selftest.mjs) by decoding what the
// exporter put on the wire and running an independent implementation of SPEC.md's
// rules (ref_analyze.mjs) on it; both were checked against the analyses in
// /work/shared/data/captures/manifest.json (same scenarios, same SDK).

import { SpanKind } from '@opentelemetry/api';

const LAMBDA_CLIENT = name => ({
  'faas.invoked_name': name,
  'faas.invoked_provider': 'aws',
  'faas.invoked_region': 'eu-west-1',
  'rpc.system': 'aws-api',
  'rpc.service': 'Lambda',
  'rpc.method': 'Invoke',
});

function trace(fields) {
  return { type: 'trace', ...fields };
}

function chainOf(traceIds, fields) {
  return { type: 'chain', chain_id: [...traceIds].sort()[0], traces: traceIds.length, ...fields };
}

function edge(caller, callee, kind, calls) {
  return { type: 'edge', caller, callee, kind, calls };
}

// fn-a -> fn-b -> fn-c -> fn-d, synchronous Lambda.Invoke calls, one trace.
function chain(ctx) {
  const N = 4;
  const fns = ['fn-a', 'fn-b', 'fn-c', 'fn-d'].map(n => ctx.fn(n));
  const names = fns.map(f => f.name);
  // Times: entry i spans [2i, 40-2i], its call site [2i+1, 40-2i-1].
  let parent;
  const spans = [];
  for (let i = 0; i < N; i++) {
    const entry = ctx.span(fns[i], `invoke ${names[i]}`, {
      kind: SpanKind.SERVER,
      parent,
      attributes: { 'faas.trigger': i === 0 ? 'http' : 'other', ...(i === 0 ? { 'http.route': '/orders' } : {}) },
      start: 2 * i, end: 40 - 2 * i, deferEnd: true,
    });
    spans.push(entry);
    if (i + 1 < N) {
      parent = ctx.span(fns[i], 'Lambda.Invoke', {
        kind: SpanKind.CLIENT, parent: entry, attributes: LAMBDA_CLIENT(names[i + 1]),
        start: 2 * i + 1, end: 40 - 2 * i - 1, deferEnd: true,
      });
      spans.push(parent);
    }
  }
  // End innermost first, as a real call stack would.
  for (const s of spans.reverse()) s.endNow();
  const traceId = spans[0].spanContext().traceId;
  const common = { invocations: N, depth: N, max_fanout: 1, retries: 0, max_recursion: 1, functions: names };
  return {
    traces: [trace({
      trace_id: traceId, chain_id: traceId, spans: 2 * N - 1, span_depth: 2 * N - 1, max_span_fanout: 1,
      ...common, errors: 0, root_function: names[0],
    })],
    chains: [chainOf([traceId], common)],
    edges: names.slice(0, -1).map((n, i) => edge(n, names[i + 1], 'sync', 1)),
  };
}

// fn-a calls fn-b 50 times from one invocation.
function fanout(ctx) {
  const N = 50;
  const a = ctx.fn('fn-a');
  const b = ctx.fn('fn-b');
  const root = ctx.span(a, `invoke ${a.name}`, {
    kind: SpanKind.SERVER, attributes: { 'faas.trigger': 'http', 'http.route': '/batch' },
    start: 0, end: 4 * N + 2, deferEnd: true,
  });
  for (let i = 0; i < N; i++) {
    const call = ctx.span(a, 'Lambda.Invoke', {
      kind: SpanKind.CLIENT, parent: root, attributes: LAMBDA_CLIENT(b.name),
      start: 4 * i + 1, end: 4 * i + 4, deferEnd: true,
    });
    ctx.span(b, `invoke ${b.name}`, {
      kind: SpanKind.SERVER, parent: call, attributes: { 'faas.trigger': 'other' },
      start: 4 * i + 2, end: 4 * i + 3,
    });
    call.endNow();
  }
  root.endNow();
  const traceId = root.spanContext().traceId;
  const names = [a.name, b.name];
  const common = { invocations: N + 1, depth: 2, max_fanout: N, retries: 0, max_recursion: 1, functions: names };
  return {
    traces: [trace({
      trace_id: traceId, chain_id: traceId, spans: 1 + 2 * N, span_depth: 3, max_span_fanout: N,
      ...common, errors: 0, root_function: a.name,
    })],
    chains: [chainOf([traceId], common)],
    edges: [edge(a.name, b.name, 'sync', N)],
  };
}

// fn-a calls fn-b 3 times: two failed attempts (status ERROR, HTTP 503 then 429), then
// one that succeeds. Each attempt reaches fn-b, whose SERVER span fails with it.
function retry(ctx) {
  const ATTEMPTS = 3;
  const FAILED = 2;
  const a = ctx.fn('fn-a');
  const b = ctx.fn('fn-b');
  const root = ctx.span(a, `invoke ${a.name}`, {
    kind: SpanKind.SERVER, attributes: { 'faas.trigger': 'http', 'http.route': '/pay' },
    start: 0, end: 5 * ATTEMPTS + 1, deferEnd: true,
  });
  const codes = [503, 429];
  for (let i = 0; i < ATTEMPTS; i++) {
    const failed = i < FAILED;
    const call = ctx.span(a, 'Lambda.Invoke', {
      kind: SpanKind.CLIENT, parent: root,
      attributes: { ...LAMBDA_CLIENT(b.name), 'http.response.status_code': failed ? codes[i % codes.length] : 200 },
      start: 5 * i + 1, end: 5 * i + 4, deferEnd: true,
      error: failed ? `Lambda.Invoke failed: HTTP ${codes[i % codes.length]}` : undefined,
    });
    ctx.span(b, `invoke ${b.name}`, {
      kind: SpanKind.SERVER, parent: call, attributes: { 'faas.trigger': 'other' },
      start: 5 * i + 2, end: 5 * i + 3,
      error: failed ? 'downstream unavailable' : undefined,
    });
    call.endNow();
  }
  root.endNow();
  const traceId = root.spanContext().traceId;
  const names = [a.name, b.name];
  const common = {
    invocations: 1 + ATTEMPTS, depth: 2, max_fanout: ATTEMPTS, retries: FAILED, max_recursion: 1, functions: names,
  };
  return {
    traces: [trace({
      trace_id: traceId, chain_id: traceId, spans: 1 + 2 * ATTEMPTS, span_depth: 3, max_span_fanout: ATTEMPTS,
      // errors: the failed CLIENT attempts and the fn-b SERVER spans under them
      ...common, errors: 2 * FAILED, root_function: a.name,
    })],
    chains: [chainOf([traceId], common)],
    edges: [edge(a.name, b.name, 'sync', ATTEMPTS)],
  };
}

// fn-a publishes to the "orders" queue; fn-b consumes it in a new trace, linked to the
// producer span.
function async_(ctx) {
  const a = ctx.fn('fn-a');
  const b = ctx.fn('fn-b');
  const root = ctx.span(a, `invoke ${a.name}`, {
    kind: SpanKind.SERVER, attributes: { 'faas.trigger': 'http', 'http.route': '/orders' },
    start: 0, end: 3, deferEnd: true,
  });
  const producer = ctx.span(a, 'publish orders', {
    kind: SpanKind.PRODUCER, parent: root,
    attributes: {
      'messaging.system': 'aws_sqs', 'messaging.destination.name': 'orders',
      'messaging.operation.type': 'send', 'messaging.operation.name': 'publish',
    },
    start: 1, end: 2,
  });
  root.endNow();
  const consumer = ctx.span(b, 'process orders', {
    kind: SpanKind.CONSUMER, parent: undefined, links: [producer],
    attributes: {
      'faas.trigger': 'pubsub', 'messaging.system': 'aws_sqs', 'messaging.destination.name': 'orders',
      'messaging.operation.type': 'process',
    },
    start: 5, end: 7,
  });
  const t1 = root.spanContext().traceId;
  const t2 = consumer.spanContext().traceId;
  const chainId = [t1, t2].sort()[0];
  return {
    traces: [
      trace({
        trace_id: t1, chain_id: chainId, spans: 2, span_depth: 2, max_span_fanout: 1, invocations: 1, depth: 1,
        max_fanout: 1, retries: 0, max_recursion: 1, errors: 0, functions: [a.name], root_function: a.name,
      }),
      trace({
        trace_id: t2, chain_id: chainId, spans: 1, span_depth: 1, max_span_fanout: 0, invocations: 1, depth: 1,
        max_fanout: 0, retries: 0, max_recursion: 1, errors: 0, functions: [b.name], root_function: b.name,
      }),
    ],
    chains: [chainOf([t1, t2], {
      invocations: 2, depth: 2, max_fanout: 1, retries: 0, max_recursion: 1, functions: [a.name, b.name],
    })],
    edges: [edge(a.name, b.name, 'async', 1)],
  };
}

// fn-a re-invokes itself through the "loop-q" queue: 20 traces; the first starts at an
// HTTP SERVER span, the others at a CONSUMER span linked to the previous trace's
// PRODUCER span; every invocation publishes once (the last message is never consumed).
function recursion(ctx) {
  const N = 20;
  const a = ctx.fn('fn-a');
  let prevProducer;
  const roots = [];
  for (let k = 0; k < N; k++) {
    const first = k === 0;
    const entry = ctx.span(a, first ? `invoke ${a.name}` : 'process loop-q', {
      kind: first ? SpanKind.SERVER : SpanKind.CONSUMER,
      parent: undefined,
      links: first ? [] : [prevProducer],
      attributes: first
        ? { 'faas.trigger': 'http', 'http.route': '/start' }
        : { 'faas.trigger': 'pubsub', 'messaging.system': 'aws_sqs', 'messaging.destination.name': 'loop-q', 'messaging.operation.type': 'process' },
      start: 5 * k, end: 5 * k + 3, deferEnd: true,
    });
    prevProducer = ctx.span(a, 'publish loop-q', {
      kind: SpanKind.PRODUCER, parent: entry,
      attributes: { 'messaging.system': 'aws_sqs', 'messaging.destination.name': 'loop-q', 'messaging.operation.type': 'send' },
      start: 5 * k + 1, end: 5 * k + 2,
    });
    entry.endNow();
    roots.push(entry);
  }
  const ids = roots.map(r => r.spanContext().traceId);
  const chainId = [...ids].sort()[0];
  return {
    traces: ids.map((id, k) => trace({
      trace_id: id, chain_id: chainId, spans: 2, span_depth: 2, max_span_fanout: 1, invocations: 1, depth: 1,
      // every invocation but the last one calls the next (a link edge into another trace)
      max_fanout: k < N - 1 ? 1 : 0,
      retries: 0, max_recursion: 1, errors: 0, functions: [a.name], root_function: a.name,
    })),
    chains: [chainOf(ids, {
      invocations: N, depth: N, max_fanout: 1, retries: 0, max_recursion: N, functions: [a.name],
    })],
    edges: [edge(a.name, a.name, 'async', N - 1)],
  };
}

export const SCENARIOS = { chain, fanout, retry, async: async_, recursion };
