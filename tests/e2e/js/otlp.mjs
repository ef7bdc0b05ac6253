// Decoding of OTLP/HTTP trace request bodies for the self-test (mock_server.mjs,
// selftest.mjs). Node built-ins only: the protobuf decoder is a small hand-written
// wire-format reader for the ExportTraceServiceRequest messages of
// opentelemetry-proto (field numbers as in proto/opentelemetry/proto/trace/v1/trace.proto).
//
// Both decoders produce the same shape, the OTLP JSON mapping (hex ids, lowerCamelCase,
// enums as integers, 64-bit integers as decimal strings), so that flattenSpans() and
// the reference analysis see one representation whatever the wire encoding was.

import { gunzipSync } from 'node:zlib';

// ---------------------------------------------------------------- protobuf reader

class Reader {
  constructor(buf, start = 0, end = buf.length) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }
  eof() {
    return this.pos >= this.end;
  }
  varint() {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.end) throw new Error('protobuf: truncated varint');
      const b = this.buf[this.pos++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) break;
      shift += 7n;
      if (shift > 63n) throw new Error('protobuf: varint too long');
    }
    return result;
  }
  fixed64() {
    if (this.pos + 8 > this.end) throw new Error('protobuf: truncated fixed64');
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }
  fixed32() {
    if (this.pos + 4 > this.end) throw new Error('protobuf: truncated fixed32');
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  bytes() {
    const len = Number(this.varint());
    if (this.pos + len > this.end) throw new Error('protobuf: truncated length-delimited field');
    const start = this.pos;
    this.pos += len;
    return [start, this.pos];
  }
  // Iterates the fields of the message in [pos, end): calls fn(fieldNumber, wireType).
  // fn must consume the value (through one of the readers above) or return false to skip it.
  fields(fn) {
    while (!this.eof()) {
      const tag = Number(this.varint());
      const field = tag >>> 3;
      const wire = tag & 7;
      if (field === 0) throw new Error('protobuf: field number 0');
      if (fn(field, wire) === false) this.skip(wire);
    }
  }
  skip(wire) {
    switch (wire) {
      case 0: this.varint(); break;
      case 1: this.pos += 8; break;
      case 2: this.bytes(); break;
      case 5: this.pos += 4; break;
      default: throw new Error(`protobuf: unsupported wire type ${wire}`);
    }
    if (this.pos > this.end) throw new Error('protobuf: truncated field');
  }
  sub(range) {
    return new Reader(this.buf, range[0], range[1]);
  }
  str(range) {
    return this.buf.toString('utf8', range[0], range[1]);
  }
  hex(range) {
    return this.buf.toString('hex', range[0], range[1]);
  }
}

function expectWire(field, wire, want, what) {
  if (wire !== want) throw new Error(`protobuf: ${what} field ${field} has wire type ${wire}, want ${want}`);
}

function decodeAnyValue(r) {
  const v = {};
  r.fields((f, w) => {
    switch (f) {
      case 1: expectWire(f, w, 2, 'AnyValue'); v.stringValue = r.str(r.bytes()); return true;
      case 2: expectWire(f, w, 0, 'AnyValue'); v.boolValue = r.varint() !== 0n; return true;
      case 3: expectWire(f, w, 0, 'AnyValue'); v.intValue = BigInt.asIntN(64, r.varint()).toString(); return true;
      case 4: {
        expectWire(f, w, 1, 'AnyValue');
        const b = Buffer.alloc(8);
        b.writeBigUInt64LE(r.fixed64());
        v.doubleValue = b.readDoubleLE(0);
        return true;
      }
      case 5: {
        expectWire(f, w, 2, 'AnyValue');
        const arr = r.sub(r.bytes());
        const values = [];
        arr.fields((f2, w2) => {
          if (f2 !== 1) return false;
          expectWire(f2, w2, 2, 'ArrayValue');
          values.push(decodeAnyValue(arr.sub(arr.bytes())));
          return true;
        });
        v.arrayValue = { values };
        return true;
      }
      case 6: {
        expectWire(f, w, 2, 'AnyValue');
        v.kvlistValue = { values: decodeKeyValues(r.sub(r.bytes())) };
        return true;
      }
      case 7: expectWire(f, w, 2, 'AnyValue'); v.bytesValue = Buffer.from(r.buf.subarray(...r.bytes())).toString('base64'); return true;
      default: return false;
    }
  });
  return v;
}

function decodeKeyValue(r) {
  const kv = { key: '', value: {} };
  r.fields((f, w) => {
    if (f === 1) { expectWire(f, w, 2, 'KeyValue'); kv.key = r.str(r.bytes()); return true; }
    if (f === 2) { expectWire(f, w, 2, 'KeyValue'); kv.value = decodeAnyValue(r.sub(r.bytes())); return true; }
    return false;
  });
  return kv;
}

// A KeyValueList body: repeated KeyValue values = 1.
function decodeKeyValues(r) {
  const out = [];
  r.fields((f, w) => {
    if (f !== 1) return false;
    expectWire(f, w, 2, 'KeyValueList');
    out.push(decodeKeyValue(r.sub(r.bytes())));
    return true;
  });
  return out;
}

function decodeLink(r) {
  const l = { traceId: '', spanId: '', attributes: [] };
  r.fields((f, w) => {
    switch (f) {
      case 1: expectWire(f, w, 2, 'Link'); l.traceId = r.hex(r.bytes()); return true;
      case 2: expectWire(f, w, 2, 'Link'); l.spanId = r.hex(r.bytes()); return true;
      case 3: expectWire(f, w, 2, 'Link'); l.traceState = r.str(r.bytes()); return true;
      case 4: expectWire(f, w, 2, 'Link'); l.attributes.push(decodeKeyValue(r.sub(r.bytes()))); return true;
      case 5: expectWire(f, w, 0, 'Link'); l.droppedAttributesCount = Number(r.varint()); return true;
      case 6: expectWire(f, w, 5, 'Link'); l.flags = r.fixed32(); return true;
      default: return false;
    }
  });
  return l;
}

function decodeStatus(r) {
  const s = {};
  r.fields((f, w) => {
    if (f === 2) { expectWire(f, w, 2, 'Status'); s.message = r.str(r.bytes()); return true; }
    if (f === 3) { expectWire(f, w, 0, 'Status'); s.code = Number(r.varint()); return true; }
    return false;
  });
  return s;
}

function decodeSpan(r) {
  const s = { traceId: '', spanId: '', name: '', kind: 0, attributes: [], events: [], links: [], status: {} };
  r.fields((f, w) => {
    switch (f) {
      case 1: expectWire(f, w, 2, 'Span'); s.traceId = r.hex(r.bytes()); return true;
      case 2: expectWire(f, w, 2, 'Span'); s.spanId = r.hex(r.bytes()); return true;
      case 3: expectWire(f, w, 2, 'Span'); s.traceState = r.str(r.bytes()); return true;
      case 4: expectWire(f, w, 2, 'Span'); s.parentSpanId = r.hex(r.bytes()); return true;
      case 5: expectWire(f, w, 2, 'Span'); s.name = r.str(r.bytes()); return true;
      case 6: expectWire(f, w, 0, 'Span'); s.kind = Number(r.varint()); return true;
      case 7: expectWire(f, w, 1, 'Span'); s.startTimeUnixNano = r.fixed64().toString(); return true;
      case 8: expectWire(f, w, 1, 'Span'); s.endTimeUnixNano = r.fixed64().toString(); return true;
      case 9: expectWire(f, w, 2, 'Span'); s.attributes.push(decodeKeyValue(r.sub(r.bytes()))); return true;
      case 10: expectWire(f, w, 0, 'Span'); s.droppedAttributesCount = Number(r.varint()); return true;
      case 11: expectWire(f, w, 2, 'Span'); r.bytes(); s.events.push({}); return true; // events: not needed
      case 12: expectWire(f, w, 0, 'Span'); s.droppedEventsCount = Number(r.varint()); return true;
      case 13: expectWire(f, w, 2, 'Span'); s.links.push(decodeLink(r.sub(r.bytes()))); return true;
      case 14: expectWire(f, w, 0, 'Span'); s.droppedLinksCount = Number(r.varint()); return true;
      case 15: expectWire(f, w, 2, 'Span'); s.status = decodeStatus(r.sub(r.bytes())); return true;
      case 16: expectWire(f, w, 5, 'Span'); s.flags = r.fixed32(); return true;
      default: return false;
    }
  });
  return s;
}

function decodeScope(r) {
  const sc = {};
  r.fields((f, w) => {
    if (f === 1) { expectWire(f, w, 2, 'InstrumentationScope'); sc.name = r.str(r.bytes()); return true; }
    if (f === 2) { expectWire(f, w, 2, 'InstrumentationScope'); sc.version = r.str(r.bytes()); return true; }
    return false;
  });
  return sc;
}

function decodeScopeSpans(r) {
  const ss = { scope: {}, spans: [] };
  r.fields((f, w) => {
    if (f === 1) { expectWire(f, w, 2, 'ScopeSpans'); ss.scope = decodeScope(r.sub(r.bytes())); return true; }
    if (f === 2) { expectWire(f, w, 2, 'ScopeSpans'); ss.spans.push(decodeSpan(r.sub(r.bytes()))); return true; }
    if (f === 3) { expectWire(f, w, 2, 'ScopeSpans'); ss.schemaUrl = r.str(r.bytes()); return true; }
    return false;
  });
  return ss;
}

function decodeResource(r) {
  const res = { attributes: [] };
  r.fields((f, w) => {
    if (f === 1) { expectWire(f, w, 2, 'Resource'); res.attributes.push(decodeKeyValue(r.sub(r.bytes()))); return true; }
    if (f === 2) { expectWire(f, w, 0, 'Resource'); res.droppedAttributesCount = Number(r.varint()); return true; }
    return false;
  });
  return res;
}

function decodeResourceSpans(r) {
  const rs = { resource: { attributes: [] }, scopeSpans: [] };
  r.fields((f, w) => {
    if (f === 1) { expectWire(f, w, 2, 'ResourceSpans'); rs.resource = decodeResource(r.sub(r.bytes())); return true; }
    if (f === 2) { expectWire(f, w, 2, 'ResourceSpans'); rs.scopeSpans.push(decodeScopeSpans(r.sub(r.bytes()))); return true; }
    if (f === 3) { expectWire(f, w, 2, 'ResourceSpans'); rs.schemaUrl = r.str(r.bytes()); return true; }
    return false;
  });
  return rs;
}

/** Decodes a binary ExportTraceServiceRequest into the OTLP JSON mapping. */
export function decodeProtobufRequest(buf) {
  const r = new Reader(buf);
  const req = { resourceSpans: [] };
  r.fields((f, w) => {
    if (f !== 1) return false;
    expectWire(f, w, 2, 'ExportTraceServiceRequest');
    req.resourceSpans.push(decodeResourceSpans(r.sub(r.bytes())));
    return true;
  });
  return req;
}

// ---------------------------------------------------------------- common

/**
 * Decodes one request body. contentType: the request's Content-Type; encoding: its
 * Content-Encoding (gzip or identity/empty). Returns the request in the OTLP JSON mapping.
 * Throws with a short message for bodies that do not decode.
 */
export function decodeRequestBody(body, contentType, encoding) {
  let raw = body;
  const enc = (encoding || 'identity').trim().toLowerCase();
  if (enc === 'gzip') raw = gunzipSync(body);
  else if (enc !== 'identity' && enc !== '') throw new Error(`unsupported content-encoding ${encoding}`);
  const ct = (contentType || '').split(';')[0].trim().toLowerCase();
  if (ct === 'application/x-protobuf') return decodeProtobufRequest(raw);
  if (ct === 'application/json') return JSON.parse(raw.toString('utf8'));
  throw new Error(`unsupported content-type ${contentType}`);
}

/** The plain value of an OTLP AnyValue (JSON mapping). */
export function anyValue(v) {
  if (v == null) return undefined;
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return Number(v.doubleValue);
  if ('arrayValue' in v) return (v.arrayValue.values || []).map(anyValue);
  if ('kvlistValue' in v) return attrMap(v.kvlistValue.values);
  if ('bytesValue' in v) return v.bytesValue;
  return undefined;
}

export function attrMap(kvs) {
  const m = {};
  for (const kv of kvs || []) m[kv.key] = anyValue(kv.value);
  return m;
}

const KIND_BY_NAME = {
  SPAN_KIND_UNSPECIFIED: 0, SPAN_KIND_INTERNAL: 1, SPAN_KIND_SERVER: 2,
  SPAN_KIND_CLIENT: 3, SPAN_KIND_PRODUCER: 4, SPAN_KIND_CONSUMER: 5,
};

/**
 * Flattens a request (OTLP JSON mapping) into plain span records:
 * {traceId, spanId, parentSpanId, name, kind (int), start, end (BigInt ns),
 *  statusCode (int), attrs, resource (attribute maps), links: [{traceId, spanId}]}.
 */
export function flattenSpans(req) {
  const out = [];
  for (const rs of req.resourceSpans || []) {
    const resource = attrMap(rs.resource && rs.resource.attributes);
    for (const ss of rs.scopeSpans || []) {
      for (const s of ss.spans || []) {
        const kind = typeof s.kind === 'string' ? (KIND_BY_NAME[s.kind] ?? 0) : (s.kind ?? 0);
        out.push({
          traceId: (s.traceId || '').toLowerCase(),
          spanId: (s.spanId || '').toLowerCase(),
          parentSpanId: (s.parentSpanId || '').toLowerCase(),
          name: s.name || '',
          kind,
          start: BigInt(s.startTimeUnixNano ?? 0),
          end: BigInt(s.endTimeUnixNano ?? 0),
          statusCode: (s.status && s.status.code) || 0,
          statusMessage: (s.status && s.status.message) || '',
          attrs: attrMap(s.attributes),
          resource,
          scope: ss.scope || {},
          links: (s.links || []).map(l => ({
            traceId: (l.traceId || '').toLowerCase(),
            spanId: (l.spanId || '').toLowerCase(),
            attrs: attrMap(l.attributes),
          })),
        });
      }
    }
  }
  return out;
}

export const SpanKindName = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
