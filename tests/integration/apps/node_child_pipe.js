// node_child_pipe.js — Node closes a traced connection the way libuv
// closes every fd (a close system call made through glibc's syscall
// function), then pipes text through a child, for test_hostile.py.
//
//     node node_child_pipe.js PORT
//
// GETs /before-child from 127.0.0.1:PORT on a connection of its own (closed
// once the answer is in), then runs `cat` with its stdin and stdout on
// socketpairs libuv makes (they take the closed connection's numbers),
// writes a request head into it and prints what comes back, exactly.
// Exit status 0, or 1 with the error on stderr.
'use strict';
const http = require('http');
const cp = require('child_process');

const HEAD = 'GET /not-a-request HTTP/1.1\r\nHost: local\r\n\r\n';

http.get({ host: '127.0.0.1', port: process.argv[2], path: '/before-child', agent: false },
  (res) => {
    res.resume();
    res.on('end', () => setTimeout(() => {
      const child = cp.spawn('cat', [], { stdio: ['pipe', 'pipe', 'inherit'] });
      const out = [];
      child.stdout.on('data', (d) => out.push(d));
      child.on('close', (code) => {
        process.stdout.write(Buffer.concat(out));
        process.exitCode = code;
      });
      child.stdin.end(HEAD);
    }, 50)); // the socket is closed once the response ended
  }).on('error', (e) => { console.error(e.message); process.exitCode = 1; });
