#!/usr/bin/python3
"""frontend — the first service of the traceshim demo chain.

    frontend.py PORT ORDERS_PORT

GET /checkout?item=ID   places an order with the orders service
                        (GET /order?item=ID) and answers in plain text.

A plain standard-library HTTP server and client: no tracing code.
"""
import json
import sys
import urllib.error
from urllib.parse import parse_qs, quote, urlsplit

import service

orders = ""  # base URL, set in main


class Handler(service.Handler):
    def reply(self, status, text):
        self.send_body(status, (text + "\n").encode(), "text/plain; charset=utf-8")

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path != "/checkout":
            self.reply(404, "no such page: " + url.path)
            return
        item = parse_qs(url.query).get("item", [""])[0]
        if not item:
            self.reply(400, "which item? use /checkout?item=ID")
            return
        try:
            with service.opener.open(orders + "/order?item=" + quote(item), timeout=10) as resp:
                order = json.loads(resp.read())
        except urllib.error.HTTPError as e:
            self.reply(502, "checkout failed: orders answered %d: %s"
                       % (e.code, e.read().decode(errors="replace").strip()))
            return
        except (urllib.error.URLError, OSError, ValueError) as e:
            self.reply(502, "checkout failed: orders: %s" % e)
            return
        self.reply(200, "checkout ok: order %s for item %s (reservation %s, %s left in stock)"
                   % (order["order"], order["item"], order["reservation"], order["left"]))


def main():
    global orders
    if len(sys.argv) != 3:
        sys.exit("usage: frontend.py PORT ORDERS_PORT")
    port, orders_port = int(sys.argv[1]), int(sys.argv[2])
    orders = "http://127.0.0.1:%d" % orders_port
    service.serve("frontend", port, Handler, ", orders at " + orders)


if __name__ == "__main__":
    main()
