#!/usr/bin/python3
"""inventory — the last service of the traceshim demo chain.

    inventory.py PORT

GET  /stock?item=ID   how many of the item are in stock
POST /reserve         body {"item": ID, "qty": N}: put N aside for an order

A plain standard-library HTTP server: it knows nothing about tracing.
"""
import json
import sys
import threading
from urllib.parse import parse_qs, urlsplit

import service

stock = {}  # item -> units left
lock = threading.Lock()
reservations = 0


class Handler(service.Handler):
    def do_GET(self):
        url = urlsplit(self.path)
        if url.path != "/stock":
            self.reply(404, {"error": "no such path: " + url.path})
            return
        item = parse_qs(url.query).get("item", [""])[0]
        if not item:
            self.reply(400, {"error": "item missing"})
            return
        with lock:
            left = stock.setdefault(item, 7)
        self.reply(200, {"item": item, "in_stock": left})

    def do_POST(self):
        global reservations
        if urlsplit(self.path).path != "/reserve":
            self.reply(404, {"error": "no such path: " + self.path})
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
            req = json.loads(self.rfile.read(length) or b"{}")
            item, qty = str(req["item"]), int(req.get("qty", 1))
        except (ValueError, KeyError, TypeError) as e:
            self.reply(400, {"error": "bad request body: %s" % e})
            return
        with lock:
            left = stock.setdefault(item, 7)
            if qty > left:
                self.reply(409, {"error": "only %d left" % left})
                return
            stock[item] = left - qty
            reservations += 1
            rid = "r-%s-%d" % (item, reservations)
        self.reply(200, {"item": item, "reserved": qty, "reservation": rid, "left": left - qty})


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: inventory.py PORT")
    port = int(sys.argv[1])
    service.serve("inventory", port, Handler)


if __name__ == "__main__":
    main()
