# SPDX-License-Identifier: MIT
"""The fragile shop: the merchants that broke on 2022-10-15 (incidents.md,
incident 1). It works perfectly while everything is up, which is why
nobody noticed.

  - no timeouts: every call waits as long as the kernel keeps trying
    (a silent partition: minutes of SYN retransmissions)
  - retries in a tight loop, without an idempotency key: an error answer is
    retried at once, up to 10 times, and a call that did go through (the
    transfer's "committed, receipt late" 504) is done again each time
  - login: the messenger only
  - payment: the messenger's pay only
  - a scooter ride ends when the rider's account (the messenger's login)
    confirms it; until then the meter runs
  - the order notice is sent synchronously inside checkout: no notice, no
    sale (and the payment is already taken)

It is judged by the same audits as the resilient shop (shop.py).
"""

import time

from common import HTTPFailure, call, service_args, serve
import shop
from shop import AMOUNT, BIZCHANNEL, LOGIN, PAY, TRANSFER

RETRIES = 10


def call_hard(method, url, body=None):
    """Again and again, at once, until it works or 10 tries are spent."""
    for attempt in range(RETRIES):
        try:
            return call(method, url, body)  # no timeout
        except HTTPFailure as e:
            last = e
    raise last


class FragileShop(shop.Shop):
    merchant = "fragile"

    def login(self, h):
        user = h.query.get("user", "demo-user")
        try:
            call_hard("GET", LOGIN + "/authorize?user=" + user)
        except HTTPFailure as e:
            return h.reply(500, "login failed: %s" % e)
        h.reply(200, "login ok user=%s via=messenger" % user)

    login_messenger = login  # the only way in

    def checkout(self, h):
        oid = self.new_order()
        try:
            call_hard("POST", PAY + "/charge",
                      {"merchant": self.merchant, "order": oid, "amount": AMOUNT})
            self.store.execute("UPDATE orders SET tried = 'messenger-pay', method = 'messenger-pay' "
                               "WHERE id = ?", (oid,))
            call_hard("POST", BIZCHANNEL + "/notify",
                      {"merchant": self.merchant, "ref": oid, "recipient": "customer",
                       "text": "order %s is confirmed" % oid})
        except HTTPFailure as e:
            self.store.execute("UPDATE orders SET status = 'failed' WHERE id = ?", (oid,))
            return self.answer(h, 500, "checkout failed: %s" % e, "orders", oid)
        self.store.execute("UPDATE orders SET status = 'paid' WHERE id = ?", (oid,))
        self.answer(h, 200, "order %s paid via=messenger-pay" % oid, "orders", oid)

    def transfer(self, h):
        rid = self.new_transfer_request()
        try:
            call_hard("POST", TRANSFER + "/transfer",
                      {"merchant": self.merchant, "memo": rid, "from": "user-a", "to": "user-b",
                       "amount": 1000})
        except HTTPFailure as e:
            self.store.execute("UPDATE transfer_requests SET status = 'failed' WHERE id = ?", (rid,))
            return self.answer(h, 500, "transfer failed: %s" % e, "transfer_requests", rid)
        self.store.execute("UPDATE transfer_requests SET status = 'done' WHERE id = ?", (rid,))
        self.answer(h, 200, "transfer %s done" % rid, "transfer_requests", rid)

    def ride(self, h):
        rid = self.new_ride()
        try:
            call_hard("GET", LOGIN + "/authorize?user=rider")
        except HTTPFailure as e:
            return self.answer(h, 500, "ride %s cannot be ended: %s" % (rid, e), "rides", rid)
        # The meter stops when the account says so, not when the rider asked.
        fare = self.stop_meter(rid, time.time(), "ended")
        self.answer(h, 200, "ride %s ended, fare %d" % (rid, fare), "rides", rid)


if __name__ == "__main__":
    a = service_args()
    serve(FragileShop(), a[1:], int(a[0]))
