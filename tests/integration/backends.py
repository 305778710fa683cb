"""backends.py — stand-ins for the tracing backends the exporters talk to.

An OTLP/HTTP or Zipkin collector is an HTTP server that records each request
and answers from a script (200, 429 with Retry-After, 503, a stall, or a
close); a Jaeger agent is a UDP socket that records datagrams; a Jaeger
sampling endpoint answers GET /sampling with a strategy. They only carry
bytes: decoding is done with the real third-party decoders under
tests/peers/ (Thrift-generated code, protoc).
"""

import os
import socket
import struct
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tshelp as th  # noqa: E402

PEERS = os.environ.get("TRACESHIM_PEERS") or os.path.join(th.BUILD, "peers")
sys.path.insert(0, os.path.join(th.SRC, "tests", "peers"))


def require_peers():
    """Fail (never skip) when the third-party decoders are not prepared."""
    if not os.path.isdir(os.path.join(PEERS, "gen-py")) or \
            not os.path.isdir(os.path.join(PEERS, "protos")):
        raise AssertionError(
            "the third-party decoders are missing in %s: run "
            "`bash tests/peers/setup.sh %s` (scripts/test.sh does)" % (PEERS, PEERS))
    os.environ["TRACESHIM_PEERS"] = PEERS


def http_response(status, body=b"", headers=()):
    reason = {200: "OK", 202: "Accepted", 400: "Bad Request", 429: "Too Many Requests",
              500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
              504: "Gateway Timeout"}.get(status, "Whatever")
    head = "HTTP/1.1 %d %s\r\nContent-Length: %d\r\n" % (status, reason, len(body))
    for k, v in headers:
        head += "%s: %s\r\n" % (k, v)
    return head.encode() + b"\r\n" + body


class Collector:
    """An HTTP collector on 127.0.0.1. script: a list of answers used in
    order for successive requests, the last one repeating; each is a status
    number, bytes (a whole response), or "stall" (never answer). delay:
    seconds it takes over every answer (a slow backend, or one the reporter
    is busy exporting to most of the time). address: "::1" for IPv6."""

    def __init__(self, script=(200,), delay=0.0, address="127.0.0.1"):
        self.script = list(script)
        self.delay = delay
        self.times = []  # monotonic arrival time of each request
        self._n = 0
        self._lock = threading.Lock()
        self.server = th.RecordingServer(mode="http", response=self._respond, address=address)
        self.port = self.server.port

    def _respond(self, req):
        with self._lock:
            i = min(self._n, len(self.script) - 1)
            self._n += 1
            self.times.append(time.monotonic())
        a = self.script[i]
        if self.delay:
            time.sleep(self.delay)
        if a == "stall":
            return b""
        if isinstance(a, bytes):
            return a
        return http_response(a)

    def requests(self):
        """[(request line, headers, body)] of every complete request so far."""
        out = []
        with self.server._lock:
            reqs = [r for c in self.server.conns for r in c.requests]
        for r in reqs:
            line, headers, body = th.parse_head(r)
            out.append((line, headers, body))
        return out

    def wait_requests(self, n, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.requests()) >= n:
                return self.requests()
            time.sleep(0.02)
        raise AssertionError("collector: expected %d requests, got %d" % (n, len(self.requests())))

    def close(self):
        self.server.close()


class UdpAgent:
    """A Jaeger agent's UDP port on 127.0.0.1 (or address, "::1") that
    records every datagram (port: a given one, as an agent restarted on its
    port)."""

    def __init__(self, port=0, address="127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET,
                                  socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind((address, port))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.datagrams = []
        self._stop = False
        self._lock = threading.Lock()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self):
        while not self._stop:
            try:
                d, sender = self.sock.recvfrom(70000)
            except socket.timeout:
                continue
            except OSError:
                break
            with self._lock:
                self.datagrams.append(d)
                self._received(len(self.datagrams), d, sender)

    def _received(self, n, datagram, sender):
        """The n-th datagram has come (under the lock)."""

    def received(self):
        with self._lock:
            return list(self.datagrams)

    def close(self):
        self._stop = True
        self._t.join(2)
        self.sock.close()


def _checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff


class LateRefusingAgent(UdpAgent):
    """A Jaeger agent on another host that is down, as the exporter's socket
    sees it: each datagram numbered in `refuse` (1-based; None: every one)
    is refused by an ICMP "port unreachable" that comes back `delay` s
    after it, when the send has long returned (an agent on this host is
    refused within the send). The ICMP message is made by hand on a raw
    socket, which needs root (CAP_NET_RAW): skipped otherwise."""

    def __init__(self, refuse=None, delay=0.05):
        try:
            self.raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        except PermissionError:
            raise unittest.SkipTest("a raw ICMP socket needs root (CAP_NET_RAW)")
        self.refuse, self.delay = refuse, delay
        self.timers = []
        super().__init__()

    def _received(self, n, datagram, sender):
        if self.refuse is None or n in self.refuse:
            t = threading.Timer(self.delay, self._refuse, (sender[1], len(datagram)))
            self.timers.append(t)
            t.start()

    def _refuse(self, sender_port, length):
        """ICMP type 3 code 3 quoting the refused datagram's IP and UDP
        headers, from 127.0.0.1 to 127.0.0.1."""
        udp = struct.pack("!HHHH", sender_port, self.port, 8 + length, 0)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 8 + length, 0, 0x4000, 64,
                         socket.IPPROTO_UDP, 0, socket.inet_aton("127.0.0.1"),
                         socket.inet_aton("127.0.0.1"))
        ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
        icmp = struct.pack("!BBHI", 3, 3, 0, 0) + ip + udp
        icmp = icmp[:2] + struct.pack("!H", _checksum(icmp)) + icmp[4:]
        try:
            self.raw.sendto(icmp, ("127.0.0.1", 0))
        except OSError:
            pass  # closed meanwhile

    def close(self):
        super().close()
        with self._lock:
            timers = list(self.timers)
        for t in timers:
            t.cancel()
            t.join(2)
        self.raw.close()
