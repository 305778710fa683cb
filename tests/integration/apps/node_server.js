// node_server.js — a Node `http` server the integration tests run under the shim.
//
//     node node_server.js [PORT]          (0 or absent: pick one)
//     node node_server.js PORT --cluster N
//
// Prints "LISTENING <port>" on stdout once it accepts connections; exits with
// status 0 on SIGTERM or SIGINT. With --cluster, a cluster primary and N
// workers (round-robin: the primary accepts each connection and hands it to
// a worker), "LISTENING" once every worker listens. HTTP/1.1 keep-alive, Content-Length on every
// response. One thread, non-blocking sockets, closes them with a raw
// syscall(SYS_close) (IO-PROFILE.md).
//
// Routes (GET):
//   /ok                      200 "ok"      (any query string is ignored)
//   /missing                 404 "missing"
//   /fail                    500 "fail"
//   /chunked?n=N             200, N chunks (Transfer-Encoding: chunked), N writes
//   /echo-headers            200, JSON list of [name, value] of the request's headers
//   /call?to=PORT&path=/x    GET http://127.0.0.1:PORT/x with http.get (keep-alive
//                            agent); 200 with JSON {"status": its status, "body": its body}
// POST /echo-body            200, the request body back
'use strict';
const cluster = require('cluster');
const http = require('http');

const workers = process.argv[3] === '--cluster' ? Number(process.argv[4]) : 0;
if (workers && cluster.isPrimary) {
  cluster.schedulingPolicy = cluster.SCHED_RR;
  let listening = 0;
  cluster.on('listening', (w, address) => {
    if (++listening === workers) process.stdout.write('LISTENING ' + address.port + '\n');
  });
  for (let i = 0; i < workers; i++) cluster.fork();
  // SIGTERM reaches the workers too (one process group): wait for them
  let exited = 0;
  cluster.on('exit', () => { if (++exited === workers) process.exit(0); });
  for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => {});
  return;
}

const agent = new http.Agent({ keepAlive: true });

function reply(res, status, body, ctype) {
  const b = Buffer.from(body);
  res.writeHead(status, { 'Content-Type': ctype || 'text/plain', 'Content-Length': b.length });
  res.end(b);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (!(url.pathname === '/echo-body' && req.method === 'POST')) req.resume();
  if (url.pathname === '/ok') return reply(res, 200, 'ok');
  if (url.pathname === '/missing') return reply(res, 404, 'missing');
  if (url.pathname === '/fail') return reply(res, 500, 'fail');
  if (url.pathname === '/chunked') {
    // Transfer-Encoding: chunked, several writes (head + first chunk in one call)
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    const n = Number(url.searchParams.get('n') || 3);
    for (let i = 0; i < n; i++) res.write('chunk ' + i + ' ' + 'x'.repeat(1000 * i) + '\n');
    return res.end();
  }
  if (url.pathname === '/echo-body' && req.method === 'POST') {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => reply(res, 200, Buffer.concat(chunks), 'application/octet-stream'));
    return undefined;
  }
  if (url.pathname === '/echo-headers') {
    const h = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) h.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
    return reply(res, 200, JSON.stringify(h), 'application/json');
  }
  if (url.pathname === '/call') {
    const port = Number(url.searchParams.get('to'));
    const path = url.searchParams.get('path') || '/ok';
    const down = http.get({ host: '127.0.0.1', port, path, agent, timeout: 10000 }, (r) => {
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
server.keepAliveTimeout = 30000;

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
server.listen(Number(process.argv[2] || 0), '127.0.0.1', 1024, () => {
  if (!cluster.isWorker) process.stdout.write('LISTENING ' + server.address().port + '\n');
});
