#!/bin/sh
# http_errors.sh: every client error of this build against the running
# daemon: status, JSON body with "error" and "message", and the daemon
# still serving afterwards. No broker is needed (events answer 503).
. "$TESTS_SRCDIR/integration/lib.sh"
[ -x /usr/bin/python3 ] || skip "/usr/bin/python3 not found"

BROKER_PORT=$("$FREEPORT") # nothing listens there
daemon_conf "$T/d.conf" <<EOF2
http.max_body = 100
http.max_header = 512
publish.queue_events = false
EOF2
start_daemon "$T/d.conf"
URL=http://127.0.0.1:$HTTP_PORT

# check CODE ERROR: the last answer has this status and error code, and a
# JSON body of exactly {"error": ..., "message": non-empty text} (503
# answers to a publish also say "accepted": false).
check() {
	[ "$CODE" = "$1" ] || fail "expected HTTP $1 ($2), got $CODE: $(cat "$T/body")"
	/usr/bin/python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
if sys.argv[3] == "503":
    assert m.pop("accepted") is False, m
assert sorted(m) == ["error", "message"], m
assert m["error"] == sys.argv[2], m
assert isinstance(m["message"], str) and m["message"], m
' "$T/body" "$2" "$1" || fail "bad error body for $1: $(cat "$T/body")"
}

# raw REQUEST: send bytes as they are, keep the answer's status and body.
raw() {
	printf '%b' "$1" | /usr/bin/python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(sys.stdin.buffer.read())
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
head, _, body = data.partition(b"\r\n\r\n")
sys.stdout.write(head.split(b" ")[1].decode() + "\n")
open(sys.argv[2], "wb").write(body)
' "$HTTP_PORT" "$T/body" >"$T/code" || fail "raw request failed"
	CODE=$(cat "$T/code")
}

CODE=$(curl -sS -o "$T/body" -w '%{http_code}' "$URL/nothing/here")
check 404 not_found

CODE=$(curl -sS -o "$T/body" -D "$T/headers" -w '%{http_code}' "$URL/events/X")
check 405 method_not_allowed
grep -qi '^Allow: POST' "$T/headers" || fail "405 without Allow: POST"

post '/events/bad%20name' '{}'
check 400 invalid_name
post "/events/$(printf 'x%.0s' $(seq 1 129))" '{}'
check 400 invalid_name
post "/events/$(printf 'x%.0s' $(seq 1 128))" '{}'
check 503 not_connected

post /events/X '{"a":'
check 400 invalid_json
post /events/X '[1,2]'
check 400 invalid_json
post /events/X '"text"'
check 400 invalid_json
post /events/X '{"a":01}'
check 400 invalid_json

# http.max_body = 100
post /events/X "{\"a\":\"$(printf 'y%.0s' $(seq 1 92))\"}"
check 503 not_connected
post /events/X "{\"a\":\"$(printf 'y%.0s' $(seq 1 93))\"}"
check 413 body_too_large

# http.max_header = 512
CODE=$(curl -sS -o "$T/body" -w '%{http_code}' -H "X-Big: $(printf 'h%.0s' $(seq 1 600))" \
	-X POST -d '{}' "$URL/events/X")
check 431 headers_too_large
CODE=$(curl -sS -o "$T/body" -w '%{http_code}' -X POST -d '{}' \
	"$URL/events/$(printf 'p%.0s' $(seq 1 600))")
check 431 headers_too_large

# No Content-Length on a POST.
post /events/X
check 411 length_required

raw 'GET / HTTP/2.0\r\nHost: x\r\n\r\n'
check 505 http_version_not_supported
raw 'POST /events/X HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}'
check 400 bad_request
raw 'this is not http\r\n\r\n'
check 400 bad_request

# Still alive and answering.
kill -0 "$DAEMON_PID" || fail "octomqttd died"
post /events/Alive '{}'
expect_answer 503 '{"accepted":false,"error":"not_connected","message":"not connected to the broker"}'
stop_daemon
exit 0
