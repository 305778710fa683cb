"""script_client.py — a TCP client that follows a script step by step, for
the framing tests (runs under the shim; the peer is scripted by the test).

    /usr/bin/python3 script_client.py SCRIPT.json

SCRIPT: {"steps": [STEP, ...]}; every step names its connection ("conn", default 0):
  {"op": "connect", "port": P}                  blocking socket, TCP_NODELAY, 10 s receive timeout
        ("nodelay": false: Nagle's algorithm left on, as clients that never set it have)
  {"op": "send", "how": "send|write|sendmsg|writev", "bufs": ["hex", ...]}
        sends every byte: a short return is continued from the offset it says
        (same door, the rest of the buffers); returns are listed
  {"op": "read", "n": N}                        exactly N bytes (recv until N)
  {"op": "read", "until": "hex"}                until the bytes read in this step contain it
  {"op": "read", "close": true}                 until end of stream
  {"op": "recv", "n": N, "flags": ["MSG_WAITALL" | "MSG_PEEK" ...]}
        ONE recv(N, flags) call; its bytes count as read unless MSG_PEEK
  {"op": "peek_response"}                       wget style: recv(MSG_PEEK) until the head
        is in view, read exactly the head, then exactly its Content-Length body
  {"op": "sleep", "ms": N}
  {"op": "tcp_info"}                            what the connection has sent, as "returns":
        [segments with data, retransmissions not counted (TCP_INFO's tcpi_data_segs_out
        less tcpi_total_retrans), bytes written and not yet sent (tcpi_notsent_bytes)]
  {"op": "shutdown"}                            shutdown(SHUT_WR)
  {"op": "close"}

Prints one JSON line: {"steps": [{"op", "returns", "data_hex"}...],
"received_hex": {conn: every byte read}, "sent_hex": {conn: every byte sent},
"violations": [...]}: a write that returned 0 for a non-empty buffer or more
than it was given is a violation (and ends the run). Exit status 0, or 1 with
one line on stderr (the JSON is printed first whenever possible).
"""

import json
import os
import socket
import struct
import sys
import time

FLAGS = {"MSG_WAITALL": socket.MSG_WAITALL, "MSG_PEEK": socket.MSG_PEEK,
         "MSG_DONTWAIT": socket.MSG_DONTWAIT}


class Run:
    def __init__(self):
        self.socks = {}
        self.received = {}
        self.sent = {}
        self.steps = []
        self.violations = []

    def sock(self, step):
        return self.socks[step.get("conn", 0)]

    def got(self, step, data):
        c = step.get("conn", 0)
        self.received[c] = self.received.get(c, b"") + data

    def connect(self, step):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 10, 0))
        if step.get("nodelay", True):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.connect(("127.0.0.1", step["port"]))
        self.socks[step.get("conn", 0)] = s
        return {}

    def send(self, step):
        s = self.sock(step)
        how = step.get("how", "send")
        bufs = [bytes.fromhex(h) for h in step["bufs"]]
        total = sum(len(b) for b in bufs)
        returns = []
        done = 0
        while done < total:
            if how == "send":
                r = s.send(b"".join(bufs))
            elif how == "write":
                r = os.write(s.fileno(), b"".join(bufs))
            elif how == "sendmsg":
                r = s.sendmsg(bufs)
            elif how == "writev":
                r = os.writev(s.fileno(), bufs)
            else:
                raise ValueError("unknown how %r" % how)
            returns.append(r)
            asked = sum(len(b) for b in bufs)
            if r <= 0 or r > asked:
                self.violations.append("%s of %d bytes returned %d" % (how, asked, r))
                raise RuntimeError("write return value %d for %d bytes" % (r, asked))
            done += r
            rest, skip = [], r
            for b in bufs:
                if skip >= len(b):
                    skip -= len(b)
                    continue
                rest.append(b[skip:])
                skip = 0
            bufs = rest
        c = step.get("conn", 0)
        self.sent[c] = self.sent.get(c, b"") + b"".join(bytes.fromhex(h) for h in step["bufs"])
        return {"returns": returns}

    def read(self, step):
        s = self.sock(step)
        data = b""
        if "n" in step:
            while len(data) < step["n"]:
                b = s.recv(step["n"] - len(data))
                if not b:
                    break
                data += b
        elif "until" in step:
            pat = bytes.fromhex(step["until"])
            while pat not in data:
                b = s.recv(65536)
                if not b:
                    break
                data += b
        else:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                data += b
        self.got(step, data)
        return {"data_hex": data.hex()}

    def recv(self, step):
        s = self.sock(step)
        flags = 0
        for f in step.get("flags", []):
            flags |= FLAGS[f]
        data = s.recv(step["n"], flags)
        if not flags & socket.MSG_PEEK:
            self.got(step, data)
        return {"returns": [len(data)], "data_hex": data.hex()}

    def peek_response(self, step):
        s = self.sock(step)
        peeks = []
        deadline = time.monotonic() + 10
        while True:
            p = s.recv(65536, socket.MSG_PEEK)
            peeks.append(len(p))
            if b"\r\n\r\n" in p or not p:
                break
            if time.monotonic() > deadline:
                raise TimeoutError("head never complete in view: %r" % p[:200])
            time.sleep(0.01)
        head_len = p.index(b"\r\n\r\n") + 4
        head = b""
        while len(head) < head_len:
            b = s.recv(head_len - len(head))
            if not b:
                break
            head += b
        length = 0
        for ln in head.decode("latin-1").split("\r\n")[1:]:
            name, _, value = ln.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        body = b""
        while len(body) < length:
            b = s.recv(length - len(body))
            if not b:
                break
            body += b
        self.got(step, head + body)
        return {"returns": peeks, "data_hex": (head + body).hex()}

    def tcp_info(self, step):
        # struct tcp_info (linux/tcp.h), u32 fields: tcpi_total_retrans at
        # 100, tcpi_notsent_bytes at 144, tcpi_data_segs_out at 156
        info = self.sock(step).getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232)
        retrans, notsent, segs = (struct.unpack_from("I", info, o)[0] for o in (100, 144, 156))
        return {"returns": [segs - retrans, notsent]}

    def sleep(self, step):
        time.sleep(step["ms"] / 1000.0)
        return {}

    def shutdown(self, step):
        self.sock(step).shutdown(socket.SHUT_WR)
        return {}

    def close(self, step):
        self.socks.pop(step.get("conn", 0)).close()
        return {}

    def output(self):
        return json.dumps({"steps": self.steps,
                           "received_hex": {str(k): v.hex() for k, v in self.received.items()},
                           "sent_hex": {str(k): v.hex() for k, v in self.sent.items()},
                           "violations": self.violations})


def main():
    with open(sys.argv[1]) as f:
        script = json.load(f)
    run = Run()
    status = 0
    try:
        for k, step in enumerate(script["steps"]):
            res = getattr(run, step["op"])(step)
            res["op"] = step["op"]
            run.steps.append(res)
    except Exception as e:  # one line, not a traceback, for the test's message
        sys.stderr.write("script_client: step %d (%s): %s: %s\n"
                         % (k, step.get("op"), type(e).__name__, e))
        status = 1
    sys.stdout.write(run.output() + "\n")
    sys.stdout.flush()
    for s in run.socks.values():
        s.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
