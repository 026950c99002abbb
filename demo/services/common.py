# SPDX-License-Identifier: MIT
"""Shared by every demo service: a threaded JSON HTTP server bound to fixed
addresses, a SQLite handle safe to share between request threads, and an
HTTP client that says exactly which timeout it uses.

Python standard library only, so `faultline demo up` downloads nothing.
"""
import http.client
import http.server
import json
import os
import socket
import socketserver
import sqlite3
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

DATA_DIR = os.environ.get("FL_DEMO_DATA", "/run/faultline-demo/data")


def service_args():
    """sys.argv without the marker `fl-demo service` adds so that it can
    recognise its processes (fl-demo-service=NAME)."""
    return [a for a in sys.argv[1:] if not a.startswith("fl-demo-service=")]


def log(name, fmt, *args):
    sys.stderr.write("%s %s: %s\n" % (time.strftime("%H:%M:%S"), name, fmt % args))
    sys.stderr.flush()


class Store:
    """One SQLite database, one connection, one lock: request threads take
    turns. The ledger is small; correctness matters more than throughput."""

    def __init__(self, name, schema):
        os.makedirs(DATA_DIR, exist_ok=True)
        self.path = os.path.join(DATA_DIR, name + ".db")
        # timeout: two services (pay and transfer) share the ledger file.
        self.db = sqlite3.connect(self.path, timeout=10, check_same_thread=False,
                                  isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.lock = threading.RLock()
        with self.lock:
            self.db.executescript(schema)

    def query(self, sql, args=()):
        with self.lock:
            return [dict(r) for r in self.db.execute(sql, args).fetchall()]

    def one(self, sql, args=()):
        rows = self.query(sql, args)
        return rows[0] if rows else None

    def execute(self, sql, args=()):
        with self.lock:
            return self.db.execute(sql, args).lastrowid

    def transaction(self):
        """`with store.transaction() as db:` runs its statements atomically
        (BEGIN IMMEDIATE: the other process sharing the file waits)."""
        store = self

        class Tx:
            def __enter__(self):
                store.lock.acquire()
                store.db.execute("BEGIN IMMEDIATE")
                return store.db

            def __exit__(self, exc, *_):
                try:
                    store.db.execute("ROLLBACK" if exc else "COMMIT")
                finally:
                    store.lock.release()
                return False

        return Tx()


class Handler(http.server.BaseHTTPRequestHandler):
    """Routes "METHOD /path" to methods of the service object."""
    protocol_version = "HTTP/1.0"  # one request per connection: simple and explicit
    service = None

    def log_message(self, fmt, *args):
        pass  # one line per request would drown the logs; services log what matters

    def _dispatch(self, method):
        url = urllib.parse.urlsplit(self.path)
        self.query = dict(urllib.parse.parse_qsl(url.query))
        self.json = {}
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            raw = self.rfile.read(n)
            try:
                self.json = json.loads(raw) if raw.strip() else {}
            except ValueError:
                return self.reply(400, {"error": "body is not JSON"})
        fn = self.service.routes.get((method, url.path))
        if not fn:
            return self.reply(404, {"error": "no route %s %s" % (method, url.path)})
        try:
            fn(self)
        except BrokenPipeError:
            pass
        except Exception as e:  # a bug in a demo service: say so, do not hang
            log(self.service.name, "error in %s %s: %r", method, url.path, e)
            try:
                self.reply(500, {"error": "internal error: %r" % e})
            except OSError:
                pass

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def client_gone(self):
        """True when the caller has already closed its side: it gave up
        waiting (its own timeout), so it never sees what we answer now.
        A closed peer makes the socket readable with nothing to read."""
        import select
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            return bool(r) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def reply(self, status, body, reason=None):
        """JSON for the services; text for the shops (what a person reads)."""
        if isinstance(body, str):
            data, ctype = (body + "\n").encode(), "text/plain; charset=utf-8"
        else:
            data, ctype = json.dumps(body).encode(), "application/json"
        self.send_response(status, reason)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def server_bind(self):
        # HTTPServer's own asks DNS for our name (getfqdn): seconds of
        # timeouts in a namespace without a resolver, for nothing.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


def serve(service, addresses, port):
    """Serves `service` on each address (IPv4 and IPv6) until killed."""
    handler = type("H", (Handler,), {"service": service})
    servers = []
    for a in addresses:
        cls = Server
        if ":" in a:
            cls = type("S6", (Server,), {"address_family": socket.AF_INET6})
        servers.append(cls((a, port), handler))
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    log(service.name, "serving on %s port %d", ", ".join(addresses), port)
    servers[0].serve_forever()


class HTTPFailure(Exception):
    """A call that did not return 2xx: status None for network errors."""

    def __init__(self, status, text):
        super().__init__("%s %s" % (status or "network", text))
        self.status = status
        self.text = text


def call(method, url, body=None, timeout=None):
    """One HTTP request; returns the decoded JSON body of a 2xx answer,
    raises HTTPFailure otherwise. timeout=None means none at all: the call
    waits as long as the kernel keeps the connection (what the fragile shop
    does)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        if timeout is None:
            resp = urllib.request.urlopen(req)  # no timeout: blocks indefinitely
        else:
            resp = urllib.request.urlopen(req, timeout=timeout)
        with resp:
            raw = resp.read()
        return json.loads(raw) if raw else {}
    except urllib.error.HTTPError as e:
        text = e.read().decode(errors="replace")[:200]
        raise HTTPFailure(e.code, text) from None
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as e:
        # HTTPException: the connection broke mid-answer (IncompleteRead,
        # a reset after the status line): as much a network error as a refusal.
        reason = getattr(e, "reason", e)
        raise HTTPFailure(None, str(reason)) from None


def periodic(period, fn, name):
    """Runs fn every `period` seconds in a daemon thread, logging errors."""
    def loop():
        while True:
            try:
                fn()
            except Exception as e:
                log(name, "background: %r", e)
            time.sleep(period)
    threading.Thread(target=loop, daemon=True, name=name).start()
