'use strict';
// bench/node/server.js — the server of the Node peer comparison
// (bench/node/README.md): a plain `http` server, no framework, that answers
// every request 200 with a 3-byte body on keep-alive connections.
//
//   node server.js PORT_FILE [PORT [MAX_SECONDS]]
//
// Listens on 127.0.0.1, on PORT or a port the kernel picks (0, the default),
// and writes the port it got into PORT_FILE once it accepts connections
// (written to a temporary name and renamed, so a reader never sees half a
// number). MAX_SECONDS (default 600) bounds its life even if whoever started
// it dies: then it stops as on SIGTERM.
// SIGTERM or SIGINT: stop listening, drop the idle keep-alive connections,
// let a tracing SDK loaded with --require flush (bounded, see otel.js), then
// process.exit(0), so that exit hooks run (traceshim's flush and stats line
// run at exit).

const fs = require('fs');
const http = require('http');

const [portFile, portArg, maxSecondsArg] = process.argv.slice(2);
if (!portFile) {
    process.stderr.write('usage: node server.js PORT_FILE [PORT [MAX_SECONDS]]\n');
    process.exit(2);
}
const port = portArg === undefined ? 0 : Number(portArg);
if (!/^[0-9]+$/.test(String(port)) || port > 65535) {
    process.stderr.write(`server.js: bad port '${portArg}'\n`);
    process.exit(2);
}
const maxSeconds = maxSecondsArg === undefined ? 600 : Number(maxSecondsArg);
if (!(maxSeconds > 0 && maxSeconds <= 86400)) {
    process.stderr.write(`server.js: bad MAX_SECONDS '${maxSecondsArg}'\n`);
    process.exit(2);
}

const BODY = Buffer.from('ok\n');
const HEADERS = {
    'Content-Type': 'text/plain',
    'Content-Length': String(BODY.length),
};

const server = http.createServer((req, res) => {
    // Read (and discard) any request body so the connection stays usable.
    req.resume();
    res.writeHead(200, HEADERS);
    res.end(BODY);
});
// wrk keeps its connections busy; a long idle timeout only matters between
// the benchmark's start and wrk's first request.
server.keepAliveTimeout = 60000;

server.on('error', (err) => {
    process.stderr.write(`server.js: ${err.message}\n`);
    process.exit(1);
});

server.listen(port, '127.0.0.1', () => {
    const tmp = `${portFile}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, `${server.address().port}\n`);
    fs.renameSync(tmp, portFile);
});

// A tracing SDK loaded with --require (otel.js) leaves an async function
// here that flushes its spans; this file works without it.
const SHUTDOWN_HOOK = Symbol.for('traceshim.bench.node.shutdown');
const FLUSH_LIMIT_MS = 3000;

let stopping = false;
async function stop(signal) {
    if (stopping) return;
    stopping = true;
    server.close();
    server.closeAllConnections();
    const hook = globalThis[SHUTDOWN_HOOK];
    if (typeof hook === 'function') {
        let timer;
        const limit = new Promise((resolve) => {
            timer = setTimeout(() => {
                process.stderr.write(`server.js: tracing flush still running after ${FLUSH_LIMIT_MS} ms (${signal}); exiting\n`);
                resolve();
            }, FLUSH_LIMIT_MS);
        });
        try {
            await Promise.race([Promise.resolve().then(hook), limit]);
        } catch (err) {
            process.stderr.write(`server.js: tracing flush failed: ${err && err.message}\n`);
        }
        clearTimeout(timer);
    }
    process.exit(0);
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
setTimeout(() => {
    process.stderr.write(`server.js: ${maxSeconds} s are up; stopping\n`);
    stop('MAX_SECONDS');
}, maxSeconds * 1000).unref();
