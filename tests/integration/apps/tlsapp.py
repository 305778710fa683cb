"""tlsapp.py — an HTTPS server for the TLS tests (python's ssl module).

    /usr/bin/python3 tlsapp.py --port PORT --cert CERT --key KEY [--tls-max 1.2]

Prints "LISTENING <port>" once it accepts connections; exits cleanly on
SIGTERM or SIGINT. HTTP/1.1 over TLS, Content-Length on every response.
--tls-max 1.2: TLS 1.2 at the most (a server a client offering 1.3 must
settle with).

Routes:
  GET  /echo-headers   200, JSON list of [name, value] of the request's
                       headers, in order, duplicates kept
  POST /echo           200, JSON {"headers": [[name, value]...], "len": N,
                       "sha256": hex} of the request's body, read by its
                       Content-Length or chunked
  GET  /status/N       N, "status N"
"""

import hashlib
import json
import ssl
import sys
from http.server import ThreadingHTTPServer

sys.dont_write_bytecode = True  # keep the source tree clean
import _apphelp as ah  # noqa: E402  (this script's folder is on sys.path)


class Handler(ah.Handler):
    protocol_version = "HTTP/1.1"
    server_version = "tlsapp/1"

    def headers_list(self):
        return [[k, v] for k, v in self.headers.items()]

    def do_GET(self):
        if self.path == "/echo-headers":
            self.reply(200, json.dumps(self.headers_list()), "application/json")
        elif self.path.startswith("/status/"):
            code = int(self.path.split("/")[2])
            self.reply(code, "status %d" % code)
        else:
            self.reply(404, "no such route")

    def read_chunked(self):
        body = b""
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return body
            body += self.rfile.read(size)
            self.rfile.readline()  # the CRLF after the chunk

    def do_POST(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body = self.read_chunked()
        else:
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
        if self.path != "/echo":
            self.reply(404, "no such route")
            return
        self.reply(200, json.dumps({"headers": self.headers_list(), "len": len(body),
                                    "sha256": hashlib.sha256(body).hexdigest()}),
                   "application/json")


class Server(ThreadingHTTPServer):
    daemon_threads = True


def main():
    ap = ah.port_parser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--tls-max", choices=["1.2"])
    args = ap.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    if args.tls_max:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2

    class TLSServer(Server):
        def server_bind(self):
            super().server_bind()
            self.socket = ctx.wrap_socket(self.socket, server_side=True)

    ah.serve(TLSServer, Handler, args.port)


if __name__ == "__main__":
    main()
