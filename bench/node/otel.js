'use strict';
// bench/node/otel.js — the OpenTelemetry JS SDK set up for tracing only, as
// its documentation describes for a Node program, for the "otel-sdk" mode of
// the peer comparison (bench/node/README.md):
//
//   node --require ./otel.js server.js PORT_FILE
//
// It is loaded before server.js so that the http instrumentation patches the
// `http` module before the server requires it.
//
// What it sets up, chosen to match what traceshim does in the "traceshim"
// mode of the same benchmark:
//   - NodeTracerProvider with AlwaysOnSampler: every span is recorded and
//     exported (traceshim runs with OTEL_TRACES_SAMPLER=always_on);
//   - a BatchSpanProcessor with the SDK's defaults (queue 2048 spans, batches
//     of 512, every 5000 ms, 30000 ms per export; the OTEL_BSP_* variables
//     still apply). These are also traceshim's defaults, so neither side is
//     tuned. As in traceshim, a span that finds the queue full is dropped;
//   - the OTLP exporter over HTTP with protobuf bodies, to
//     OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else
//     ${OTEL_EXPORTER_OTLP_ENDPOINT}/v1/traces, else the SDK's default;
//   - the B3 propagator, multi-header encoding (X-B3-TraceId, X-B3-SpanId,
//     X-B3-Sampled), which is traceshim's default B3 form (b3multi). It
//     extracts both the multi-header and the single `b3` header;
//   - the http instrumentation with its defaults;
//   - service.name "bench-node" on the SDK's default resource.
//
// Counting. The SDK drops spans silently (a debug line, then one warning with
// a count once a span gets in again), so the exporter is wrapped to count what
// it delivered, and the processor to count the sampled spans that ended. At
// shutdown one line goes to stderr:
//
//   otel-sdk spans ended=N exported=E export_failed=F dropped=D
//
// where dropped = ended - exported - export_failed: spans that never reached
// the exporter (queue full, or still queued when the flush at shutdown ran
// out of time).

const { diag, DiagLogLevel, TraceFlags } = require('@opentelemetry/api');
const { ExportResultCode } = require('@opentelemetry/core');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { B3Propagator, B3InjectEncoding } = require('@opentelemetry/propagator-b3');
const { defaultResource, resourceFromAttributes } = require('@opentelemetry/resources');
const {
    NodeTracerProvider,
    BatchSpanProcessor,
    AlwaysOnSampler,
} = require('@opentelemetry/sdk-trace-node');

const counts = { ended: 0, exported: 0, exportFailed: 0, droppedWarned: 0 };

// The SDK's own warnings and errors go to stderr (exporter failures among
// them), each distinct message once; repeats are counted and summed up at
// shutdown, so a receiver that upsets the exporter on every export does not
// turn into a stream of writes. The "Dropped N spans" warning is counted.
const repeats = new Map(); // first 120 characters -> { level, text, times }
function diagLine(level, msg, args) {
    const text = [msg, ...args.map(String)].join(' ').replace(/\s+/g, ' ').trim();
    let key = `${level}: ${text.slice(0, 120)}`;
    if (!repeats.has(key) && repeats.size >= 64) key = `${level}: (other messages)`;
    const entry = repeats.get(key);
    if (entry) {
        entry.times++;
        return;
    }
    repeats.set(key, { level, text, times: 1 });
    process.stderr.write(`otel-sdk: ${level}: ${text}\n`);
}
diag.setLogger({
    error: (msg, ...args) => diagLine('error', msg, args),
    warn: (msg, ...args) => {
        const m = /^Dropped (\d+) spans/.exec(msg);
        if (m) counts.droppedWarned += Number(m[1]);
        else diagLine('warn', msg, args);
    },
    info: () => {},
    debug: () => {},
    verbose: () => {},
}, DiagLogLevel.WARN);

function tracesUrl() {
    const env = process.env;
    if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
    if (env.OTEL_EXPORTER_OTLP_ENDPOINT) return env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '') + '/v1/traces';
    return undefined; // the exporter's default (localhost:4318)
}

// The exporter, wrapped only to count: every call goes straight through.
const otlp = new OTLPTraceExporter({ url: tracesUrl() });
const countingExporter = {
    export(spans, resultCallback) {
        otlp.export(spans, (result) => {
            if (result.code === ExportResultCode.SUCCESS) counts.exported += spans.length;
            else counts.exportFailed += spans.length;
            resultCallback(result);
        });
    },
    shutdown: () => otlp.shutdown(),
    forceFlush: () => otlp.forceFlush(),
};

// The batch processor, subclassed only to count the sampled spans it is
// handed (one integer add per span).
class CountingBatchSpanProcessor extends BatchSpanProcessor {
    onEnd(span) {
        if (span.spanContext().traceFlags & TraceFlags.SAMPLED) counts.ended++;
        super.onEnd(span);
    }
}

const provider = new NodeTracerProvider({
    resource: defaultResource().merge(resourceFromAttributes({ 'service.name': 'bench-node' })),
    sampler: new AlwaysOnSampler(),
    spanProcessors: [new CountingBatchSpanProcessor(countingExporter)],
});
provider.register({
    propagator: new B3Propagator({ injectEncoding: B3InjectEncoding.MULTI_HEADER }),
});
registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [new HttpInstrumentation()],
});

let reported = false;
function report() {
    if (reported) return;
    reported = true;
    for (const { level, text, times } of repeats.values()) {
        if (times > 1) process.stderr.write(`otel-sdk: ${level} seen ${times} times in all: ${text.slice(0, 80)}...\n`);
    }
    const dropped = counts.ended - counts.exported - counts.exportFailed;
    process.stderr.write(`otel-sdk spans ended=${counts.ended} exported=${counts.exported} ` +
        `export_failed=${counts.exportFailed} dropped=${dropped} ` +
        `(queue_full_warned=${counts.droppedWarned})\n`);
}

// server.js calls this on SIGTERM (and bounds it to about 3 s); the
// provider's shutdown flushes the queue through the exporter.
globalThis[Symbol.for('traceshim.bench.node.shutdown')] = async () => {
    try {
        await provider.shutdown();
    } finally {
        report();
    }
};
// A flush that ran out of time still leaves its counts.
process.on('exit', report);
