// otel_service.js — a Node service instrumented with the OpenTelemetry JS SDK
// (NOT with the shim): @opentelemetry/sdk-trace-node, instrumentation-http and
// the B3 propagator (B3 multi, what the shim injects by default). The B3
// interop row of test_matrix.py puts it in the middle of a traced chain.
//
//     NODE_PATH=$TRACESHIM_PEERS/node_modules node otel_service.js SPANS_FILE [PORT]
//
// Prints "LISTENING <port>" once it accepts connections; exits with status 0
// on SIGTERM or SIGINT. Every span the SDK finishes is appended to SPANS_FILE
// at once (SimpleSpanProcessor) as one JSON line:
//   {"traceId", "spanId", "parentSpanId" (null for a root), "name",
//    "kind" (OTLP numbering: 2 SERVER, 3 CLIENT), "status" (http status code)}
//
// Routes (GET):
//   /ok                      200 "ok"
//   /call?to=PORT&path=/x    GET http://127.0.0.1:PORT/x; 200 with JSON
//                            {"status": its status, "body": its body}
'use strict';
const fs = require('fs');
const api = require('@opentelemetry/api');
const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
const { B3Propagator, B3InjectEncoding } = require('@opentelemetry/propagator-b3');

const spansFile = process.argv[2];
if (!spansFile) {
  process.stderr.write('usage: otel_service.js SPANS_FILE [PORT]\n');
  process.exit(2);
}

// OTel JS numbers kinds INTERNAL 0, SERVER 1, CLIENT 2, ...; OTLP adds one.
const fileExporter = {
  export(spans, done) {
    const lines = spans.map((s) => {
      const a = s.attributes;
      const parent = s.parentSpanContext;
      return JSON.stringify({
        traceId: s.spanContext().traceId,
        spanId: s.spanContext().spanId,
        parentSpanId: parent && parent.spanId ? parent.spanId : null,
        name: s.name,
        kind: s.kind + 1,
        status: a['http.response.status_code'] !== undefined
          ? a['http.response.status_code'] : a['http.status_code'],
      }) + '\n';
    });
    try {
      fs.appendFileSync(spansFile, lines.join(''));
      done({ code: 0 });
    } catch (e) {
      done({ code: 1, error: e });
    }
  },
  shutdown() { return Promise.resolve(); },
  forceFlush() { return Promise.resolve(); },
};

const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ 'service.name': 'otel-node' }),
  spanProcessors: [new SimpleSpanProcessor(fileExporter)],
});
provider.register({ propagator: new B3Propagator({ injectEncoding: B3InjectEncoding.MULTI_HEADER }) });
registerInstrumentations({ tracerProvider: provider, instrumentations: [new HttpInstrumentation()] });

// Only now: the instrumentation patches `http` as it is loaded.
const http = require('http');

function reply(res, status, body, ctype) {
  const b = Buffer.from(body);
  res.writeHead(status, { 'Content-Type': ctype || 'text/plain', 'Content-Length': b.length });
  res.end(b);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  req.resume();
  if (url.pathname === '/ok') return reply(res, 200, 'ok');
  if (url.pathname === '/call') {
    const port = Number(url.searchParams.get('to'));
    const path = url.searchParams.get('path') || '/ok';
    const down = http.get({ host: '127.0.0.1', port, path, timeout: 10000 }, (r) => {
      const chunks = [];
      r.on('data', (c) => chunks.push(c));
      r.on('end', () => reply(res, 200, JSON.stringify(
        { status: r.statusCode, body: Buffer.concat(chunks).toString() }), 'application/json'));
    });
    down.on('timeout', () => down.destroy(new Error('downstream timeout')));
    down.on('error', (e) => reply(res, 502, 'downstream: ' + e.message));
    return undefined;
  }
  return reply(res, 404, 'no such route');
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => provider.shutdown().finally(() => process.exit(0)));
}
server.listen(Number(process.argv[3] || 0), '127.0.0.1', () => {
  process.stdout.write('LISTENING ' + server.address().port + '\n');
});
