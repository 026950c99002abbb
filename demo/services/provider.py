# SPDX-License-Identifier: MIT
"""The messenger company's side of the demo, and the card acquirer: one
role per process.

  login       "log in with <messenger>": the shared account system
  pay         the payment service: a real ledger of charges (SQLite)
  transfer    in-chat money transfer: debits and credits in the same ledger,
              then a receipt in the receiver's chat (through the messenger)
  messenger   chat messages (transfer receipts land here)
  bizchannel  business channels: merchants' order notices to customers
  media       image and video sending in chat (the fire's reports name it
              apart: still recovering when text messages were back)
  card        a card acquirer of another company: the second payment method

Usage: provider.py ROLE PORT ADDRESS...

Every write that a caller may repeat takes an optional idempotency `key`:
with it a repeat returns the first result, without it every call writes
again. That is the whole difference between a safe and a doubling retry.
"""
import sqlite3
import time
import urllib.parse
import uuid

from common import HTTPFailure, Store, call, service_args, log, periodic, serve

MESSENGER = "http://10.70.0.30:8080"

LEDGER_SCHEMA = """
CREATE TABLE IF NOT EXISTS charges (
    id INTEGER PRIMARY KEY, merchant TEXT NOT NULL, order_ref TEXT NOT NULL,
    amount INTEGER NOT NULL, key TEXT UNIQUE, refunded INTEGER NOT NULL DEFAULT 0,
    t REAL NOT NULL);
CREATE TABLE IF NOT EXISTS transfers (
    id INTEGER PRIMARY KEY, merchant TEXT NOT NULL, memo TEXT NOT NULL,
    src TEXT NOT NULL, dst TEXT NOT NULL, amount INTEGER NOT NULL, key TEXT UNIQUE,
    receipt_delivered INTEGER NOT NULL DEFAULT 0, t REAL NOT NULL);
-- Double entry: a transfer is two rows, written in one transaction with it.
CREATE TABLE IF NOT EXISTS entries (
    transfer_id INTEGER NOT NULL, account TEXT NOT NULL, delta INTEGER NOT NULL);
"""

MESSAGES_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY, merchant TEXT, ref TEXT, recipient TEXT, text TEXT,
    key TEXT UNIQUE, t REAL NOT NULL);
"""


class Login:
    name = "login"

    def __init__(self):
        self.routes = {("GET", "/health"): self.health, ("GET", "/authorize"): self.authorize}

    def health(self, h):
        h.reply(200, {"ok": True, "role": self.name})

    def authorize(self, h):
        user = h.query.get("user", "demo-user")
        h.reply(200, {"user": user, "token": "msg-" + uuid.uuid4().hex[:16]})


class Pay:
    """Charges, refunds and their listing. The card acquirer is the same code
    with its own database: another company's ledger."""

    def __init__(self, name):
        self.name = name
        self.store = Store(name, LEDGER_SCHEMA)
        self.routes = {
            ("GET", "/health"): self.health,
            ("POST", "/charge"): self.charge,
            ("POST", "/refund"): self.refund,
            ("GET", "/charges"): self.charges,
            ("GET", "/charges/by-key"): self.by_key,
        }

    def health(self, h):
        h.reply(200, {"ok": True, "role": self.name})

    def charge(self, h):
        j = h.json
        key = j.get("key")
        try:
            cid = self.store.execute(
                "INSERT INTO charges (merchant, order_ref, amount, key, t) VALUES (?,?,?,?,?)",
                (j["merchant"], j["order"], int(j["amount"]), key, time.time()))
        except sqlite3.IntegrityError:
            # The same key again: the caller retried. Answer the first result.
            row = self.store.one("SELECT id FROM charges WHERE key = ?", (key,))
            return h.reply(200, {"charge": row["id"], "duplicate": True})
        h.reply(200, {"charge": cid})

    def refund(self, h):
        self.store.execute("UPDATE charges SET refunded = 1 WHERE id = ? AND merchant = ?",
                           (int(h.json["charge"]), h.json["merchant"]))
        h.reply(200, {"refunded": int(h.json["charge"])})

    def charges(self, h):
        h.reply(200, {"charges": self.store.query(
            "SELECT * FROM charges WHERE merchant = ? ORDER BY id", (h.query.get("merchant"),))})

    def by_key(self, h):
        row = self.store.one("SELECT * FROM charges WHERE key = ?", (h.query.get("key"),))
        h.reply(200, {"charge": row})


class Transfer:
    """In-chat transfer. The money moves in one transaction (both sides or
    neither); then the receiver's chat gets a receipt. If the messenger does
    not answer within 1 s, the transfer is still done and this says so with
    504 and "committed": true, and the receipt is retried in the background.
    That honest 504 is what turns a blind retry into a second transfer.

    GET /audit/receipts: 200 when every transfer has its receipt in the
    receiver's chat, as the messenger itself lists it (incident 1: transfers
    "sent" that the receiver could not see); 409 otherwise."""

    name = "transfer"

    def __init__(self):
        self.store = Store("pay", LEDGER_SCHEMA)  # the payment service's ledger
        self.routes = {
            ("GET", "/health"): self.health,
            ("POST", "/transfer"): self.transfer,
            ("GET", "/transfers"): self.transfers,
            ("GET", "/transfers/by-key"): self.by_key,
            ("GET", "/audit/receipts"): self.audit_receipts,
        }
        periodic(1.0, self.deliver_receipts, "transfer-receipts")

    def health(self, h):
        h.reply(200, {"ok": True, "role": self.name})

    def transfer(self, h):
        j = h.json
        key, amount = j.get("key"), int(j["amount"])
        try:
            with self.store.transaction() as db:
                tid = db.execute(
                    "INSERT INTO transfers (merchant, memo, src, dst, amount, key, t) "
                    "VALUES (?,?,?,?,?,?,?)",
                    (j["merchant"], j["memo"], j["from"], j["to"], amount, key,
                     time.time())).lastrowid
                db.execute("INSERT INTO entries VALUES (?,?,?)", (tid, j["from"], -amount))
                db.execute("INSERT INTO entries VALUES (?,?,?)", (tid, j["to"], amount))
        except sqlite3.IntegrityError:
            row = self.store.one("SELECT id FROM transfers WHERE key = ?", (key,))
            return h.reply(200, {"transfer": row["id"], "duplicate": True})
        if self.send_receipt(tid, j["to"], amount):
            return h.reply(200, {"transfer": tid})
        h.reply(504, {"error": "receipt-timeout", "transfer": tid, "committed": True})

    def send_receipt(self, tid, to, amount):
        try:
            call("POST", MESSENGER + "/chat",
                 {"recipient": to, "text": "you received %d" % amount,
                  "key": "transfer-%d" % tid, "ref": str(tid)}, timeout=1.0)
        except HTTPFailure:
            return False
        self.store.execute("UPDATE transfers SET receipt_delivered = 1 WHERE id = ?", (tid,))
        return True

    def deliver_receipts(self):
        for t in self.store.query("SELECT id, dst, amount FROM transfers "
                                  "WHERE receipt_delivered = 0 AND t < ? LIMIT 20",
                                  (time.time() - 2,)):
            if not self.send_receipt(t["id"], t["dst"], t["amount"]):
                return  # the messenger is still away: try again next round

    def audit_receipts(self, h):
        # Transfers younger than 5 s may still have their receipt in flight.
        transfers = self.store.query("SELECT id, dst FROM transfers WHERE t < ?",
                                     (time.time() - 5,))
        seen = {}
        for dst in sorted({t["dst"] for t in transfers}):
            try:
                msgs = call("GET", MESSENGER + "/messages?recipient=" + urllib.parse.quote(dst),
                            timeout=5)["messages"]
            except HTTPFailure as e:
                return h.reply(503, {"error": "cannot read the chat: %s" % e})
            seen[dst] = {m["key"] for m in msgs}
        missing = ["transfer %d: %s never saw it" % (t["id"], t["dst"])
                   for t in transfers if "transfer-%d" % t["id"] not in seen[t["dst"]]]
        if missing:
            reason = "receipts: %d transfer(s) the receiver cannot see: %s" % (
                len(missing), "; ".join(missing[:3]))
            return h.reply(409, {"error": reason, "missing": missing}, reason=reason[:300])
        h.reply(200, {"ok": True, "transfers": len(transfers)})

    def transfers(self, h):
        rows = self.store.query(
            "SELECT t.*, (SELECT COUNT(*) FROM entries e WHERE e.transfer_id = t.id) AS n_entries, "
            "(SELECT COALESCE(SUM(delta), 0) FROM entries e WHERE e.transfer_id = t.id) AS balance "
            "FROM transfers t WHERE merchant = ? ORDER BY id", (h.query.get("merchant"),))
        h.reply(200, {"transfers": rows})

    def by_key(self, h):
        h.reply(200, {"transfer": self.store.one("SELECT * FROM transfers WHERE key = ?",
                                                 (h.query.get("key"),))})


class Messages:
    """The messenger's chat, or its business channel: store a message, list
    them. A key makes a repeated send land once."""

    def __init__(self, name, path):
        self.name = name
        self.store = Store(name, MESSAGES_SCHEMA)
        self.routes = {
            ("GET", "/health"): self.health,
            ("POST", path): self.post,
            ("GET", "/messages"): self.messages,
        }

    def health(self, h):
        h.reply(200, {"ok": True, "role": self.name})

    def post(self, h):
        j = h.json
        try:
            mid = self.store.execute(
                "INSERT INTO messages (merchant, ref, recipient, text, key, t) VALUES (?,?,?,?,?,?)",
                (j.get("merchant"), j.get("ref"), j.get("recipient"), j.get("text"),
                 j.get("key"), time.time()))
        except sqlite3.IntegrityError:
            return h.reply(200, {"duplicate": True})
        h.reply(200, {"message": mid})

    def messages(self, h):
        """GET /messages?merchant=M, or ?recipient=R (a person's chat)."""
        col = "recipient" if "recipient" in h.query else "merchant"
        h.reply(200, {"messages": self.store.query(
            "SELECT * FROM messages WHERE %s = ? ORDER BY id" % col, (h.query.get(col),))})


def main():
    a = service_args()
    role, port, addrs = a[0], int(a[1]), a[2:]
    service = {
        "login": Login,
        "pay": lambda: Pay("pay"),
        "card": lambda: Pay("card"),
        "transfer": Transfer,
        "messenger": lambda: Messages("messenger", "/chat"),
        "bizchannel": lambda: Messages("bizchannel", "/notify"),
        "media": lambda: Messages("media", "/media"),
    }[role]()
    log(role, "started")
    serve(service, addrs, port)


if __name__ == "__main__":
    main()
