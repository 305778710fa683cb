"""file_server.py — a folder over HTTP/1.1, as python3 -m http.server serves
it but with keep-alive (so a client may pipeline its requests on one
connection): a local Debian repository for apt in test_matrix.py.

    /usr/bin/python3 file_server.py --port PORT FOLDER     (0: pick one)

SimpleHTTPRequestHandler: 200 with Content-Length and Last-Modified, 304
for an If-Modified-Since that is not older, 404 for a missing file; an
error keeps the connection open, as most servers do (http.server's own
send_error closes it), so that the requests pipelined behind a 404 are
answered on it. Prints "LISTENING <port>" once it accepts connections;
exits cleanly (status 0) on SIGTERM or SIGINT. No access log.
"""

import functools
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

sys.dont_write_bytecode = True  # keep the source tree clean
import _apphelp as ah  # noqa: E402  (this script's folder is on sys.path)


class Handler(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "file_server/1"
    sys_version = ""

    def log_message(self, fmt, *args):  # keep stderr for real problems
        pass

    def send_error(self, code, message=None, explain=None):
        body = b"%d %s\n" % (code, (message or self.responses[code][0]).encode())
        self.send_response(code, message)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True


def main():
    ap = ah.port_parser()
    ap.add_argument("folder")
    args = ap.parse_args()
    ah.serve(Server, functools.partial(Handler, directory=args.folder), args.port)


if __name__ == "__main__":
    main()
