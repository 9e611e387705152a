"""pyzmq's ThreadAuthenticator under the same ZAP load as benches/auth (issue #8).

Usage: python pyzmq_auth.py MODE CERT_DIR REQUESTS WARMUP INFLIGHT
MODE:  null      NULL requests
       plain     PLAIN with 1,000 users (configure_plain)
       curve     CURVE with the certificate directory CERT_DIR (configure_curve)
       callback  CURVE with a credentials provider backed by a set of the same keys
       load      zmq.auth.load_certificates(CERT_DIR), median of 5
Prints one line "MODE VALUE UNIT". A measurement stops after REQUESTS replies or 10 s
after the warm-up, whichever comes first.

The load generator is a DEALER connected to inproc://zeromq.zap.01 in the
authenticator's context, sending ["", "1.0", "1", "global", "127.0.0.1", "",
MECHANISM, creds...] with INFLIGHT requests outstanding, as the Rust benchmark does.
It runs in the same process (it has to: ZAP is per context), so it shares the GIL with
the authenticator thread; it blocks in recv (GIL released) most of the time.
"""

import logging
import statistics
import sys
import time

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

ZAP = "inproc://zeromq.zap.01"
DOMAIN = "global"
TIME_LIMIT = 10.0


def drive(ctx, mechanism, creds, warmup, n, inflight):
    d = ctx.socket(zmq.DEALER)
    d.linger = 0
    d.rcvtimeo = 30_000
    d.connect(ZAP)
    base = [b"", b"1.0", b"1", DOMAIN.encode(), b"127.0.0.1", b"", mechanism]
    requests = [base + list(c) for c in creds]
    total = warmup + n
    sent = received = 0
    while sent < min(inflight, total):
        d.send_multipart(requests[sent % len(requests)])
        sent += 1
    start = time.perf_counter()
    while received < total:
        reply = d.recv_multipart()
        if len(reply) != 7 or reply[3] != b"200":
            raise SystemExit(f"reply {received}: {reply[3:5]!r}, expected 200")
        received += 1
        if received == warmup:
            start = time.perf_counter()
        if received > warmup and time.perf_counter() - start > TIME_LIMIT:
            break
        if sent < total:
            d.send_multipart(requests[sent % len(requests)])
            sent += 1
    rate = (received - warmup) / (time.perf_counter() - start)
    d.close()
    return rate


class SetProvider:
    def __init__(self, keys):
        self.keys = keys

    def callback(self, domain, key):
        return key in self.keys


def main():
    if len(sys.argv) != 6:
        raise SystemExit(__doc__)
    mode, cert_dir = sys.argv[1], sys.argv[2]
    n, warmup, inflight = (int(x) for x in sys.argv[3:6])
    logging.getLogger("zmq.auth").setLevel(logging.WARNING)

    if mode == "load":
        times = []
        for _ in range(5):
            t = time.perf_counter()
            zmq.auth.load_certificates(cert_dir)
            times.append(time.perf_counter() - t)
        print(f"load {statistics.median(times) * 1e3:.3f} ms")
        return

    ctx = zmq.Context()
    auth = ThreadAuthenticator(ctx)
    auth.start()
    if mode == "null":
        mechanism, creds = b"NULL", [[]]
    elif mode == "plain":
        users = {f"user{i:04d}": f"password-{i:04d}" for i in range(1000)}
        auth.configure_plain(domain=DOMAIN, passwords=users)
        mechanism = b"PLAIN"
        creds = [[u.encode(), p.encode()] for u, p in users.items()]
    elif mode in ("curve", "callback"):
        keys = list(zmq.auth.load_certificates(cert_dir))  # Z85 bytes
        if mode == "curve":
            auth.configure_curve(domain=DOMAIN, location=cert_dir)
        else:
            auth.configure_curve_callback(domain=DOMAIN, credentials_provider=SetProvider(set(keys)))
        mechanism = b"CURVE"
        creds = [[zmq.utils.z85.decode(k)] for k in keys]
    else:
        raise SystemExit(f"unknown mode {mode}")
    rate = drive(ctx, mechanism, creds, warmup, n, inflight)
    auth.stop()
    ctx.term()
    print(f"{mode} {rate:.0f} /s")


if __name__ == "__main__":
    main()
