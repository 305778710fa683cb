"""spawn_server.py — an HTTP server that starts a program while it serves a
request, the ways a Python service does.

    /usr/bin/python3 spawn_server.py --port PORT [--threads]    (0: pick one)

GET /run?how=HOW&url=URL runs `curl -q -sS --max-time 10 URL` and answers 200
with curl's output (its exit status in the header X-Exit-Status). HOW:
  vfork    subprocess.run (CPython uses vfork, and the child closes the
           inherited descriptors: close_fds=True)
  fork     subprocess.run with a preexec_fn (CPython then forks)
  spawn    subprocess.run with close_fds=False (CPython uses posix_spawn)
  system   os.system (the C library's system(); output to a file)
  popen    the C library's popen() through ctypes, read to the end, then
           pclose()
Single-threaded (http.server.HTTPServer), or with --threads a thread per
connection (ThreadingHTTPServer), HTTP/1.1 with Content-Length.
Prints "LISTENING <port>" once it accepts connections; exits cleanly
(status 0) on SIGTERM or SIGINT.
"""

import ctypes
import http.server
import os
import shlex
import subprocess
import sys
import tempfile
import urllib.parse

sys.dont_write_bytecode = True  # keep the source tree clean
import _apphelp as ah  # noqa: E402  (this script's folder is on sys.path)

CURL = ["curl", "-q", "-sS", "--max-time", "10"]


def popen_read(argv):
    """Run argv through the C library's popen(..., "r"): (status, output)."""
    libc = ctypes.CDLL(None)
    libc.popen.restype = ctypes.c_void_p
    libc.popen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.fread.restype = ctypes.c_size_t
    libc.fread.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_void_p]
    libc.pclose.argtypes = [ctypes.c_void_p]
    f = libc.popen(" ".join(map(shlex.quote, argv)).encode(), b"r")
    if not f:
        return 127, b""
    out, buf = b"", ctypes.create_string_buffer(4096)
    while True:
        n = libc.fread(buf, 1, len(buf), f)
        if n == 0:
            break
        out += buf.raw[:n]
    return os.waitstatus_to_exitcode(libc.pclose(f)), out


class Handler(ah.Handler):
    protocol_version = "HTTP/1.1"
    server_version = "spawn/1"

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        if u.path != "/run" or "url" not in q:
            self.reply(404, b"no such route")
            return
        how, argv = q.get("how", ["vfork"])[0], CURL + [q["url"][0]]
        if how == "system":
            fd, path = tempfile.mkstemp(prefix="spawn-server-")
            try:
                os.close(fd)
                st = os.waitstatus_to_exitcode(os.system(
                    "%s >%s" % (" ".join(map(shlex.quote, argv)), shlex.quote(path))))
                with open(path, "rb") as f:
                    out = f.read()
            finally:
                os.unlink(path)
        elif how == "popen":
            st, out = popen_read(argv)
        else:
            kw = {"vfork": {}, "fork": {"preexec_fn": lambda: None},
                  "spawn": {"close_fds": False}}.get(how)
            if kw is None:
                self.reply(400, b"unknown how")
                return
            r = subprocess.run(argv, stdout=subprocess.PIPE, **kw)
            st, out = r.returncode, r.stdout
        self.reply(200, out, headers=[("X-Exit-Status", str(st))])


def main():
    ap = ah.port_parser()
    ap.add_argument("--threads", action="store_true")
    args = ap.parse_args()
    server = http.server.ThreadingHTTPServer if args.threads else http.server.HTTPServer
    ah.serve(server, Handler, args.port)


if __name__ == "__main__":
    main()
