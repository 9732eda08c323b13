#!/usr/bin/python3
"""soak-receiver.py PORT MODEFILE LOG: the webhook receiver of contrib/soak.

Python 3 standard library only, loopback only, one thread. Listens on
127.0.0.1:PORT (HTTP/1.1, keep-alive, pipelined requests, bodies by
Content-Length) and prints "ready" once it listens. Each request's body
is the daemon's webhook JSON; its "payload" "{NNNNNNNNNN}" (contrib/soak's
numbered inbound messages) gives the number N. Every request appends a
line "N STATUS" to LOG, STATUS the answer given (200 or 500) or 0 when it
got none (hang mode); N is -1 for a body without a number.

What it does is read from MODEFILE every 0.2 s (absent or empty: ok):
  ok    answer 200
  500   answer 500 (the daemon retries: DESIGN section 6)
  hang  read requests and never answer; the connections stay open until
        the mode changes, then they are closed
  down  the listening socket and every connection closed, as if the
        receiver had stopped (connections refused); it listens again on
        the same port when the mode changes
Each change of mode is written to stderr. SIGTERM or SIGINT: flush LOG,
exit 0.
"""
import json
import os
import re
import selectors
import signal
import socket
import sys
import time

NUMBER = re.compile(r"^\{(\d{1,12})\}$")
STOP = False


def on_signal(signum, frame):
    global STOP
    STOP = True


class Receiver:
    def __init__(self, port, modefile, log):
        self.port = port
        self.modefile = modefile
        self.log = log
        self.mode = "ok"
        self.sel = selectors.DefaultSelector()
        self.lsock = None
        self.conns = {}  # socket -> bytearray of unread input

    def listen(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(128)
        s.setblocking(False)
        self.sel.register(s, selectors.EVENT_READ)
        self.lsock = s

    def close(self, s):
        self.sel.unregister(s)
        self.conns.pop(s, None)
        s.close()

    def close_all(self):
        for s in list(self.conns):
            self.close(s)

    def read_mode(self):
        try:
            with open(self.modefile, encoding="ascii") as f:
                mode = f.read().strip() or "ok"
        except OSError:
            mode = "ok"
        if mode not in ("ok", "500", "hang", "down") or mode == self.mode:
            return
        old, self.mode = self.mode, mode
        print("soak-receiver: %s mode %s (was %s)" % (time.strftime("%H:%M:%S"), mode, old),
              file=sys.stderr, flush=True)
        if old == "hang":
            self.close_all()
        if mode == "down":
            self.close_all()
            self.sel.unregister(self.lsock)
            self.lsock.close()
            self.lsock = None
        elif old == "down":
            self.listen()

    def request(self, s, body):
        try:
            payload = json.loads(body).get("payload")
            m = NUMBER.match(payload) if isinstance(payload, str) else None
            n = int(m.group(1)) if m else -1
        except (ValueError, AttributeError):
            n = -1
        if self.mode == "hang":
            self.log.write("%d 0\n" % n)
            return
        status = 500 if self.mode == "500" else 200
        self.log.write("%d %d\n" % (n, status))
        reason = b"OK" if status == 200 else b"Internal Server Error"
        try:
            s.sendall(b"HTTP/1.1 %d %s\r\nContent-Length: 0\r\n\r\n" % (status, reason))
        except OSError:
            self.close(s)

    def readable(self, s):
        try:
            data = s.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.close(s)
            return
        buf = self.conns[s]
        buf += data
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            length = 0
            for line in bytes(buf[:end]).split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if len(buf) < end + 4 + length:
                return
            body = bytes(buf[end + 4:end + 4 + length])
            del buf[:end + 4 + length]
            self.request(s, body)
            if s not in self.conns:
                return

    def run(self):
        self.listen()
        print("ready", flush=True)
        next_mode = 0.0
        next_flush = 0.0
        while not STOP:
            now = time.monotonic()
            if now >= next_mode:
                self.read_mode()
                next_mode = now + 0.2
            if now >= next_flush:
                self.log.flush()
                next_flush = now + 0.5
            for key, _ in self.sel.select(0.2):
                s = key.fileobj
                if s is self.lsock:
                    try:
                        c, _ = s.accept()
                    except OSError:
                        continue
                    c.setblocking(False)
                    self.sel.register(c, selectors.EVENT_READ)
                    self.conns[c] = bytearray()
                elif s in self.conns:
                    self.readable(s)
        self.log.flush()


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: soak-receiver.py PORT MODEFILE LOG")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with open(sys.argv[3], "a", encoding="ascii") as log:
        Receiver(int(sys.argv[1]), sys.argv[2], log).run()
    os._exit(0)


if __name__ == "__main__":
    main()
