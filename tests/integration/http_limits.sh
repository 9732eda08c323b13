#!/bin/sh
# http_limits.sh: the connection-level limits of DESIGN §4/§5 against the
# running daemon, over raw sockets: pipelined requests answered in order,
# chunked bodies, http.max_connections (when every slot is answering,
# excess answered 503 and closed, still 503 past the 64 refusals the
# daemon keeps state for; idle or incomplete connections are evicted for
# a newcomer instead, issue 18), http.timeout (a stalled client gets 408 and is closed,
# a client dribbling a request gets 408 http.timeout after its first byte,
# and neither delays another client). No broker is needed.
# shellcheck source=tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"

BROKER_PORT=$("$FREEPORT") # nothing listens there
daemon_conf "$T/d.conf" false <<EOF
http.max_connections = 3
http.timeout = 2
http.max_body = 100
publish.queue_events = false
EOF
start_daemon "$T/d.conf"

# py SCRIPT: run a Python client; it gets the HTTP port as sys.argv[1] and
# the helpers below. Output goes to $T/py.out; failure fails the test.
py() {
	cat >"$T/client.py" <<'EOF'
import socket, sys, time

PORT = int(sys.argv[1])
DEADLINE = 10.0


def connect():
    s = socket.create_connection(("127.0.0.1", PORT), timeout=DEADLINE)
    return s


def read_response(s, buf=b""):
    """One response from s (buf: bytes already read): (status, headers, body, rest)."""
    while b"\r\n\r\n" not in buf:
        data = s.recv(65536)
        if not data:
            raise SystemExit("EOF before a whole response head: %r" % buf)
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers["content-length"])
    while len(rest) < n:
        data = s.recv(65536)
        if not data:
            raise SystemExit("EOF in a response body")
        rest += data
    return status, headers, rest[:n].decode(), rest[n:]


def expect_eof(s):
    """The server closes s (within the socket timeout)."""
    data = s.recv(65536)
    if data:
        raise SystemExit("expected EOF, got %r" % data)


def busy():
    """A connection kept answering: pipelined requests for /metrics that it
    does not read, sent until the daemon stops taking them (its answers
    wait to be written), over a small receive window."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(DEADLINE)
    s.connect(("127.0.0.1", PORT))
    s.setblocking(False)
    pending = b""
    stalled = None
    deadline = time.time() + DEADLINE
    while True:
        if not pending:
            pending = b"GET /metrics HTTP/1.1\r\n\r\n" * 100
        try:
            pending = pending[s.send(pending):]
            stalled = None
        except BlockingIOError:
            if stalled is None:
                stalled = time.time()
            elif time.time() - stalled > 0.3:
                break
            time.sleep(0.02)
        assert time.time() < deadline, "the daemon kept reading"
    s.settimeout(DEADLINE)
    return s


def settle():
    """Wait until the daemon holds no connection but the one asking; return that one."""
    deadline = time.time() + DEADLINE
    while True:
        s = connect()
        s.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
        status, _, body, _ = read_response(s)
        if status == 200 and "\noctomqttd_http_connections 1\n" in body:
            return s
        s.close()
        assert time.time() < deadline, (status, body)
        time.sleep(0.05)


EOF
	cat >>"$T/client.py"
	/usr/bin/python3 "$T/client.py" "$HTTP_PORT" >"$T/py.out" 2>&1 ||
		fail "client: $(cat "$T/py.out")"
	cat "$T/py.out"
}

# Pipelining: five requests in one write, five answers in that order.
py <<'EOF'
s = connect()
s.sendall(b"GET /status HTTP/1.1\r\n\r\n"
          b"GET /nothing HTTP/1.1\r\n\r\n"
          b"POST /events/bad%20name HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"
          b"POST /publish HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
          b"5\r\n{\"top\r\n10\r\nic\":\"a\",\"qos\":3}\r\n0\r\n\r\n"
          b"GET /publish HTTP/1.1\r\n\r\n")
want = [(200, None), (404, "no such route: /nothing"), (400, "invalid_name"),
        (400, "qos must be 0, 1 or 2"), (405, "only POST is allowed on /publish")]
rest = b""
for status, text in want:
    got, headers, body, rest = read_response(s, rest)
    assert got == status, (got, status, body)
    assert text is None or text in body, (text, body)
assert rest == b"", rest
# The connection is still usable.
s.sendall(b"GET /health HTTP/1.1\r\n\r\n")
got, _, body, _ = read_response(s)
assert got == 503 and "not_connected" in body, (got, body)
print("pipelining ok")
EOF

# Chunked bodies through curl (it sends chunked when told to); the 400
# names qos, so the body was joined from its chunks.
CODE=$(hcurl -o "$T/body" -w '%{http_code}' -H 'Transfer-Encoding: chunked' \
	--data-binary '{"topic":"a","qos":7}' "http://127.0.0.1:$HTTP_PORT/publish")
expect_answer 400 '{"error":"bad_request","message":"qos must be 0, 1 or 2"}'
CODE=$(hcurl -o "$T/body" -w '%{http_code}' -H 'Transfer-Encoding: chunked' \
	--data-binary "{\"topic\":\"$(printf '%0100d' 0)\"}" "http://127.0.0.1:$HTTP_PORT/publish")
expect_answer 413 '{"error":"body_too_large","message":"request body is larger than http.max_body"}'

# Framing errors: two Content-Length headers, Content-Length with
# Transfer-Encoding, an unknown coding; each answered and closed.
py <<'EOF'
cases = [
    (b"POST /publish HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
     400, "more than one Content-Length header"),
    (b"POST /publish HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     400, "both Content-Length and Transfer-Encoding"),
    (b"POST /publish HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
     501, "only Transfer-Encoding: chunked is supported"),
    (b"POST /publish HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
     400, "malformed chunk size"),
    (b"GET /" + b"x" * 9000 + b" HTTP/1.1\r\n\r\n", 431, "http.max_header"),
]
for req, status, text in cases:
    s = connect()
    s.sendall(req)
    got, headers, body, rest = read_response(s)
    assert got == status and text in body, (req[:60], got, body)
    assert headers.get("connection") == "close", headers
    expect_eof(s)
print("framing ok")
EOF

# http.max_connections (issue 18): a second daemon, 3 slots and a longer
# http.timeout, so that connections kept answering (a client not reading
# a long stream of pipelined answers) hold their slots while we look.
FIRST_PORT=$HTTP_PORT FIRST_PID=$DAEMON_PID FIRST_LOG=$DAEMON_LOG FIRST_CONF=$DAEMON_CONF
daemon_conf "$T/d2.conf" false <<EOF
http.max_connections = 3
http.timeout = 10
publish.queue_events = false
EOF
start_daemon "$T/d2.conf" "$T/daemon2.log"

# Every slot answering: a fourth connection is answered 503 and closed;
# a slot freed is usable again.
py <<'EOF'
held = [busy() for _ in range(3)]
extra = connect()
got, headers, body, _ = read_response(extra)
assert got == 503 and '"too_many_connections"' in body, (got, body)
expect_eof(extra)
held.pop().close()
deadline = time.time() + DEADLINE
while True:  # the daemon notices the close on its own time
    s = connect()
    s.sendall(b"GET /status HTTP/1.1\r\n\r\n")
    got = read_response(s)[0]
    if got == 200:
        break
    assert got == 503 and time.time() < deadline, got
    s.close()
    time.sleep(0.05)
print("max_connections ok")
EOF
log_has 'refused: 3 connections open, all answering \(http\.max_connections\)' ||
	fail "the refused connection was not logged"

# Far over http.max_connections: 80 excess connections at once, more than
# the 64 refusals the daemon keeps state for; every one still reads its
# 503 and EOF (half of them sent a request first).
py <<'EOF'
settle().close()
held = [busy() for _ in range(3)]
extra = [connect() for _ in range(80)]
for i, s in enumerate(extra):
    if i % 2:
        s.sendall(b"GET /status HTTP/1.1\r\n\r\n")
for i, s in enumerate(extra):
    got, headers, body, _ = read_response(s)
    assert got == 503 and '"too_many_connections"' in body, (i, got, body)
    assert headers.get("connection") == "close", (i, headers)
    expect_eof(s)
print("80 refused ok")
EOF
log_has 'refused at once: 3 connections open, 64 being refused' ||
	fail "no connection went past the 64 kept refusals"

# Slots held by idle or incomplete connections are not busy: a newcomer
# closes the one stalled longest and is served; the others stay.
py <<'EOF'
first = settle()
time.sleep(0.05)  # the daemon ranks by millisecond: no ties
second = connect()
second.sendall(b"GET /status HTTP/1.1\r\n\r\n")
assert read_response(second)[0] == 200
time.sleep(0.05)
third = connect()
third.sendall(b"GET /status HTTP/1.1\r\nX-Incomplete")
time.sleep(0.1)
new = connect()
new.sendall(b"GET /status HTTP/1.1\r\n\r\n")
assert read_response(new)[0] == 200
expect_eof(first)
second.sendall(b"GET /status HTTP/1.1\r\n\r\n")
assert read_response(second)[0] == 200
print("eviction ok")
EOF
log_has 'closed to admit 127\.0\.0\.1:[0-9]+: every slot taken' ||
	fail "the eviction was not logged"
stop_daemon
HTTP_PORT=$FIRST_PORT DAEMON_PID=$FIRST_PID DAEMON_LOG=$FIRST_LOG DAEMON_CONF=$FIRST_CONF

# http.timeout = 2: a client that stalls in the middle of a request gets
# 408 and EOF; an idle keep-alive client is closed; meanwhile a third
# client is answered at once, again and again.
py <<'EOF'
idle = connect()
idle.sendall(b"GET /status HTTP/1.1\r\n\r\n")
assert read_response(idle)[0] == 200
slow = connect()
slow.sendall(b"POST /publish HTTP/1.1\r\nContent-Length: 50\r\n\r\n{\"topic\"")
t0 = time.time()
busy = connect()
n = 0
while time.time() - t0 < 1.0:  # busy is served while slow waits
    busy.sendall(b"GET /status HTTP/1.1\r\n\r\n")
    assert read_response(busy)[0] == 200
    n += 1
got, headers, body, _ = read_response(slow)
assert got == 408 and '"request_timeout"' in body, (got, body)
expect_eof(slow)
expect_eof(idle)
print("timeout ok, %d requests served meanwhile" % n)
EOF

# http.timeout = 2 counts from a request's first byte: a client sending
# one byte every 0.5 s is answered 408 and closed 2 s after its first
# byte (more than 4 s would mean the bytes restarted the clock), while
# another client is served meanwhile.
py <<'EOF'
import select
busy = settle()
drib = connect()
req = b"POST /publish HTTP/1.1\r\nX-Pad: " + b"a" * 40
t0 = time.time()
n = sent = 0
answered = None
while answered is None and time.time() - t0 < 6.0:
    if sent < len(req) and time.time() - t0 >= 0.5 * sent:
        drib.sendall(req[sent:sent + 1])
        sent += 1
    busy.sendall(b"GET /status HTTP/1.1\r\n\r\n")
    assert read_response(busy)[0] == 200
    n += 1
    if select.select([drib], [], [], 0.05)[0]:
        answered = time.time() - t0
assert answered is not None, "no answer after %d bytes in %.1f s" % (sent, time.time() - t0)
assert 1.5 <= answered <= 4.0, (answered, sent)
got, headers, body, _ = read_response(drib)
assert got == 408 and '"request_timeout"' in body, (got, body)
expect_eof(drib)
assert n > 10, n
print("dribble answered 408 after %.1f s (%d bytes), %d requests served meanwhile"
      % (answered, sent, n))
EOF
log_has 'request incomplete 2 s after its first byte, answered 408' ||
	fail "the dribbling client's 408 was not logged"

alive "$DAEMON_PID" || fail "octomqttd died"
stop_daemon
echo "ok"
