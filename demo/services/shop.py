# SPDX-License-Identifier: MIT
"""What both shops share: their own database (orders, transfer requests,
notice outbox), the HTTP API the flows probe, and the audits the
invariants run. The two shops differ only in how they call their
dependencies (resilient_shop.py, fragile_shop.py); they are judged by the
same audit code, so the same bar.

API (port 8080), the same on both shops:
  GET  /login             log in (the provider, or another method if any)
  GET  /login/messenger   "log in with <messenger>" only
  POST /checkout          order, payment, order notice
  POST /transfer          send 1000 to a friend through the in-chat transfer
  POST /ride              end a scooter ride (started a minute ago): the
                          rider's account must confirm it
  GET  /health
  GET  /audit/money       200 when no order was charged twice, none charged
                          without the customer being told it was paid (or
                          refunded since), none shown paid without a charge;
                          409 otherwise, the reason in the status line
  GET  /audit/transfers   200 when every transfer request moved money at
                          most once, exactly once if the customer was told it
                          worked, and never silently (moved, but the customer
                          was told it failed and never told otherwise)
  GET  /audit/notices     200 when every order the customer was told was paid
                          has its notice delivered, and no notice is queued
  GET  /audit/rides       200 when no ride's meter ran on after the rider
                          asked to end it (incident 1's scooter), and every
                          ride ended without the account was confirmed since
"""
import time
import uuid

from common import HTTPFailure, Store, call

LOGIN = "http://10.70.0.10:8080"
PAY = "http://10.70.0.20:8080"
TRANSFER = "http://10.70.0.21:8080"
BIZCHANNEL = "http://10.70.0.31:8080"
CARD = "http://10.75.0.10:8080"

AMOUNT = 4500  # a coffee gift card
# A scooter ride: each probe ends a ride that started this long ago, on a
# meter of this many KRW a second. The meter may run on for the answer's
# own time, not more.
RIDE_SECONDS = 60
FARE_PER_SECOND = 10
METER_SLACK = 1.0
# Work younger than this may still be in flight (a request being served, a
# notice just queued), so the audits leave it alone: the flows keep probing
# while the invariants run. Both shops answer well within it, or the
# customer's own 3 s timeout has passed; a queued notice older than this
# must have gone out.
IN_FLIGHT = 5.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY, t REAL NOT NULL, status TEXT NOT NULL,
    method TEXT, tried TEXT NOT NULL DEFAULT '', told TEXT, reconciled INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS transfer_requests (
    id TEXT PRIMARY KEY, t REAL NOT NULL, status TEXT NOT NULL, told TEXT);
CREATE TABLE IF NOT EXISTS rides (
    id TEXT PRIMARY KEY, t REAL NOT NULL, started REAL NOT NULL, ended REAL,
    status TEXT NOT NULL, fare INTEGER, told TEXT);
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY, ref TEXT NOT NULL, text TEXT NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0, t REAL NOT NULL);
"""


class Shop:
    merchant = None  # "resilient" or "fragile"

    def __init__(self):
        self.name = self.merchant
        self.store = Store(self.merchant, SCHEMA)
        self.routes = {
            ("GET", "/health"): lambda h: h.reply(200, "ok " + self.merchant),
            ("GET", "/login"): self.login,
            ("GET", "/login/messenger"): self.login_messenger,
            ("POST", "/checkout"): self.checkout,
            ("POST", "/transfer"): self.transfer,
            ("POST", "/ride"): self.ride,
            ("GET", "/audit/money"): self.audit_money,
            ("GET", "/audit/transfers"): self.audit_transfers,
            ("GET", "/audit/notices"): self.audit_notices,
            ("GET", "/audit/rides"): self.audit_rides,
        }

    # ---- what the customer was told -------------------------------------------------

    def answer(self, h, status, text, table=None, ref=None):
        """Answers, and records whether the customer really heard a success:
        a customer whose own timeout already fired has closed the connection
        and will never see this answer."""
        told = "gave-up" if h.client_gone() else ("ok" if status == 200 else "error")
        if table:
            self.store.execute("UPDATE %s SET told = ? WHERE id = ?" % table, (told, ref))
        h.reply(status, text)

    def new_order(self):
        oid = uuid.uuid4().hex[:12]
        self.store.execute("INSERT INTO orders (id, t, status) VALUES (?,?,'pending')",
                           (oid, time.time()))
        return oid

    def new_transfer_request(self):
        rid = uuid.uuid4().hex[:12]
        self.store.execute("INSERT INTO transfer_requests (id, t, status) VALUES (?,?,'pending')",
                           (rid, time.time()))
        return rid

    def new_ride(self):
        """The rider asks, now, to end a ride that started RIDE_SECONDS ago:
        the row's t is that request."""
        rid = uuid.uuid4().hex[:12]
        now = time.time()
        self.store.execute("INSERT INTO rides (id, t, started, status) VALUES (?,?,?,'running')",
                           (rid, now, now - RIDE_SECONDS))
        return rid

    def stop_meter(self, rid, at, status):
        """Stops the ride's meter at `at` (epoch seconds); returns the fare."""
        started = self.store.one("SELECT started FROM rides WHERE id = ?", (rid,))["started"]
        fare = int(round((at - started) * FARE_PER_SECOND))
        self.store.execute("UPDATE rides SET ended = ?, status = ?, fare = ? WHERE id = ?",
                           (at, status, fare, rid))
        return fare

    # ---- audits (the invariants) -----------------------------------------------------

    def _fetch(self, url):
        # The audit runs after recovery; a dependency still away is a failure
        # to verify, and says so.
        return call("GET", url, timeout=5)

    def _verdict(self, h, what, problems, summary):
        if problems:
            reason = "%s: %d problem(s): %s" % (what, len(problems), "; ".join(problems[:3]))
            return h.reply(409, reason + "\n" + "\n".join(problems), reason=reason[:300])
        h.reply(200, "%s ok: %s" % (what, summary))

    def audit_money(self, h):
        try:
            charges = (self._fetch(PAY + "/charges?merchant=" + self.merchant)["charges"] +
                       self._fetch(CARD + "/charges?merchant=" + self.merchant)["charges"])
        except HTTPFailure as e:
            return h.reply(503, "money: cannot read the ledgers: %s" % e, reason="ledger unreachable")
        settled = time.time() - IN_FLIGHT
        orders = {o["id"]: o for o in self.store.query("SELECT * FROM orders")}
        live = {}
        for c in charges:
            if not c["refunded"]:
                live.setdefault(c["order_ref"], []).append(c)
        problems = []
        for ref, cs in sorted(live.items()):
            o = orders.get(ref)
            if len(cs) > 1:
                problems.append("order %s charged %d times" % (ref, len(cs)))
            if o is None:
                problems.append("charge %d for unknown order %s" % (cs[0]["id"], ref))
            elif o["t"] < settled and o["told"] != "ok":
                problems.append("order %s charged but the customer was not told it was paid (%s)"
                                % (ref, o["told"] or "no answer"))
        for o in orders.values():
            if o["told"] == "ok" and o["id"] not in live and o["t"] < settled:
                problems.append("order %s shown paid but not charged" % o["id"])
        n_refunds = sum(1 for c in charges if c["refunded"])
        self._verdict(h, "money", problems, "%d orders, %d charges, %d refunded"
                      % (len(orders), len(charges), n_refunds))

    def audit_transfers(self, h):
        try:
            transfers = self._fetch(TRANSFER + "/transfers?merchant=" + self.merchant)["transfers"]
        except HTTPFailure as e:
            return h.reply(503, "transfers: cannot read the ledger: %s" % e, reason="ledger unreachable")
        settled = time.time() - IN_FLIGHT
        by_memo = {}
        problems = []
        for t in transfers:
            by_memo.setdefault(t["memo"], []).append(t)
            if t["n_entries"] != 2 or t["balance"] != 0:
                problems.append("transfer %d is one-sided" % t["id"])
        reqs = self.store.query("SELECT * FROM transfer_requests")
        for r in reqs:
            n = len(by_memo.get(r["id"], []))
            if n > 1:
                problems.append("request %s moved money %d times" % (r["id"], n))
            elif r["told"] == "ok" and n == 0 and r["t"] < settled:
                problems.append("request %s shown done but never moved money" % r["id"])
            elif n == 1 and r["t"] < settled and r["told"] != "ok" and r["status"] != "completed-late":
                problems.append("request %s moved money but the customer was told otherwise (%s)"
                                % (r["id"], r["told"] or "no answer"))
        self._verdict(h, "transfers", problems, "%d requests, %d transfers"
                      % (len(reqs), len(transfers)))

    def audit_notices(self, h):
        try:
            msgs = self._fetch(BIZCHANNEL + "/messages?merchant=" + self.merchant)["messages"]
        except HTTPFailure as e:
            return h.reply(503, "notices: cannot read the channel: %s" % e, reason="channel unreachable")
        delivered = {m["ref"] for m in msgs}
        settled = time.time() - IN_FLIGHT
        problems = []
        for o in self.store.query("SELECT id FROM orders WHERE told = 'ok' AND t < ?", (settled,)):
            if o["id"] not in delivered:
                problems.append("order %s paid but its notice was never delivered" % o["id"])
        queued = self.store.one("SELECT COUNT(*) AS n FROM outbox WHERE delivered = 0 AND t < ?",
                                (settled,))["n"]
        if queued:
            problems.append("%d notice(s) still queued" % queued)
        self._verdict(h, "notices", problems, "%d delivered" % len(msgs))

    def audit_rides(self, h):
        """The scooter of 2022-10-15: the rider could not end the rental and
        the fare kept growing. Graceful is the meter stopping at the rider's
        word, whatever the dependencies do."""
        now = time.time()
        settled = now - IN_FLIGHT
        problems = []
        rides = self.store.query("SELECT * FROM rides")
        for r in rides:
            if r["t"] >= settled:
                continue
            if r["ended"] is None:
                problems.append("ride %s: the meter is still running %.1f s after the rider "
                                "asked to end it" % (r["id"], now - r["t"]))
            elif r["ended"] - r["t"] > METER_SLACK:
                problems.append("ride %s: the meter ran %.1f s after the rider asked to end it "
                                "(fare %d instead of %d)"
                                % (r["id"], r["ended"] - r["t"], r["fare"],
                                   round((r["t"] - r["started"]) * FARE_PER_SECOND)))
            if r["status"] == "ended-locally":
                problems.append("ride %s ended without the account and never confirmed since"
                                % r["id"])
        ended = sum(1 for r in rides if r["ended"] is not None)
        self._verdict(h, "rides", problems, "%d rides, %d ended" % (len(rides), ended))
