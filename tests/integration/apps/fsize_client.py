"""fsize_client.py PORT CUT SETTLE — a program whose span file fills up:
with the file size limit at CUT bytes (SIGXFSZ ignored, as a program that
copes with full disks does), one GET to 127.0.0.1:PORT, then SETTLE seconds
for the shim to write that span (the write is cut short at the limit); the
limit lifted, a second GET, and exit (the shim writes the second span at
exit). Prints "ok"."""

import resource
import signal
import socket
import sys
import time


def get(port, path):
    """One GET; returns once the whole response (head and Content-Length
    body) is in."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: h\r\n\r\n" % path)
        data = b""
        while True:
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                length = [int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")[1:]
                          if line.split(b":", 1)[0].strip().lower() == b"content-length"]
                if len(body) >= (length[0] if length else 0):
                    return
            chunk = s.recv(65536)
            if not chunk:
                return
            data += chunk


def main():
    port, cut, settle = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (cut, hard))
    get(port, b"/before-the-disk-filled")
    time.sleep(settle)
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    get(port, b"/after-space-came-back")
    print("ok")


if __name__ == "__main__":
    main()
