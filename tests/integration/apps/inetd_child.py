"""inetd_child.py — a server as inetd, xinetd or systemd's Accept=yes start
one: the accepted connection is its fds 0, 1 and 2.

    /usr/bin/python3 inetd_child.py N

Reads requests (heads only, no bodies) from fd 0 with os.read and answers
each on fd 1 with os.write: "/missing" 404, anything else 200 with the
body "hello PATH"; keep-alive, until N are answered or the peer closes.
Standard library only; no stdio on the socket (glibc's stdio calls no
function a preloaded library sees)."""

import os
import sys


def main():
    want = int(sys.argv[1])
    buf = b""
    served = 0
    while served < want:
        chunk = os.read(0, 65536)
        if not chunk:
            break
        buf += chunk
        while b"\r\n\r\n" in buf and served < want:
            head, buf = buf.split(b"\r\n\r\n", 1)
            path = head.split(b" ")[1]
            body = b"hello " + path
            status = b"404 Not Found" if path == b"/missing" else b"200 OK"
            os.write(1, b"HTTP/1.1 %s\r\nContent-Length: %d\r\n\r\n%s" % (status, len(body), body))
            served += 1


if __name__ == "__main__":
    main()
