"""many_conns.py PORT N [HIGH_FD] — N short-lived HTTP/1.1 connections to
127.0.0.1:PORT, one GET each, then print the number of open fds before and
after. With HIGH_FD, every socket is first moved to that fd number (above
65535: the soft fd limit is raised to allow it). Prints "ok COUNT new-fds
LIST": the targets of fds open at the end that were not open once warm."""

import os
import resource
import socket
import sys


def fds():
    """Open fds and what they point at."""
    out = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            out[int(fd)] = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            pass  # the listing's own fd, closed by now
    return out


def body_end(data):
    """Where the response in data ends (head + Content-Length body)."""
    head, _, _ = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return len(head) + 4 + length


def main():
    port, n = int(sys.argv[1]), int(sys.argv[2])
    high = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    if high:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = max(high + 16, soft)
        try:  # root with CAP_SYS_RESOURCE may raise the hard limit too
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
        except (ValueError, OSError):
            if hard != resource.RLIM_INFINITY and want > hard:
                sys.exit("the hard fd limit %d is below %d" % (hard, want))
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    before = None  # counted once warm: after the first request the shim may
    ok = 0         # hold its own fds (the span file), as the program may
    for i in range(n):
        if i == 1 or (n == 1 and before is None):
            before = fds()
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if high:
            fd = os.dup2(s.fileno(), high)
            s.close()
            s = socket.socket(fileno=fd)
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /c/%d HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n" % i)
        data = b""
        while b"\r\n\r\n" not in data or len(data) < body_end(data):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        if data.startswith(b"HTTP/1.1 200"):
            ok += 1
    if before is None:
        before = fds()
    after = fds()
    new = sorted(after[fd] for fd in after if fd not in before)
    print("ok %d new-fds %s" % (ok, ",".join(new) or "-"))


if __name__ == "__main__":
    main()
