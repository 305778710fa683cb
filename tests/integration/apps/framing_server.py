"""framing_server.py — servers for the framing tests (run under the shim).

    /usr/bin/python3 framing_server.py --mode http|peek|smtp

Prints "LISTENING <port>" (127.0.0.1, a free port) once it accepts
connections; exits cleanly (status 0, destructors run) on SIGTERM.

--mode http   ThreadingHTTPServer, HTTP/1.1 keep-alive; responses carry no
              Date or Server header, so a test knows every byte:
  POST /expect        (Expect: 100-continue is answered "HTTP/1.1 100 Continue"
                      by http.server) reads the Content-Length body, 201 "created N"
  POST /chunked-in    reads a chunked body (extensions, trailers), 200 "got N"
  GET  /chunked       200, chunked with extensions and trailers
  HEAD /head          200, Content-Length: 1234, no body
  GET  /204           204
  GET  /304           304 with Content-Length: 100 (no body)
  GET  /103           103 Early Hints, then 200 "hinted"
  GET  /upgrade       101 Switching Protocols, then echoes every byte until EOF
  GET  anything else  200 "ok"
--mode peek   raw sockets, thread per connection, keep-alive: each request is
              peeked (recv MSG_PEEK) until its head is in view, then read with
              exactly its length, then its Content-Length body; answers 200 "ok"
--mode smtp   raw sockets: an SMTP-like server that speaks first (220 greeting,
              EHLO/MAIL/RCPT/DATA/QUIT)
"""

import argparse
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.dont_write_bytecode = True  # keep the source tree clean
import _apphelp as ah  # noqa: E402  (this script's folder is on sys.path)


CHUNKED_BODY = (b"5;ext=1\r\nhello\r\n" b'6;a="b c"\r\n world\r\n'
                b"0;last=yes\r\nX-Trailer: t1\r\nX-Looks: GET / HTTP/1.1\r\n\r\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def head_only(self, status, headers=()):
        self.send_response_only(status)
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()

    def reply(self, status, body, headers=()):
        self.head_only(status, list(headers) + [("Content-Length", str(len(body)))])
        self.wfile.write(body)

    def read_chunked(self):
        n = 0
        while True:
            line = self.rfile.readline()
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return n
            self.rfile.read(size)
            self.rfile.readline()
            n += size

    def do_POST(self):
        if self.path == "/expect":
            body = self.rfile.read(int(self.headers["Content-Length"]))
            self.reply(201, b"created %d" % len(body))
        elif self.path == "/chunked-in":
            self.reply(200, b"got %d" % self.read_chunked())
        else:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.reply(200, b"ok")

    def do_HEAD(self):
        self.head_only(200, [("Content-Type", "text/plain"), ("Content-Length", "1234")])

    def do_GET(self):
        if self.path == "/chunked":
            self.head_only(200, [("Transfer-Encoding", "chunked")])
            self.wfile.write(CHUNKED_BODY[:9])
            self.wfile.write(CHUNKED_BODY[9:])
        elif self.path == "/204":
            self.head_only(204, [("X-A", "b")])
        elif self.path == "/304":
            self.head_only(304, [("ETag", '"x"'), ("Content-Length", "100")])
        elif self.path == "/103":
            self.head_only(103, [("Link", "</s.css>; rel=preload")])
            self.reply(200, b"hinted")
        elif self.path == "/upgrade":
            self.head_only(101, [("Upgrade", "websocket"), ("Connection", "Upgrade")])
            while True:
                b = self.rfile.read1(65536)
                if not b:
                    break
                self.wfile.write(b)
            self.close_connection = True
        else:
            self.reply(200, b"ok")


def serve_threads(srv, handle):
    def loop():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(c,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()


def peek_conn(c):
    with c:
        while True:
            view = b""
            while b"\r\n\r\n" not in view:
                view = c.recv(65536, socket.MSG_PEEK)
                if not view:
                    return
                if b"\r\n\r\n" not in view:
                    threading.Event().wait(0.005)
            head_len = view.index(b"\r\n\r\n") + 4
            head = b""
            while len(head) < head_len:
                head += c.recv(head_len - len(head))
            length = 0
            for ln in head.split(b"\r\n")[1:]:
                name, _, value = ln.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = b""
            while len(body) < length:
                b = c.recv(length - len(body))
                if not b:
                    return
                body += b
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


def smtp_conn(c):
    with c:
        f = c.makefile("rb")
        c.sendall(b"220 framing.test ESMTP ready\r\n")
        while True:
            line = f.readline()
            if not line:
                return
            cmd = line[:4].upper()
            if cmd == b"EHLO":
                c.sendall(b"250-framing.test\r\n250-SIZE 1000000\r\n250 8BITMIME\r\n")
            elif cmd == b"DATA":
                c.sendall(b"354 end with <CRLF>.<CRLF>\r\n")
                while f.readline() not in (b".\r\n", b""):
                    pass
                c.sendall(b"250 queued as 42\r\n")
            elif cmd == b"QUIT":
                c.sendall(b"221 bye\r\n")
                return
            else:
                c.sendall(b"250 OK\r\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=("http", "peek", "smtp"), required=True)
    a = ap.parse_args()
    ah.exit_on_signals()
    if a.mode == "http":
        srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        srv.daemon_threads = True
        port = srv.server_address[1]
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
    else:
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)
        port = srv.getsockname()[1]
        serve_threads(srv, peek_conn if a.mode == "peek" else smtp_conn)
    sys.stdout.write("LISTENING %d\n" % port)
    sys.stdout.flush()
    try:
        while True:
            signal.pause()
    except SystemExit:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
