#!/usr/bin/python3
# slowloris.py PORT COUNT STATUS: the slow client of tests/integration/
# slowloris.sh (Python 3 standard library only, loopback only).
#
# Keeps COUNT connections to 127.0.0.1:PORT, each sending a request head
# that never ends ("GET / HTTP/1.1", then "X-Slow: aaaa..."), one byte per
# second per connection, their seconds spread evenly. A connection the
# server closes is opened again a second later, so the load stays COUNT
# connections for as long as this runs. Every half second STATUS is
# rewritten with one line of key=value pairs:
#   seconds= opened= open= closed=
# (opened: connections made so far; open: connected now; closed: closed by
# the server). Runs until SIGTERM or SIGINT; exit 0.
import errno
import os
import select
import signal
import socket
import sys
import time

HEAD = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "

stop = False


def on_signal(signum, frame):
    global stop
    stop = True


class Conn:
    def __init__(self, i, count):
        self.phase = i / count  # this connection's offset within each second
        self.sock = None
        self.sent = 0
        self.next_at = 0.0

    def open(self, now):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        err = self.sock.connect_ex(("127.0.0.1", PORT))
        if err not in (0, errno.EINPROGRESS):
            self.sock.close()
            self.sock = None
            self.next_at = now + 1.0
            return False
        self.sent = 0
        self.next_at = now + 1.0
        return True

    def tick(self):
        """Send the next byte; False if the connection is gone."""
        byte = HEAD[self.sent:self.sent + 1] or b"a"
        try:
            if self.sock.send(byte) == 1:
                self.sent += 1
        except BlockingIOError:
            pass
        except OSError as e:
            if e.errno == errno.ENOTCONN:
                return True  # not connected yet: the next second
            return False
        return True

    def close(self, now):
        self.sock.close()
        self.sock = None
        self.next_at = now + 1.0


def main():
    global PORT
    if len(sys.argv) != 4:
        print("usage: slowloris.py PORT COUNT STATUS", file=sys.stderr)
        return 2
    PORT, count, status = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    start = time.monotonic()
    conns = [Conn(i, count) for i in range(count)]
    opened = closed = 0
    for c in conns:
        c.next_at = start + c.phase
    last_status = 0.0
    while not stop:
        now = time.monotonic()
        for c in conns:
            if now < c.next_at:
                continue
            if c.sock is None:
                if c.open(now):
                    opened += 1
                continue
            if not c.tick():
                c.close(now)
                closed += 1
                continue
            c.next_at += 1.0
        live = [c for c in conns if c.sock is not None]
        socks = {c.sock.fileno(): c for c in live}
        try:
            ready, _, _ = select.select(list(socks), [], [], 0.02)
        except InterruptedError:
            ready = []
        now = time.monotonic()
        for fd in ready:
            c = socks[fd]
            try:
                data = c.sock.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:  # the server closed it (after a 408, or evicted)
                c.close(now)
                closed += 1
        if now - last_status >= 0.5:
            last_status = now
            tmp = status + ".tmp"
            with open(tmp, "w") as f:
                f.write("seconds=%d opened=%d open=%d closed=%d\n"
                        % (now - start, opened, sum(c.sock is not None for c in conns), closed))
            os.replace(tmp, status)
    return 0


if __name__ == "__main__":
    sys.exit(main())
