"""A pyzmq client (pyzmq's own bundled libzmq, in its own process) for the
authentication tests in tests/interop_pyzmq.rs.

    client.py ENDPOINT MESSAGE null|plain|curve [options]

    --username NAME        PLAIN user name
    --password-env VAR     PLAIN password, read from environment variable VAR
    --server-cert PATH     CURVE: the server's public certificate (load_certificate)
    --client-cert PATH     CURVE: the client's secret certificate (load_certificate)
    --timeout SECONDS      how long to wait for the handshake outcome (default 10)

Connects a PUSH socket (no reconnection: one connection, one ZAP request), queues
MESSAGE, and watches its own socket monitor for the handshake outcome. Prints
tab-separated lines:

    libzmq<TAB>VERSION
    event<TAB>HANDSHAKE_SUCCEEDED<TAB>0           or HANDSHAKE_FAILED_AUTH<TAB>400 etc.
    flushed                                       after a success, once the message was
                                                  handed over (or the timeout ran out)
    timeout                                       no outcome within the timeout

Exit status: 0 when an outcome was seen, 3 on timeout, 1 on a usage error.
"""

import argparse
import os
import sys
import time

import zmq
import zmq.auth
from zmq.utils.monitor import recv_monitor_message

OUTCOMES = {
    zmq.EVENT_HANDSHAKE_SUCCEEDED: "HANDSHAKE_SUCCEEDED",
    zmq.EVENT_HANDSHAKE_FAILED_AUTH: "HANDSHAKE_FAILED_AUTH",
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "HANDSHAKE_FAILED_PROTOCOL",
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "HANDSHAKE_FAILED_NO_DETAIL",
}


def parse_args(argv):
    p = argparse.ArgumentParser(prog="client.py")
    p.add_argument("endpoint")
    p.add_argument("message")
    p.add_argument("mechanism", choices=["null", "plain", "curve"])
    p.add_argument("--username")
    p.add_argument("--password-env")
    p.add_argument("--server-cert")
    p.add_argument("--client-cert")
    p.add_argument("--timeout", type=float, default=10.0)
    args = p.parse_args(argv)
    if args.mechanism == "plain" and (args.username is None or args.password_env is None):
        p.error("plain needs --username and --password-env")
    if args.mechanism == "curve" and (args.server_cert is None or args.client_cert is None):
        p.error("curve needs --server-cert and --client-cert")
    return args


def main(argv):
    args = parse_args(argv)
    print(f"libzmq\t{zmq.zmq_version()}", flush=True)
    deadline = time.monotonic() + args.timeout

    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUSH)
    sock.linger = 0
    # One connection and one ZAP request: a refused client does not retry.
    sock.reconnect_ivl = -1
    if args.mechanism == "plain":
        sock.plain_username = args.username.encode()
        sock.plain_password = os.environ[args.password_env].encode()
    elif args.mechanism == "curve":
        server_public, _ = zmq.auth.load_certificate(args.server_cert)
        public, secret = zmq.auth.load_certificate(args.client_cert)
        if secret is None:
            raise SystemExit(f"{args.client_cert} holds no secret key")
        sock.curve_serverkey = server_public
        sock.curve_publickey = public
        sock.curve_secretkey = secret
    mask = 0
    for event in OUTCOMES:
        mask |= event
    monitor = sock.get_monitor_socket(mask)

    sock.connect(args.endpoint)
    # PUSH has a pipe to the connecting peer at once: this queues without blocking.
    sock.send_string(args.message)

    outcome = None
    while outcome is None:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        if monitor.poll(max(1, int(left * 1000))):
            event = recv_monitor_message(monitor)
            if event["event"] in OUTCOMES:
                outcome = (OUTCOMES[event["event"]], event["value"])

    if outcome is None:
        print("timeout", flush=True)
    else:
        print(f"event\t{outcome[0]}\t{outcome[1]}", flush=True)

    sock.disable_monitor()
    monitor.close(linger=0)
    if outcome is not None and outcome[0] == "HANDSHAKE_SUCCEEDED":
        # Closing with a linger and terminating the context returns once the queued
        # message has been handed to the server (or the linger ran out).
        left = max(0.0, deadline - time.monotonic())
        sock.close(linger=int(left * 1000))
        ctx.term()
        print("flushed", flush=True)
    else:
        sock.close(linger=0)
        ctx.term()
    return 0 if outcome is not None else 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
