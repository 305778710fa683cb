"""rawclient.py — sends exactly the bytes it is told to, the way it is told
to, and prints what the system calls returned and what came back.

    /usr/bin/python3 rawclient.py SPEC.json

SPEC:
{"connections": [
   {"port": 8080,                    # 127.0.0.1:port
    "nodelay": true,                 # TCP_NODELAY (default true)
    "nonblocking": false,            # O_NONBLOCK while sending: EAGAIN -> poll, retry
    "sndbuf": 0,                     # SO_SNDBUF (0: leave it)
    "requests": [                    # in order, on this one connection
       {"calls": [                   # the system calls that send this request
           {"how": "send",           # send | write | sendmsg | writev | sendto
                                     # (with the peer's address) | sendmsg_cmsg
                                     # (with a control message TCP ignores)
            "bufs": ["hex", ...],    # send/write: one buffer; sendmsg/writev: several
            "pause_ms": 0}           # sleep before this call
        ],
        "read": "http"}              # after the calls: http = read one response
    ]}                               # (head + Content-Length body); echo = read as
 ]}                                  # many bytes as were sent; none = nothing

Prints one JSON line per connection:
  {"conn": 0, "requests": [{"sent": [calls' return values...], "eagain": N,
                            "response_hex": "..."}]}
A short send is completed with more calls of the same kind (all returns are
listed), so the test sees it; calls that failed with EAGAIN are only counted. Exit status 0, or 1 with the error on stderr.
"""

import json
import os
import select
import socket
import struct
import sys
import time


def read_http_response(sock, buf):
    """One response (head + Content-Length body) from buf, what the
    connection received and no response took yet, reading more as needed;
    what comes after it stays in buf (pipelined responses can come in one
    read)."""
    while b"\r\n\r\n" not in buf:
        b = sock.recv(65536)
        if not b:
            return take(buf, len(buf))
        buf += b
    end = buf.index(b"\r\n\r\n") + 4
    length = 0
    for line in bytes(buf[:end]).decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    while len(buf) < end + length:
        b = sock.recv(65536)
        if not b:
            break
        buf += b
    return take(buf, end + length)


def read_exactly(sock, buf, n):
    while len(buf) < n:
        b = sock.recv(65536)
        if not b:
            break
        buf += b
    return take(buf, n)


def take(buf, n):
    """The first n bytes of buf, removed from it."""
    out = bytes(buf[:n])
    del buf[:n]
    return out


# A control message of a level TCP's send does not act on (IP_TOS: only a
# datagram's send reads it): the call carries ancillary data, the stream
# is the same.
CONTROL = [(socket.IPPROTO_IP, socket.IP_TOS, struct.pack("i", 0))]


class Eagain:
    count = 0


def retrying(fn):
    """fn() until it does not fail with EAGAIN (waiting for POLLOUT, bounded)."""
    for _ in range(100000):
        try:
            return fn()
        except BlockingIOError:
            Eagain.count += 1
            select.select([], [fn.sock], [], 10)
    raise TimeoutError("EAGAIN forever")


def do_call(sock, call):
    how = call.get("how", "send")
    bufs = [bytes.fromhex(h) for h in call["bufs"]]
    fd = sock.fileno()
    returns = []

    def once(f):
        f.sock = sock
        return retrying(f)
    if how in ("send", "write", "sendto"):
        data = b"".join(bufs)
        while data:
            if how == "send":
                r = once(lambda: sock.send(data))
            elif how == "sendto":
                r = once(lambda: sock.sendto(data, sock.getpeername()))
            else:
                r = once(lambda: os.write(fd, data))
            returns.append(r)
            if r <= 0:
                break
            data = data[r:]
    elif how in ("sendmsg", "writev", "sendmsg_cmsg"):
        total = sum(len(b) for b in bufs)
        done = 0
        while done < total:
            if how == "sendmsg":
                r = once(lambda: sock.sendmsg(bufs))
            elif how == "sendmsg_cmsg":
                r = once(lambda: sock.sendmsg(bufs, CONTROL))
            else:
                r = once(lambda: os.writev(fd, bufs))
            returns.append(r)
            if r <= 0:
                break
            done += r
            # drop what went out, keep the buffer structure of the rest
            rest, skip = [], r
            for b in bufs:
                if skip >= len(b):
                    skip -= len(b)
                    continue
                rest.append(b[skip:])
                skip = 0
            bufs = rest
    else:
        raise ValueError("unknown how: %r" % how)
    return returns


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    for ci, conn in enumerate(spec["connections"]):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # blocking socket, bounded receives
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 10, 0))
        if conn.get("nodelay", True):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if conn.get("sndbuf"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, conn["sndbuf"])
        sock.connect(("127.0.0.1", conn["port"]))
        results = []
        received = bytearray()  # read from the socket, not yet a response's
        for req in conn["requests"]:
            sent = []
            nbytes = 0
            Eagain.count = 0
            if conn.get("nonblocking"):
                os.set_blocking(sock.fileno(), False)
            for call in req["calls"]:
                if call.get("pause_ms"):
                    time.sleep(call["pause_ms"] / 1000.0)
                sent += do_call(sock, call)
                nbytes += sum(len(bytes.fromhex(h)) for h in call["bufs"])
            os.set_blocking(sock.fileno(), True)
            mode = req.get("read", "http")
            if mode == "http":
                resp = read_http_response(sock, received)
            elif mode == "echo":
                resp = read_exactly(sock, received, nbytes)
            else:
                resp = b""
            results.append({"sent": sent, "eagain": Eagain.count, "response_hex": resp.hex()})
        if conn.get("linger_ms"):
            time.sleep(conn["linger_ms"] / 1000.0)
        sock.close()
        sys.stdout.write(json.dumps({"conn": ci, "requests": results}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # one line, not a traceback, for the test's message
        sys.stderr.write("rawclient: %s: %s\n" % (type(e).__name__, e))
        sys.exit(1)
