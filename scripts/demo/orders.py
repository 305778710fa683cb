#!/usr/bin/python3
"""orders — the middle service of the traceshim demo chain.

    orders.py PORT INVENTORY_PORT

GET /order?item=ID   asks inventory for the stock (GET /stock), then reserves
                     one unit (POST /reserve), and answers with the order.

A plain standard-library HTTP server and client: no tracing code, and it does
not pass any headers on by itself — the preloaded shim does that.
"""
import itertools
import sys
import urllib.error
from urllib.parse import parse_qs, quote, urlsplit

import service

inventory = ""  # base URL, set in main
order_ids = itertools.count(1001)


def call(method, path, body=None):
    """One request to inventory; returns the decoded JSON answer."""
    return service.call_json(inventory, method, path, body)


class Handler(service.Handler):
    def do_GET(self):
        url = urlsplit(self.path)
        if url.path != "/order":
            self.reply(404, {"error": "no such path: " + url.path})
            return
        item = parse_qs(url.query).get("item", [""])[0]
        if not item:
            self.reply(400, {"error": "item missing"})
            return
        try:
            stock = call("GET", "/stock?item=" + quote(item))
            if stock["in_stock"] < 1:
                self.reply(409, {"error": "item %s is sold out" % item})
                return
            res = call("POST", "/reserve", {"item": item, "qty": 1})
        except (urllib.error.URLError, OSError, ValueError, KeyError) as e:
            self.reply(502, {"error": "inventory: %s" % e})
            return
        self.reply(200, {"order": next(order_ids), "item": item,
                         "reservation": res["reservation"], "left": res["left"]})


def main():
    global inventory
    if len(sys.argv) != 3:
        sys.exit("usage: orders.py PORT INVENTORY_PORT")
    port, inventory_port = int(sys.argv[1]), int(sys.argv[2])
    inventory = "http://127.0.0.1:%d" % inventory_port
    service.serve("orders", port, Handler, ", inventory at " + inventory)


if __name__ == "__main__":
    main()
