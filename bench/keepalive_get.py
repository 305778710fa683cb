#!/usr/bin/env python3
"""keepalive_get.py PORT N [CONTEXT] — N keep-alive GETs on one connection to
127.0.0.1:PORT, each answer read whole (Content-Length) before the next
request goes: the client for bench/run.sh's per-request instruction count
of a traced server. CONTEXT: none (default) or traceparent, an incoming
W3C context on every request (the server then continues a trace)."""
import socket
import sys


def main():
    port, n = int(sys.argv[1]), int(sys.argv[2])
    context = sys.argv[3] if len(sys.argv) > 3 else "none"
    extra = {"none": "",
             "traceparent": "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n"}[context]
    request = ("GET /api/items/42 HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench/1\r\n"
               "Accept: */*\r\n" + extra + "\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pending = b""
        for _ in range(n):
            s.sendall(request)
            while b"\r\n\r\n" not in pending:
                chunk = s.recv(65536)
                if not chunk:
                    sys.exit("keepalive_get: the server closed the connection")
                pending += chunk
            head, _, rest = pending.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(rest) < length:
                chunk = s.recv(65536)
                if not chunk:
                    sys.exit("keepalive_get: the server closed the connection mid-body")
                rest += chunk
            pending = rest[length:]


if __name__ == "__main__":
    main()
