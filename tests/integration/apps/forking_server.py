"""forking_server.py — http.server with socketserver.ForkingMixIn: every
connection is served in a child of its own, which ends with os._exit (no
destructors, no atexit) once the response is sent.

    /usr/bin/python3 forking_server.py --port PORT     (0: pick one)

HTTP/1.0 (one request per connection, so one child per request). Every GET
answers 200 with the body "<pid of the child that served it> <path>\\n".
Prints "LISTENING <port> PID <pid>" on stdout once it accepts connections;
exits cleanly (status 0, after waiting for its children) on SIGTERM or SIGINT.
"""

import http.server
import socketserver
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
import _apphelp as ah  # noqa: E402  (this script's folder is on sys.path)


class Handler(ah.PidPathHandler):
    server_version = "forking/1"


class S(socketserver.ForkingMixIn, http.server.HTTPServer):
    pass


def main():
    args = ah.port_parser().parse_args()
    ah.serve(S, Handler, args.port, pid=True)  # server_close waits for the children


if __name__ == "__main__":
    main()
