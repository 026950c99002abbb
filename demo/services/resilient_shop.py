# SPDX-License-Identifier: MIT
"""The resilient shop: what the large e-commerce sites that "reported almost
no impact" on 2022-10-15 did (incidents.md, incident 1).

  - timeouts everywhere: every call has a deadline, so every answer comes
    within about 2 s, success or clear failure (503 and a reason)
  - a circuit breaker per dependency: after 3 failures in a row it stops
    calling for 2 s, then lets one call through to see if it is back; a dead
    dependency costs nothing and is not hammered
  - retries with exponential backoff and jitter, always with an idempotency
    key, so a retry of a call that did go through does not do it twice
  - login: the messenger, else the shop's own password login
  - payment: the messenger's pay, else a card (another company)
  - ending a scooter ride: the meter stops when the rider asks; if the
    rider's account (the messenger's login) does not answer, the ride ends
    here and is confirmed with the account after recovery
  - notices: written to an outbox in the same transaction as the payment and
    sent by a background thread, so checkout never waits on the messenger
  - a reconciler that, after recovery, refunds charges of attempts that did go
    through when the order was paid another way or failed, and tells the
    customer about transfers that went through after all

Markers in the answers (what `fallback:` expectations look for):
  fallback=local-login   logged in without the messenger
  fallback=card          paid with the second payment method
  fallback=ended-locally a ride ended without the rider's account
"""
import random
import threading
import time

from common import HTTPFailure, call, service_args, log, periodic, serve
import shop
from shop import AMOUNT, BIZCHANNEL, CARD, LOGIN, PAY, TRANSFER


class Unavailable(Exception):
    pass


class Breaker:
    """Closed: calls go through. 3 failures in a row: open for 2 s, calls
    fail at once. Then half-open: one call goes through; success closes."""

    def __init__(self, name, threshold=3, cooldown=2.0):
        self.name, self.threshold, self.cooldown = name, threshold, cooldown
        self.failures, self.opened, self.trial = 0, 0.0, False
        self.lock = threading.Lock()

    def ready(self):
        """Would a call go through now? Unlike allow(), takes nothing."""
        with self.lock:
            return self.failures < self.threshold or (
                time.monotonic() - self.opened >= self.cooldown and not self.trial)

    def allow(self):
        """Takes the right to call; every True must be followed by record()."""
        with self.lock:
            if self.failures < self.threshold:
                return True
            if time.monotonic() - self.opened >= self.cooldown and not self.trial:
                self.trial = True  # half-open: this one call finds out
                return True
            return False

    def record(self, ok):
        with self.lock:
            self.trial = False
            if ok:
                if self.failures >= self.threshold:
                    log("resilient", "breaker %s closed", self.name)
                self.failures = 0
            else:
                self.failures += 1
                if self.failures >= self.threshold:
                    if self.failures == self.threshold:
                        log("resilient", "breaker %s open", self.name)
                    self.opened = time.monotonic()


class ResilientShop(shop.Shop):
    merchant = "resilient"

    def __init__(self):
        super().__init__()
        self.breakers = {d: Breaker(d) for d in ("login", "pay", "card", "transfer", "bizchannel")}
        periodic(0.3, self.send_outbox, "outbox")
        periodic(1.0, self.reconcile, "reconcile")

    def guarded(self, dep, method, url, body=None, deadline=0.9, attempt_timeout=0.5):
        """Calls a dependency within `deadline` seconds in all: attempts of at
        most `attempt_timeout`, backoff 50 ms, 100 ms, ... with jitter. A
        4xx answer is final (retrying would not change it)."""
        b = self.breakers[dep]
        end = time.monotonic() + deadline
        delay = 0.05
        while True:
            if not b.allow():
                raise Unavailable(dep + " unavailable (circuit open)")
            left = end - time.monotonic()
            try:
                r = call(method, url, body, timeout=min(attempt_timeout, max(left, 0.05)))
                b.record(True)
                return r
            except HTTPFailure as e:
                if e.status and 400 <= e.status < 500:
                    b.record(True)  # it answered: the dependency is up
                    raise Unavailable("%s refused: %s" % (dep, e.text))
                b.record(False)
                pause = delay * random.uniform(0.5, 1.5)
                if time.monotonic() + pause + 0.05 >= end:
                    raise Unavailable("%s unavailable: %s" % (dep, e))
                time.sleep(pause)
                delay *= 2

    # ---- login ------------------------------------------------------------------------

    def login(self, h):
        user = h.query.get("user", "demo-user")
        try:
            self.guarded("login", "GET", LOGIN + "/authorize?user=" + user, deadline=0.8)
            return h.reply(200, "login ok user=%s via=messenger" % user)
        except Unavailable as e:
            # The shop's own accounts: the messenger is one way in, not the only one.
            return h.reply(200, "login ok user=%s via=password fallback=local-login (%s)" % (user, e))

    def login_messenger(self, h):
        user = h.query.get("user", "demo-user")
        try:
            self.guarded("login", "GET", LOGIN + "/authorize?user=" + user, deadline=0.8)
            h.reply(200, "login ok user=%s via=messenger" % user)
        except Unavailable as e:
            h.reply(503, "provider-unavailable: log in with the messenger is down, "
                         "use your password (%s)" % e)

    # ---- checkout ---------------------------------------------------------------------

    def checkout(self, h):
        oid = self.new_order()
        body = {"merchant": self.merchant, "order": oid, "amount": AMOUNT, "key": oid}
        paid, why, tried = None, [], []
        for method, dep, base in (("messenger-pay", "pay", PAY), ("card", "card", CARD)):
            if not self.breakers[dep].ready():
                why.append(dep + " circuit open")
                continue
            tried.append(method)
            self.store.execute("UPDATE orders SET tried = ? WHERE id = ?", (",".join(tried), oid))
            try:
                self.guarded(dep, "POST", base + "/charge", body)
                paid = method
                break
            except Unavailable as e:
                why.append(str(e))
        if not paid:
            self.store.execute("UPDATE orders SET status = 'failed' WHERE id = ?", (oid,))
            return self.answer(h, 503, "payment-unavailable: order %s not charged, please try "
                               "again later (%s)" % (oid, "; ".join(why)), "orders", oid)
        # Paid: the order and its notice are written together; the notice
        # goes out when the messenger's business channel can take it.
        with self.store.transaction() as db:
            db.execute("UPDATE orders SET status = 'paid', method = ? WHERE id = ?", (paid, oid))
            db.execute("INSERT INTO outbox (id, ref, text, t) VALUES (?,?,?,?)",
                       ("notice-" + oid, oid, "order %s is confirmed" % oid, time.time()))
        marker = " fallback=card" if paid == "card" else ""
        self.answer(h, 200, "order %s paid via=%s notice=queued%s" % (oid, paid, marker),
                    "orders", oid)

    # ---- transfer ---------------------------------------------------------------------

    def transfer(self, h):
        rid = self.new_transfer_request()
        body = {"merchant": self.merchant, "memo": rid, "from": "user-a", "to": "user-b",
                "amount": 1000, "key": rid}
        try:
            self.guarded("transfer", "POST", TRANSFER + "/transfer", body)
        except Unavailable as e:
            # Unknown, not failed: an attempt may have gone through. The
            # reconciler finds out after recovery and tells the customer.
            self.store.execute("UPDATE transfer_requests SET status = 'unknown' WHERE id = ?", (rid,))
            return self.answer(h, 503, "transfer-unavailable: not confirmed; you will be "
                               "notified if it went through (%s)" % e, "transfer_requests", rid)
        self.store.execute("UPDATE transfer_requests SET status = 'done' WHERE id = ?", (rid,))
        self.answer(h, 200, "transfer %s done" % rid, "transfer_requests", rid)

    # ---- ending a ride -----------------------------------------------------------------

    def ride(self, h):
        rid = self.new_ride()
        asked = time.time()
        try:
            self.guarded("login", "GET", LOGIN + "/authorize?user=rider", deadline=0.8)
            status, note = "ended", ""
        except Unavailable as e:
            # The account system is away: the rider's word is enough to stop
            # the meter; the account hears of it after recovery.
            status, note = "ended-locally", " fallback=ended-locally (%s)" % e
        fare = self.stop_meter(rid, asked, status)
        self.answer(h, 200, "ride %s ended, fare %d%s" % (rid, fare, note), "rides", rid)

    # ---- after the fact ---------------------------------------------------------------

    def send_outbox(self):
        """Drains the outbox, oldest first, until it is empty or the channel
        stops answering (after an outage the backlog goes out at once)."""
        while True:
            batch = self.store.query("SELECT * FROM outbox WHERE delivered = 0 ORDER BY t LIMIT 50")
            if not batch:
                return
            for n in batch:
                try:
                    # The notice id is the key: a resend after a lost answer lands once.
                    self.guarded("bizchannel", "POST", BIZCHANNEL + "/notify",
                                 {"merchant": self.merchant, "ref": n["ref"], "recipient": "customer",
                                  "text": n["text"], "key": n["id"]}, deadline=0.5)
                except Unavailable:
                    return  # still away; the breaker spaces out the next tries
                self.store.execute("UPDATE outbox SET delivered = 1 WHERE id = ?", (n["id"],))

    def reconcile(self):
        """Attempts whose answer never came may have gone through: ask by
        key once the dependency answers, and undo or announce. Only work
        older than 2 s: a request sent late may still be landing."""
        for o in self.store.query("SELECT * FROM orders WHERE reconciled = 0 AND tried != '' "
                                  "AND status != 'pending' AND t < ? LIMIT 50", (time.time() - 2,)):
            for method in o["tried"].split(","):
                if method == o["method"]:
                    continue  # the method that paid: its charge is the order's
                base, dep = (PAY, "pay") if method == "messenger-pay" else (CARD, "card")
                try:
                    c = self.guarded(dep, "GET", base + "/charges/by-key?key=" + o["id"])["charge"]
                    if c and not c["refunded"]:
                        self.guarded(dep, "POST", base + "/refund",
                                     {"merchant": self.merchant, "charge": c["id"]})
                        log("resilient", "refunded charge %d of order %s (%s)", c["id"], o["id"], method)
                except Unavailable:
                    return
            self.store.execute("UPDATE orders SET reconciled = 1 WHERE id = ?", (o["id"],))
        for r in self.store.query("SELECT id FROM rides WHERE status = 'ended-locally' "
                                  "AND t < ? LIMIT 50", (time.time() - 2,)):
            try:
                self.guarded("login", "GET", LOGIN + "/authorize?user=rider")
            except Unavailable:
                return
            self.store.execute("UPDATE rides SET status = 'ended' WHERE id = ?", (r["id"],))
        for r in self.store.query("SELECT * FROM transfer_requests WHERE status = 'unknown' "
                                  "AND t < ? LIMIT 50", (time.time() - 2,)):
            try:
                t = self.guarded("transfer", "GET", TRANSFER + "/transfers/by-key?key=" + r["id"])["transfer"]
            except Unavailable:
                return
            if t:
                with self.store.transaction() as db:
                    db.execute("UPDATE transfer_requests SET status = 'completed-late' WHERE id = ?", (r["id"],))
                    db.execute("INSERT INTO outbox (id, ref, text, t) VALUES (?,?,?,?)",
                               ("late-" + r["id"], r["id"], "your transfer %s went through" % r["id"], time.time()))
            else:
                self.store.execute("UPDATE transfer_requests SET status = 'cancelled' WHERE id = ?", (r["id"],))


if __name__ == "__main__":
    a = service_args()
    serve(ResilientShop(), a[1:], int(a[0]))
