#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the observer's pcap fixtures: exact nanosecond timestamps, so the
tests' known answers are exact. Deterministic: the same bytes every run
(ctest observe/fixtures checks the committed files against a fresh run).

    gen-fixtures.py OUTDIR

Every timestamp is T0 + an offset; the tests set the observer's clock so
that CLOCK_REALTIME T0 is CLOCK_MONOTONIC T0, and feed phase events at
T0 + the scenario's `at`. The comments give what each file must measure;
tests/observe/test-observe.c asserts exactly that.
"""
import os
import struct
import sys

T0 = 1000 * 10**9  # ns
MS = 10**6
S = 10**9

# Link types (pcap LINKTYPE_* values as written in the file header).
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_LINUX_SLL2 = 276

CLIENT4, API4, DNS4, OTHER4, ROUTER4 = "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.9", "10.0.0.254"
CLIENT6, API6, OTHER6 = "fd00::1", "fd00::2", "fd00::9"

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def ip4(a):
    return bytes(int(x) for x in a.split("."))


def ip6(a):
    import ipaddress
    return ipaddress.IPv6Address(a).packed


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def l4_csum(src, dst, proto, seg):
    if len(src) == 4:
        pseudo = src + dst + struct.pack("!BBH", 0, proto, len(seg))
    else:
        pseudo = src + dst + struct.pack("!IxxxB", len(seg), proto)
    return csum(pseudo + seg)


def tcp_seg(src, dst, sport, dport, seq, ack, flags, data=0):
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      5 << 4, flags, 65535, 0, 0)
    seg = hdr + bytes(data)
    c = l4_csum(src, dst, 6, seg)
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def udp_dgram(src, dst, sport, dport, data=0):
    seg = struct.pack("!HHHH", sport, dport, 8 + data, 0) + bytes(data)
    c = l4_csum(src, dst, 17, seg) or 0xFFFF
    return seg[:6] + struct.pack("!H", c) + seg[8:]


def ipv4(src, dst, proto, payload, ident=1):
    s, d = ip4(src), ip4(dst)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0x4000, 64, proto, 0, s, d)
    return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:] + payload


def ipv6(src, dst, nh, payload):
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), nh, 64, ip6(src), ip6(dst)) + payload


def tcp(src, dst, sport, dport, seq, ack, flags, data=0):
    if ":" in src:
        return ipv6(src, dst, 6, tcp_seg(ip6(src), ip6(dst), sport, dport, seq, ack, flags, data))
    return ipv4(src, dst, 6, tcp_seg(ip4(src), ip4(dst), sport, dport, seq, ack, flags, data))


def udp(src, dst, sport, dport, data=0):
    if ":" in src:
        return ipv6(src, dst, 17, udp_dgram(ip6(src), ip6(dst), sport, dport, data))
    return ipv4(src, dst, 17, udp_dgram(ip4(src), ip4(dst), sport, dport, data))


def icmp4_unreach(src, dst, code, quoted):
    body = struct.pack("!BBHI", 3, code, 0, 0) + quoted[:28]
    body = body[:2] + struct.pack("!H", csum(body)) + body[4:]
    return ipv4(src, dst, 1, body)


def icmp6_unreach(src, dst, code, quoted):
    body = struct.pack("!BBHI", 1, code, 0, 0) + quoted[:48]
    c = l4_csum(ip6(src), ip6(dst), 58, body)
    body = body[:2] + struct.pack("!H", c) + body[4:]
    return ipv6(src, dst, 58, body)


# ---- link layers --------------------------------------------------------------------------

def ethertype(pkt):
    return 0x86DD if pkt[0] >> 4 == 6 else 0x0800


def eth(pkt, vlan=None):
    hdr = b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01"
    if vlan is not None:
        hdr += struct.pack("!HH", 0x8100, vlan)
    return hdr + struct.pack("!H", ethertype(pkt)) + pkt


def sll(pkt, outgoing=True):
    return struct.pack("!HHH8sH", 4 if outgoing else 0, 1, 6, b"\x02\0\0\0\0\x01\0\0",
                       ethertype(pkt)) + pkt


def sll2(pkt, ifindex=2, outgoing=True):
    return struct.pack("!HHIHBB8s", ethertype(pkt), 0, ifindex, 1, 4 if outgoing else 0, 6,
                       b"\x02\0\0\0\0\x01\0\0") + pkt


def raw(pkt):
    return pkt


class Pcap:
    def __init__(self, path, linktype, wrap, snaplen=128):
        self.path, self.linktype, self.wrap, self.snaplen = path, linktype, wrap, snaplen
        self.recs = []

    def add(self, t_ns, pkt, **kw):
        self.recs.append((t_ns, self.wrap(pkt, **kw)))

    def write(self):
        # Nanosecond pcap (magic a1b23c4d), records in time order (stable for equal times).
        self.recs.sort(key=lambda r: r[0])
        with open(self.path, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, self.snaplen, self.linktype))
            for t, frame in self.recs:
                cap = frame[: self.snaplen]
                f.write(struct.pack("<IIII", t // S, t % S, len(cap), len(frame)))
                f.write(cap)


# ---- TCP conversations -----------------------------------------------------------------------

def handshake(p, t, c, s, cport, sport, rtt, isn=1000, sisn=5000, **kw):
    """SYN at t, SYN-ACK at t + rtt, ACK at t + rtt + 10 us. Returns the next client seq."""
    p.add(t, tcp(c, s, cport, sport, isn, 0, SYN), **kw)
    p.add(t + rtt, tcp(s, c, sport, cport, sisn, isn + 1, SYN | ACK), **kw)
    p.add(t + rtt + 10000, tcp(c, s, cport, sport, isn + 1, sisn + 1, ACK), **kw)


def exchange(p, t, c, s, cport, sport, rtt, gap, isn=1000, sisn=5000, **kw):
    """A whole connection: handshake, 100-byte request, 200-byte response gap later, FINs.

    Segments (sequence space): client SYN, request, FIN (3); server SYN-ACK, response, FIN (3).
    """
    handshake(p, t, c, s, cport, sport, rtt, isn, sisn, **kw)
    tr = t + rtt + 20000
    p.add(tr, tcp(c, s, cport, sport, isn + 1, sisn + 1, PSH | ACK, 100), **kw)
    p.add(tr + gap, tcp(s, c, sport, cport, sisn + 1, isn + 101, PSH | ACK, 200), **kw)
    p.add(tr + gap + MS, tcp(c, s, cport, sport, isn + 101, sisn + 201, FIN | ACK), **kw)
    p.add(tr + gap + 2 * MS, tcp(s, c, sport, cport, sisn + 201, isn + 102, FIN | ACK), **kw)
    p.add(tr + gap + 3 * MS, tcp(c, s, cport, sport, isn + 102, sisn + 202, ACK), **kw)


def delay_fixture(out):
    """delay.pcap (Ethernet): scenario api-slow (delay 50ms) from 1s to 2s.

    api (10.0.0.2:80), phase 0: 4 connections, handshake RTT 1,2,3,4 ms, response gap 5 ms.
    api, phase 1 (delay): 4 connections, RTT 51..54 ms, gap 55 ms.
    other (10.0.0.9:443 v4, [fd00::9]:443 v6): one connection each per phase, RTT 1 ms, gap 5 ms
    (untargeted and untouched). One frame of each api phase-0 connection's SYN carries an
    802.1Q tag (VLAN 7).
    """
    p = Pcap(os.path.join(out, "delay.pcap"), LINKTYPE_ETHERNET, eth)
    for i in range(4):
        t = T0 + 100 * MS + i * 100 * MS
        exchange(p, t, CLIENT4, API4, 40000 + i, 80, (i + 1) * MS, 5 * MS)
        t = T0 + 1100 * MS + i * 100 * MS
        exchange(p, t, CLIENT4, API4, 41000 + i, 80, (51 + i) * MS, 55 * MS)
    for ph in range(2):
        t = T0 + 50 * MS + ph * S
        exchange(p, t, CLIENT4, OTHER4, 42000 + ph, 443, MS, 5 * MS)
        exchange(p, t + 10 * MS, CLIENT6, OTHER6, 43000 + ph, 443, MS, 5 * MS)
    # The tagged frame: retag the first SYN.
    p.recs = [(t, eth(f[14:], vlan=7)) if (t == T0 + 100 * MS) else (t, f) for t, f in p.recs]
    p.write()


def retrans_fixture(out):
    """retrans.pcap (Linux cooked v1): scenario api-lossy (loss 20%) from 1s to 5s.

    Phase 0, api 40001: handshake (1 ms), 10 data segments of 100 bytes, one each ms. No resend.
      api: syn 1, connections 1, handshakes 1, rtt n 1 (1 ms);
      to_service segments 11 (SYN + 10), from_service 1 (SYN-ACK).
    Phase 0, other 10.0.0.9:443 port 44000: 20 data segments, then the first again (older than
      the 16 remembered: still a retransmission). other: to segments 22 (SYN + 21), retrans 1.
    Phase 1, api 40002: SYN at 1.1 s, SYN again at 2.1 s (the same ISN), SYN-ACK at 2.101 s.
      10 data segments; the 3rd seen again once; the 5th's original missing (lost before the
      capture point), sent after the 6th; the 7th seen again twice.
      api: syn 2, syn_retrans 1, connections 1, handshakes 1, rtt n 0 (Karn);
      to_service segments 15, retrans 4 (SYN + 3), out_of_order 1;
      loss (4 + 1) / 15.
    """
    p = Pcap(os.path.join(out, "retrans.pcap"), LINKTYPE_LINUX_SLL, sll)
    t = T0 + 100 * MS
    handshake(p, t, CLIENT4, API4, 40001, 80, MS)
    for k in range(10):
        p.add(t + 2 * MS + k * MS, tcp(CLIENT4, API4, 40001, 80, 1001 + 100 * k, 5001, ACK, 100))
        p.add(t + 2 * MS + k * MS + 500000, tcp(API4, CLIENT4, 80, 40001, 5001, 1101 + 100 * k, ACK))

    t = T0 + 300 * MS
    handshake(p, t, CLIENT4, OTHER4, 44000, 443, MS)
    for k in range(20):
        p.add(t + 2 * MS + k * MS, tcp(CLIENT4, OTHER4, 44000, 443, 1001 + 100 * k, 5001, ACK, 100))
    p.add(t + 30 * MS, tcp(CLIENT4, OTHER4, 44000, 443, 1001, 5001, ACK, 100))

    t = T0 + 1100 * MS
    p.add(t, tcp(CLIENT4, API4, 40002, 80, 7000, 0, SYN))
    p.add(t + S, tcp(CLIENT4, API4, 40002, 80, 7000, 0, SYN))
    p.add(t + S + MS, tcp(API4, CLIENT4, 80, 40002, 9000, 7001, SYN | ACK))
    p.add(t + S + MS + 10000, tcp(CLIENT4, API4, 40002, 80, 7001, 9001, ACK))
    base = t + S + 2 * MS
    order = [0, 1, 2, 2, 3, 5, 4, 6, 6, 6, 7, 8, 9]  # segment k; 4 after 5; 2 and 6 again
    for n, k in enumerate(order):
        p.add(base + n * MS, tcp(CLIENT4, API4, 40002, 80, 7001 + 100 * k, 9001, ACK, 100))
    p.write()


def reject_fixture(out):
    """reject.pcap (Linux cooked v2): scenario api-refuse (reject [api, dns]) from 1s to 3s.

    Phase 0: api: 2 connections answered (RTT 1 ms); dns (udp 10.0.0.3:53): 2 requests,
      answered after 2 ms and 4 ms.
    In flight when the reject began: an api SYN at 999 ms answered at 1000.5 ms, a dns request
      at 998 ms answered at 1002 ms: requests and handshakes of phase 0, not answers of phase 1.
    Phase 0, everything else: one UDP socket to 10.0.0.9:5353: a request answered after 2 ms,
      three requests 30 ms apart never answered, a last one answered after 1 ms (which must not
      pair with the stale ones): udp_requests 5, udp_answered 2, udp_gap 1 and 2 ms.
    Phase 1: api: 3 v4 SYNs answered by RST|ACK, 1 v6 SYN to [fd00::2]:80 answered by RST|ACK,
      1 v6 UDP datagram to [fd00::2]:80 refused by ICMPv6 port unreachable, 1 ICMP "fragmentation
      needed" quoting an api packet (path MTU, not a refusal);
      dns: 2 requests refused by ICMP port unreachable.
      api: connections 4, from_service rst 4, icmp_unreach 1, handshakes 0;
      dns: udp_requests 2, udp_answered 0, icmp_unreach 2; answers 0 (api and dns).
    """
    p = Pcap(os.path.join(out, "reject.pcap"), LINKTYPE_LINUX_SLL2, sll2)
    for i in range(2):
        t = T0 + 100 * MS + i * 100 * MS
        handshake(p, t, CLIENT4, API4, 40000 + i, 80, MS)
        p.add(t + 50 * MS, udp(CLIENT4, DNS4, 50000 + i, 53, 30))
        p.add(t + 50 * MS + (2 + 2 * i) * MS, udp(DNS4, CLIENT4, 53, 50000 + i, 60))
    p.add(T0 + 999 * MS, tcp(CLIENT4, API4, 40100, 80, 1000, 0, SYN))
    p.add(T0 + 1000 * MS + 500000, tcp(API4, CLIENT4, 80, 40100, 5000, 1001, SYN | ACK))
    p.add(T0 + 998 * MS, udp(CLIENT4, DNS4, 50100, 53, 30))
    p.add(T0 + 1002 * MS, udp(DNS4, CLIENT4, 53, 50100, 60))
    t = T0 + 500 * MS
    p.add(t, udp(CLIENT4, OTHER4, 52000, 5353, 20))
    p.add(t + 2 * MS, udp(OTHER4, CLIENT4, 5353, 52000, 20))
    for i in range(3):
        p.add(t + 100 * MS + i * 30 * MS, udp(CLIENT4, OTHER4, 52000, 5353, 20))
    p.add(t + 200 * MS, udp(CLIENT4, OTHER4, 52000, 5353, 20))
    p.add(t + 201 * MS, udp(OTHER4, CLIENT4, 5353, 52000, 20))
    for i in range(3):
        t = T0 + 1100 * MS + i * 100 * MS
        p.add(t, tcp(CLIENT4, API4, 41000 + i, 80, 3000, 0, SYN))
        p.add(t + MS, tcp(API4, CLIENT4, 80, 41000 + i, 0, 3001, RST | ACK))
    t = T0 + 1500 * MS
    p.add(t, tcp(CLIENT6, API6, 41100, 80, 3000, 0, SYN))
    p.add(t + MS, tcp(API6, CLIENT6, 80, 41100, 0, 3001, RST | ACK))
    q6 = udp(CLIENT6, API6, 41200, 80, 20)
    p.add(t + 10 * MS, q6)
    p.add(t + 11 * MS, icmp6_unreach(API6, CLIENT6, 4, q6))
    q4 = tcp(CLIENT4, API4, 41300, 80, 1, 1, ACK, 1400)
    p.add(t + 20 * MS, icmp4_unreach(ROUTER4, CLIENT4, 4, q4))
    for i in range(2):
        t = T0 + 1600 * MS + i * 100 * MS
        q = udp(CLIENT4, DNS4, 51000 + i, 53, 30)
        p.add(t, q)
        p.add(t + MS, icmp4_unreach(DNS4, CLIENT4, 3, q))
    p.write()


def storm_fixture(out):
    """storm.pcap (raw IP): scenario api-down (blackhole) from 2s, healed at 4s, end at 5s.

    api SYNs (new ISNs, never answered): 20 in [0, 2s) (10/s), 80 in [2s, 4s) (40/s) plus 10
    retransmitted SYNs (not attempts), 10 in [4s, 5s) (10/s).
    Ratios: fault window vs baseline 4000; [2s, 3s) vs [0, 2s) 4000; [4s, 5s) vs [0, 2s) 1000.
    """
    p = Pcap(os.path.join(out, "storm.pcap"), LINKTYPE_RAW, raw)
    port = 30000
    for i in range(20):
        p.add(T0 + 50 * MS + i * 100 * MS, tcp(CLIENT4, API4, port, 80, 100 + i, 0, SYN))
        port += 1
    for i in range(80):
        p.add(T0 + 2 * S + 12500000 + i * 25 * MS, tcp(CLIENT4, API4, port, 80, 200 + i, 0, SYN))
        if i < 10:
            p.add(T0 + 2 * S + 12500000 + i * 25 * MS + 10 * MS,
                  tcp(CLIENT4, API4, port, 80, 200 + i, 0, SYN))
        port += 1
    for i in range(10):
        p.add(T0 + 4 * S + 50 * MS + i * 100 * MS, tcp(CLIENT4, API4, port, 80, 300 + i, 0, SYN))
        port += 1
    p.write()


def router_fixture(out):
    """router.pcap (Linux cooked v2, two devices of a router): the storm scenario's api-down.

    Two clients, 10.0.1.1 (calm) and 10.0.1.2 (stormy), reach api (10.0.0.2:80) through a
    router captured on its client side (ifindex 2) and its api side (ifindex 3): every packet
    that crosses is seen twice, first on the device it comes in by, 10 us later on the one it
    leaves by. Counted once, where the client is: ifindex 2.
    Baseline [0, 2s): each client a handshake every 200 ms (10 each): SYN in on 2 at t, out
    on 3 at t+10us; SYN-ACK in on 3 at t+1ms, out on 2 at t+1.01ms; ACK in on 2 at t+1.02ms,
    out on 3 at t+1.03ms. api in phase 0: 20 connections, 20 handshakes, RTT 1.01 ms each.
    A flow seen first mid-way from the far side: api -> 10.0.1.1:40000 data on 3 only at
    10 ms (its first sighting: counted there), then client data in on 2 at 20 ms (the flow
    moves to 2) and out on 3 at 20.01 ms, api data in on 3 at 30 ms and out on 2 at 30.01 ms.
    Phase 0: to api 20 SYN + 20 ACK + 1 data = 41 packets, from api 20 + 2 = 22.
    Copies not counted again: 20 x 3 + 2 = 62.
    Fault [2s, 4s) (blackholed at the router: SYNs seen on 2 only): 10.0.1.1 one SYN per
    200 ms (10), 10.0.1.2 one per 50 ms (40), and 10.0.1.1 once more at 3.9 s, resent after
    the heal at 4.1 s and answered then (SYN-ACK in on 3 at 4.101 s, out on 2 10 us later):
    a handshake of the fault's phase, but an answer of the next one. Copies: 62 + 2 = 64.
    Retry ratios: 10.0.1.1 1100, 10.0.1.2 4000, api from everyone (51 vs 20) 2550.
    The blackhole: 0 answers while active, to 51 attempts; the late SYN-ACK answers no phase.
    Untargeted, on 2 only: 10.0.2.1:45000 -> 10.0.3.1:8080 and :45001, a handshake (1 ms) at
    0.5 s and at 2.5 s; the second one's client gives up at 2.6 s with a RST of its own: the
    fault's cascade, not the fault touching that traffic (blast radius: 0 rejects, untouched).
    """
    p = Pcap(os.path.join(out, "router.pcap"), LINKTYPE_LINUX_SLL2, sll2)
    calm, storm = "10.0.1.1", "10.0.1.2"
    US = 1000
    port = 31000
    for i in range(10):
        for c, off in ((calm, 0), (storm, 100 * MS)):
            t = T0 + 50 * MS + off + i * 200 * MS
            syn = tcp(c, API4, port, 80, 100 + i, 0, SYN)
            synack = tcp(API4, c, 80, port, 9000 + i, 101 + i, SYN | ACK)
            ack = tcp(c, API4, port, 80, 101 + i, 9001 + i, ACK)
            p.add(t, syn, ifindex=2, outgoing=False)
            p.add(t + 10 * US, syn, ifindex=3, outgoing=True)
            p.add(t + MS, synack, ifindex=3, outgoing=False)
            p.add(t + MS + 10 * US, synack, ifindex=2, outgoing=True)
            p.add(t + MS + 20 * US, ack, ifindex=2, outgoing=False)
            p.add(t + MS + 30 * US, ack, ifindex=3, outgoing=True)
            port += 1
    mid_s = tcp(API4, calm, 80, 40000, 7000, 500, PSH | ACK, 50)
    mid_c = tcp(calm, API4, 40000, 80, 500, 7050, PSH | ACK, 50)
    mid_s2 = tcp(API4, calm, 80, 40000, 7050, 550, PSH | ACK, 50)
    p.add(T0 + 10 * MS, mid_s, ifindex=3, outgoing=False)
    p.add(T0 + 20 * MS, mid_c, ifindex=2, outgoing=False)
    p.add(T0 + 20 * MS + 10 * US, mid_c, ifindex=3, outgoing=True)
    p.add(T0 + 30 * MS, mid_s2, ifindex=3, outgoing=False)
    p.add(T0 + 30 * MS + 10 * US, mid_s2, ifindex=2, outgoing=True)
    for i in range(10):
        p.add(T0 + 2 * S + 25 * MS + i * 200 * MS, tcp(calm, API4, port, 80, 300 + i, 0, SYN),
              ifindex=2, outgoing=False)
        port += 1
    for i in range(40):
        p.add(T0 + 2 * S + 12500000 + i * 50 * MS, tcp(storm, API4, port, 80, 400 + i, 0, SYN),
              ifindex=2, outgoing=False)
        port += 1
    for k, t in enumerate((T0 + 500 * MS, T0 + 2500 * MS)):
        handshake(p, t, "10.0.2.1", "10.0.3.1", 45000 + k, 8080, MS, ifindex=2, outgoing=False)
    p.add(T0 + 2600 * MS, tcp("10.0.2.1", "10.0.3.1", 45001, 8080, 1001, 5001, RST | ACK),
          ifindex=2, outgoing=False)
    late = tcp(calm, API4, port, 80, 600, 0, SYN)
    late_ack = tcp(API4, calm, 80, port, 9600, 601, SYN | ACK)
    p.add(T0 + 3900 * MS, late, ifindex=2, outgoing=False)
    p.add(T0 + 4100 * MS, late, ifindex=2, outgoing=False)
    p.add(T0 + 4100 * MS + 10 * US, late, ifindex=3, outgoing=True)
    p.add(T0 + 4101 * MS, late_ack, ifindex=3, outgoing=False)
    p.add(T0 + 4101 * MS + 10 * US, late_ack, ifindex=2, outgoing=True)
    p.write()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "fixtures")
    os.makedirs(out, exist_ok=True)
    delay_fixture(out)
    retrans_fixture(out)
    reject_fixture(out)
    storm_fixture(out)
    router_fixture(out)


if __name__ == "__main__":
    main()
