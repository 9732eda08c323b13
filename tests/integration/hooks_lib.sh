# hooks_lib.sh: the webhook receiver and the helpers the webhook tests
# share (sourced after lib.sh): a receiver (tests/tools/receiver.py) that
# logs each request as a JSON line to $RECV_LOG, counts over that log,
# /status counters, and MQTT publishes from a plain client.

# shellcheck shell=sh

RECV_LOG=$T/received.jsonl
: >"$RECV_LOG"

# start_receiver [CERT KEY]: tests/tools/receiver.py on $RECV_PORT, logging
# to $RECV_LOG; with CERT and KEY it speaks HTTPS.
start_receiver() {
	spawn /usr/bin/python3 "$TESTS_SRCDIR/tools/receiver.py" "$RECV_PORT" "$RECV_LOG" "$@" \
		>>"$T/receiver.log" 2>&1
	RECV_PID=$SPAWNED
	"$FREEPORT" -w "$RECV_PORT" 10 || fail "the receiver did not listen on $RECV_PORT"
}

stop_receiver() {
	kill "$RECV_PID" 2>/dev/null
	wait "$RECV_PID" 2>/dev/null
	forget "$RECV_PID"
	"$FREEPORT" -c "$RECV_PORT" 10 || fail "the receiver's port is still open"
}

# pub TOPIC MESSAGE: a QoS 1 message from a plain MQTT client.
pub() {
	mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t "$1" -m "$2" ||
		fail "mosquitto_pub $1 failed"
}

# received PATH: how many requests came to PATH.
received() {
	grep -c -F "\"path\": \"$1\"" "$RECV_LOG"
}

# got PATH N: at least N requests came to PATH.
got() {
	[ "$(received "$1")" -ge "$2" ]
}

# counter NAME: a counter of GET /status.
counter() {
	hcurl "http://127.0.0.1:$HTTP_PORT/status" |
		/usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["counters"][sys.argv[1]])' "$1"
}

counter_ge() {
	[ "$(counter "$1")" -ge "$2" ]
}

# check PYTHON: run assertions over the received requests (list `reqs`).
check() {
	/usr/bin/python3 -c '
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
def at(path):
    return [r for r in reqs if r["path"] == path]
'"$1" "$RECV_LOG" || fail "check failed: $1"
}

