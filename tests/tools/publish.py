#!/usr/bin/python3
# publish.py: the publisher of the durability tests (tests/integration/
# durable_*.sh). One keep-alive HTTP/1.1 connection (http.client, Python
# 3 standard library only) sends
#
#   POST /publish {"topic": TOPIC, "payload": "<n>", "qos": QOS,
#                  "allow_queueing": true}
#
# for n = FIRST .. FIRST+COUNT-1, one request at a time, and appends each
# n answered 200 {"accepted": true} to the --accepted file (flushed at
# once, so a test can watch the progress with wc -l).
#
# A request that gets no answer (connection refused, reset or closed, a
# timeout: the daemon is down) is retried with the same n on a new
# connection every 20 ms until --deadline; the daemon may have taken it
# before it died, so a retried message may arrive twice, which the tests
# allow. An answer other than 200 is "refused": with --retry the same n
# is sent again after 20 ms, without it the message is given up.
#
# --gate N:FILE (repeatable): before sending message N, wait until FILE
# exists, so a test can do something (stop the broker, kill the daemon)
# at a known point of the stream. --rate R: at most R requests per second
# (the tests use it so the stream is still flowing when they act).
#
# The last line on stdout is a summary of key=value pairs:
#   accepted= refused= errors= seconds= rate=
# (errors: requests that got no answer). Exit 0 when every message was
# accepted, 1 otherwise, 2 for bad usage.
import argparse
import http.client
import json
import os
import socket
import sys
import time

RETRY_PAUSE = 0.02


def parse_gate(text):
    n, sep, path = text.partition(":")
    if not sep or not n.isdigit() or not path:
        raise argparse.ArgumentTypeError("gate must be N:FILE, not %r" % text)
    return int(n), path


def main():
    ap = argparse.ArgumentParser(description="POST /publish COUNT times over one connection")
    ap.add_argument("--port", type=int, required=True, help="the daemon's HTTP port")
    ap.add_argument("--topic", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--qos", type=int, default=1, choices=(0, 1, 2))
    ap.add_argument("--accepted", required=True, help="file: one accepted n a line")
    ap.add_argument("--retry", action="store_true", help="resend a message answered non-200")
    ap.add_argument("--rate", type=float, default=0.0, help="requests/s at most (0: no limit)")
    ap.add_argument("--gate", type=parse_gate, action="append", default=[])
    ap.add_argument("--deadline", type=float, default=120.0,
                    help="seconds in all before giving up")
    args = ap.parse_args()

    gates = {}
    for n, path in args.gate:
        gates.setdefault(n, []).append(path)
    start = time.monotonic()
    end = start + args.deadline
    out = open(args.accepted, "a", encoding="ascii")
    conn = None
    accepted = refused = errors = 0
    pace_t0, pace_n = start, 0

    def give_up(why):
        print("publish.py: %s (at message %d)" % (why, n), file=sys.stderr)
        summary()
        sys.exit(1)

    def summary():
        secs = time.monotonic() - start
        print("accepted=%d refused=%d errors=%d seconds=%.2f rate=%.0f"
              % (accepted, refused, errors, secs, accepted / secs if secs > 0 else 0.0))
        sys.stdout.flush()

    n = args.first
    while n < args.first + args.count:
        for path in gates.pop(n, []):
            while not os.path.exists(path):
                if time.monotonic() > end:
                    give_up("gate %s never opened" % path)
                time.sleep(0.01)
            pace_t0, pace_n = time.monotonic(), 0
        if args.rate > 0:
            ahead = pace_t0 + pace_n / args.rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        body = json.dumps({"topic": args.topic, "payload": str(n), "qos": args.qos,
                           "allow_queueing": True}).encode()
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=10)
                conn.connect()
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.request("POST", "/publish", body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
            status = resp.status
            if resp.will_close:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as e:
            errors += 1
            if conn is not None:
                conn.close()
                conn = None
            if time.monotonic() > end:
                give_up("no answer: %s" % e)
            time.sleep(RETRY_PAUSE)
            continue
        ok = False
        if status == 200:
            try:
                ok = json.loads(data) == {"accepted": True}
            except ValueError:
                pass
        if not ok:
            refused += 1
            if refused <= 5:
                print("publish.py: message %d answered %d %r" % (n, status, data[:200]),
                      file=sys.stderr)
            if args.retry:
                if time.monotonic() > end:
                    give_up("still refused")
                time.sleep(RETRY_PAUSE)
                continue
        else:
            accepted += 1
            out.write("%d\n" % n)
            out.flush()
        n += 1
        pace_n += 1
    out.close()
    if conn is not None:
        conn.close()
    summary()
    return 0 if accepted == args.count else 1


if __name__ == "__main__":
    sys.exit(main())
