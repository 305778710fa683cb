"""default_ports.py ENV_JSON COMMAND... — run COMMAND in a network
namespace of this process's own (start it under `unshare -rn`), where this
script listens on the exporters' default ports of localhost (OTLP's 4318,
Zipkin's 9411; 127.0.0.1 and ::1) and on 127.0.0.1:8080, which answers any
request 200, for COMMAND to make a traced request to. The namespace's ports
are nobody else's: what arrives there came from COMMAND.

COMMAND runs with the environment in the file ENV_JSON (a traced one: this
script runs without the library). When it has ended, and a second more for
an export still under way, one line per default port that received bytes:
"RECEIVED <port> <the bytes as a Python bytes literal>", then "EXIT <status>".
"""

import fcntl
import json
import socket
import struct
import subprocess
import sys
import threading
import time

SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
DEFAULT_PORTS = (4318, 9411)
APP_PORT = 8080
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

received = {}
lock = threading.Lock()


def loopback_up():
    """A new network namespace's lo is down."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flags = struct.unpack("16sh", fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sh", b"lo", 0)))[1]
    fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP))
    s.close()


def read_request(conn):
    """What a client sends until its head (and a body of Content-Length) is in, or 2 s pass."""
    data = b""
    conn.settimeout(2)
    try:
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip() or 0)
                if len(body) >= length:
                    break
    except (socket.timeout, OSError):
        pass
    return data


def serve(sock, port):
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        data = read_request(conn)
        if port != APP_PORT and data:
            with lock:
                received[port] = received.get(port, b"") + data
        try:
            conn.sendall(ANSWER)
        except OSError:
            pass
        conn.close()


def listen(family, address, port):
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.bind((address, port))
    sock.listen(16)
    threading.Thread(target=serve, args=(sock, port), daemon=True).start()


def main():
    loopback_up()
    for port in DEFAULT_PORTS:
        listen(socket.AF_INET, "127.0.0.1", port)
        try:
            listen(socket.AF_INET6, "::1", port)
        except OSError:  # no IPv6 here: localhost is 127.0.0.1 alone
            pass
    listen(socket.AF_INET, "127.0.0.1", APP_PORT)
    with open(sys.argv[1]) as f:
        env = json.load(f)
    status = subprocess.run(sys.argv[2:], env=env, timeout=30).returncode
    time.sleep(1)
    with lock:
        for port, data in sorted(received.items()):
            print("RECEIVED %d %r" % (port, data))
    print("EXIT %d" % status)


if __name__ == "__main__":
    main()
