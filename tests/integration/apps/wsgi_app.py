"""wsgi_app.py — a WSGI application for the matrix's gunicorn row.

    /usr/bin/python3 -m gunicorn --chdir APPS wsgi_app:app ...

Routes (GET):
  /call?to=PORT&path=/x   GET http://127.0.0.1:PORT/x with urllib.request;
                          answers with its status and its body
  /hello                  200 "hello"
  /file?name=PATH         200, the file, by wsgi.file_wrapper (gunicorn
                          sends it with sendfile)
  anything else           404 "no such route"
Content-Length on every response. Standard library only.
"""

import os
import urllib.error
import urllib.parse
import urllib.request

# No proxies, whatever the environment says: the tests talk to 127.0.0.1.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
REASONS = {200: "OK", 404: "Not Found", 500: "Internal Server Error"}


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    q = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    if path == "/call":
        url = "http://127.0.0.1:%d%s" % (int(q["to"][0]), q.get("path", ["/ok"])[0])
        try:
            with OPENER.open(url, timeout=10) as r:
                status, body = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read()
    elif path == "/hello":
        status, body = 200, b"hello"
    elif path == "/file":
        f = open(q["name"][0], "rb")
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(os.fstat(f.fileno()).st_size))])
        return environ["wsgi.file_wrapper"](f)
    else:
        status, body = 404, b"no such route"
    start_response("%d %s" % (status, REASONS.get(status, "Status")),
                   [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
