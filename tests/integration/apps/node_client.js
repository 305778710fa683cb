// node_client.js — a Node `http` client for the integration tests.
//
//     node node_client.js URL...
//
// GETs each URL in turn through one keep-alive agent (one connection when the
// server keeps it open) and prints "<status> <body>" per URL on stdout.
// Exit status 0, or 1 with the error on stderr.
'use strict';
const http = require('http');

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function get(url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, timeout: 10000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve([res.statusCode, Buffer.concat(chunks).toString()]));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

(async () => {
  for (const url of process.argv.slice(2)) {
    const [status, body] = await get(url);
    process.stdout.write(status + ' ' + body + '\n');
  }
  agent.destroy();
})().catch((e) => {
  process.stderr.write('node_client: ' + e.message + '\n');
  process.exit(1);
});
