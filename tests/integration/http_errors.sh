#!/bin/sh
# http_errors.sh: the client errors of DESIGN §5 (and doc/CHOICES.md)
# against the running daemon: status, a JSON body {"error", "message"},
# and the daemon still serving afterwards. No broker is needed: with
# publish.queue_events = false a good event is answered 503 not_connected.
# shellcheck source=tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"

BROKER_PORT=$("$FREEPORT") # nothing listens there
daemon_conf "$T/d.conf" false <<EOF
http.max_body = 100
http.max_header = 512
publish.queue_events = false
EOF
start_daemon "$T/d.conf"
URL=http://127.0.0.1:$HTTP_PORT

# check CODE ERROR: the last answer has status CODE and a JSON object body
# of exactly {"error": ERROR, "message": non-empty text}.
check() {
	[ "$CODE" = "$1" ] || fail "expected HTTP $1 ($2), got $CODE: $(cat "$T/body")"
	/usr/bin/python3 -c '
import json, sys
m = json.load(open(sys.argv[1], encoding="utf-8"))
assert isinstance(m, dict), m
assert sorted(m) == ["error", "message"], m
assert m["error"] == sys.argv[2], m
assert isinstance(m["message"], str) and m["message"], m
' "$T/body" "$2" || fail "bad error body for $1 $2: $(cat "$T/body")"
}

# raw REQUEST: send the bytes (printf %b escapes) on one connection and
# read until the daemon closes it; sets CODE, the answer body to $T/body.
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
print(head.split(b" ")[1].decode())
open(sys.argv[2], "wb").write(body)
' "$HTTP_PORT" "$T/body" >"$T/code" || fail "raw request failed: $1"
	CODE=$(cat "$T/code")
}

# repeat CHAR N: CHAR N times.
repeat() {
	/usr/bin/python3 -c 'import sys; print(sys.argv[1] * int(sys.argv[2]))' "$1" "$2"
}

CODE=$(hcurl -o "$T/body" -w '%{http_code}' "$URL/nothing/here")
check 404 not_found
post /event/X '{}'
check 404 not_found

CODE=$(hcurl -o "$T/body" -D "$T/headers" -w '%{http_code}' "$URL/events/X")
check 405 method_not_allowed
grep -qi '^Allow: *POST' "$T/headers" || fail "405 without Allow: POST: $(cat "$T/headers")"
grep -qi '^Content-Type: *application/json' "$T/headers" ||
	fail "error answer not application/json: $(cat "$T/headers")"

# The GET-only routes: another method is 405 with an Allow naming GET.
for route in /status /health /metrics; do
	for method in POST DELETE; do
		CODE=$(hcurl -o "$T/body" -D "$T/headers" -w '%{http_code}' -X "$method" -d '' \
			"$URL$route")
		check 405 method_not_allowed
		tr -d '\r' <"$T/headers" | sed -n 's/^[Aa][Ll][Ll][Oo][Ww]: *//p' | tr ',' '\n' |
			sed 's/^ *//; s/ *$//' | grep -qx GET ||
			fail "$method $route: 405 without Allow naming GET: $(cat "$T/headers")"
	done
done

# Names: [A-Za-z0-9_.-], 1-128 characters.
post '/events/bad%20name' '{}'
check 400 invalid_name
post '/events/bad/name' '{}'
check 400 invalid_name
post '/events/' '{}'
check 400 invalid_name
post "/events/$(repeat x 129)" '{}'
check 400 invalid_name
post "/events/$(repeat x 128)" '{}'
expect_refused not_connected
post '/events/Ok_.-9' '{}'
expect_refused not_connected

# Bodies: a JSON object, or empty, or null.
post /events/X '{"a":'
check 400 invalid_json
post /events/X '[1,2]'
check 400 invalid_json
post /events/X '"text"'
check 400 invalid_json
post /events/X '{"a":01}'
check 400 invalid_json
post /events/X '{"a":1} x'
check 400 invalid_json
post /events/X 'nul'
check 400 invalid_json

# http.max_body = 100: 100 bytes pass, 101 do not.
post /events/X "{\"a\":\"$(repeat y 92)\"}"
expect_refused not_connected
post /events/X "{\"a\":\"$(repeat y 93)\"}"
check 413 body_too_large

# http.max_header = 512, request line included.
CODE=$(hcurl -o "$T/body" -w '%{http_code}' -H "X-Big: $(repeat h 600)" \
	-X POST -d '{}' "$URL/events/X")
check 431 headers_too_large
CODE=$(hcurl -o "$T/body" -w '%{http_code}' -X POST -d '{}' "$URL/events/$(repeat p 600)")
check 431 headers_too_large

# A POST without Content-Length: curl sends none when it has no body.
post /events/X
check 411 length_required
raw 'POST /events/X HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n{}'
check 411 length_required

raw 'GET / HTTP/2.0\r\nHost: x\r\n\r\n'
check 505 http_version_not_supported
raw 'POST /events/X HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}'
check 400 bad_request
raw 'this is not http\r\n\r\n'
check 400 bad_request

# Still alive and answering.
alive "$DAEMON_PID" || fail "octomqttd died"
post /events/Alive '{}'
expect_refused not_connected
stop_daemon
exit 0
