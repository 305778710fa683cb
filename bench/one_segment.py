"""one_segment.py — what a client's one write of several messages costs
when the shim sends them in several calls, on a socket with Nagle's
algorithm on (no TCP_NODELAY), against a server that answers each read.

    python3 bench/one_segment.py [LIB]     (no LIB: untraced)

The client (python3, run under LD_PRELOAD=LIB with a span file in a
temporary folder) sends, 60 times on one connection, either two pipelined
GET heads in one sendall, or a blank line and a GET head in one sendall
(as clients that end a body with an extra CRLF do), and reads the
answers; the server (this process, untraced) reads, answers every whole
head it has in one sendall. Prints the median and the largest round trip
of each case. Loopback only; about a second a case, or 3 s when each
round trip meets a delayed acknowledgement.
"""

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
CLIENT = r"""
import socket, statistics, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
req = b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n"
payload, answers = (req + req, 2) if sys.argv[2] == "pipelined" else (b"\r\n" + req, 1)
want = answers * int(sys.argv[3])
rtts = []
for _ in range(60):
    t = time.monotonic()
    s.sendall(payload)
    got = 0
    while got < want:
        got += len(s.recv(65536))
    rtts.append((time.monotonic() - t) * 1e3)
print("median %.3f ms, largest %.3f ms" % (statistics.median(rtts), max(rtts)))
"""


def serve(listener):
    conn, _ = listener.accept()
    buf = b""
    with conn:
        while True:
            data = conn.recv(65536)
            if not data:
                return
            buf += data
            out = b""
            while b"\r\n\r\n" in buf:
                buf = buf[buf.index(b"\r\n\r\n") + 4:]
                out += RESPONSE
            if out:
                conn.sendall(out)


def main():
    lib = sys.argv[1] if len(sys.argv) > 1 else ""
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, TRACESHIM_FILE=os.path.join(tmp, "spans.jsonl"))
        if lib:
            env["LD_PRELOAD"] = os.path.abspath(lib)
        for case in ("pipelined", "blank-line"):
            listener = socket.socket()
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            server = threading.Thread(target=serve, args=(listener,), daemon=True)
            server.start()
            out = subprocess.run([sys.executable, "-c", CLIENT, str(listener.getsockname()[1]),
                                  case, str(len(RESPONSE))],
                                 env=env, capture_output=True, text=True, timeout=60)
            server.join(10)
            listener.close()
            print("%-10s %s %s" % (case, lib or "untraced", out.stdout.strip() or out.stderr))


if __name__ == "__main__":
    main()
