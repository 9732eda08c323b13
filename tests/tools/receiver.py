#!/usr/bin/python3
"""receiver.py PORT LOG [CERT KEY]: a webhook receiver for the integration tests.

Listens on 127.0.0.1:PORT (HTTP/1.1, keep-alive; with CERT and KEY, PEM
files, HTTPS on the same port) and appends one JSON line
per request to LOG: {"path", "sub" (X-Octomqttd-Subscription), "status"
(the answer given), "body" (the request body, parsed)}. The answer
depends on the path:
  /status/NNN/...   always NNN
  /flaky/N/...      500 for the first N requests to that path, then 200
  anything else     200
Run with /usr/bin/python3 (standard library only).
"""
import http.server
import json
import ssl
import sys
import threading

LOCK = threading.Lock()
SEEN = {}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n)
        parts = self.path.split("/")
        status = 200
        with LOCK:
            SEEN[self.path] = SEEN.get(self.path, 0) + 1
            if len(parts) > 2 and parts[1] == "status":
                status = int(parts[2])
            elif len(parts) > 2 and parts[1] == "flaky":
                status = 500 if SEEN[self.path] <= int(parts[2]) else 200
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("latin-1")
            with open(sys.argv[2], "a", encoding="utf-8") as log:
                log.write(json.dumps({"path": self.path,
                                      "sub": self.headers.get("X-Octomqttd-Subscription"),
                                      "status": status, "body": body}) + "\n")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    if len(sys.argv) > 4:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[3], sys.argv[4])
        # The handshake runs in each request's thread, not in accept():
        # one client that stalls or fails it cannot hold up the others.
        server.socket = ctx.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)
    server.serve_forever()


if __name__ == "__main__":
    main()
