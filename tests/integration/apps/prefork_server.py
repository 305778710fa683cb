"""prefork_server.py — a pre-fork worker pool: the parent binds one listening
socket, forks WORKERS children that each accept and serve connections on it
in a loop (http.server.BaseHTTPRequestHandler on every accepted socket), and
waits for them.

    /usr/bin/python3 prefork_server.py --port PORT --workers N

HTTP/1.0 (one request per connection). Every GET answers 200 with the body
"<pid of the worker that served it> <path>\\n". Prints
"LISTENING <port> PID <parent pid> WORKERS <pid>,<pid>,..." once the socket
listens. On SIGTERM or SIGINT (the test stops the whole process group) each
worker finishes and leaves with os._exit(0); the parent waits for every
worker and exits 0 when all did, 1 otherwise.
"""

import os
import signal
import socket
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
import _apphelp as ah  # noqa: E402  (this script's folder is on sys.path)


class Handler(ah.PidPathHandler):
    server_version = "prefork/1"


def worker(lsock):
    """Accept and serve until SIGTERM; never returns."""
    status = 1
    try:
        ah.exit_on_signals()
        while True:
            conn, addr = lsock.accept()
            try:
                Handler(conn, addr, None)
            except Exception as e:  # one bad connection must not end the worker
                sys.stderr.write("worker %d: %r\n" % (os.getpid(), e))
            finally:
                try:
                    conn.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                conn.close()
    except SystemExit:
        status = 0
    finally:
        sys.stderr.flush()
        os._exit(status)


def main():
    ap = ah.port_parser()
    ap.add_argument("--workers", type=int, default=3)
    args = ap.parse_args()
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", args.port))
    lsock.listen(128)
    port = lsock.getsockname()[1]
    sys.stdout.flush()  # nothing buffered is copied into the workers
    pids = []
    for _ in range(args.workers):
        pid = os.fork()
        if pid == 0:
            worker(lsock)
        pids.append(pid)
    lsock.close()

    def forward(signum, frame):
        for p in pids:
            try:
                os.kill(p, signal.SIGTERM)
            except ProcessLookupError:
                pass
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    ah.say("LISTENING %d PID %d WORKERS %s" % (port, os.getpid(), ",".join(map(str, pids))))
    ok = True
    for p in pids:
        _, status = os.waitpid(p, 0)
        ok = ok and status == 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
