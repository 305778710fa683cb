"""tls_client.py — python's urllib over HTTPS, for the TLS tests.

    /usr/bin/python3 tls_client.py CAFILE URL [BODYFILE [chunked]]

GET URL (POST the bytes of BODYFILE when given; with "chunked", sent as a
chunked body by an iterable). Prints one JSON line {"status": N, "body":
text of the response body}.
"""

import json
import ssl
import sys
import urllib.error
import urllib.request

ctx = ssl.create_default_context(cafile=sys.argv[1])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                     urllib.request.HTTPSHandler(context=ctx))
data = None
headers = {}
if len(sys.argv) > 3:
    with open(sys.argv[3], "rb") as f:
        raw = f.read()
    if len(sys.argv) > 4 and sys.argv[4] == "chunked":
        data = iter([raw[i:i + 7000] for i in range(0, len(raw), 7000)])
        headers["Transfer-Encoding"] = "chunked"
    else:
        data = raw
    headers["Content-Type"] = "application/octet-stream"
req = urllib.request.Request(sys.argv[2], data=data, headers=headers,
                             method="POST" if data is not None else "GET")
try:
    with opener.open(req, timeout=10) as r:
        status, body = r.status, r.read()
except urllib.error.HTTPError as e:
    status, body = e.code, e.read()
print(json.dumps({"status": status, "body": body.decode("utf-8", "replace")}))
