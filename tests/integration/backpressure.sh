#!/bin/sh
# backpressure.sh: issue 17 point 2. While the broker is connected but
# takes messages more slowly than hosts send them, the daemon stops
# reading requests that publish (its outbound queue past half of
# queue.max_messages) instead of answering 503 queue_full, and reads
# them again once the queue is down to a quarter: no 503, every accepted
# event delivered. Paused connections are not timed out (http.timeout 2 s,
# http.header_timeout 1 s, while the broker is stopped for 3 s); GET
# /health is still answered during the pause. Once the broker is gone,
# the offline queue and its 503 queue_full take over again.
#
# The slow broker: QoS 1 with broker.max_inflight = 1 (one round trip per
# message), and the broker stopped (SIGSTOP) for a while in the middle of
# the run; 16 connections pipeline 16 requests each (contrib/loadgen).
# shellcheck source=tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"

[ -x "${LOADGEN:-}" ] || fail "LOADGEN is not set to contrib/loadgen"
COUNT=6000
TOPIC=octoprint/event/Bench

# An online QoS 0 subscriber must not lose messages to mosquitto's
# max_queued_messages (default 1000) while it is behind.
BROKER_EXTRA="persistence false
max_queued_messages 100000000"
start_broker
daemon_conf "$T/d.conf" false <<EOF
publish.qos = 1
broker.max_inflight = 1
queue.max_messages = 200
http.timeout = 2
http.header_timeout = 1
log.level = info
EOF
start_daemon "$T/d.conf"
wait_for "the first connection" 10 log_has "connected to broker 127\.0\.0\.1:$BROKER_PORT"

spawn "$LOADGEN" mqtt-sub -p "$BROKER_PORT" -t "$TOPIC" -n "$COUNT" -i 10 -T 120 \
	>"$T/sub.out" 2>"$T/sub.log"
SUBSCRIBER=$SPAWNED
wait_for "the subscriber" 10 grep -q '^ready$' "$T/sub.out"


# counter_over NAME N: /status counter NAME is over N.
counter_over() {
	[ "$(hcurl --max-time 2 "http://127.0.0.1:$HTTP_PORT/status" | /usr/bin/python3 -c '
import json, sys
print(json.load(sys.stdin)["counters"].get(sys.argv[1], -1))' "$1")" -gt "$2" ]
}

# health: GET /health answers 200 within 1 s.
health() {
	[ "$(hcurl --max-time 1 -o /dev/null -w '%{http_code}' \
		"http://127.0.0.1:$HTTP_PORT/health")" = 200 ]
}

spawn "$LOADGEN" http -p "$HTTP_PORT" -c 16 -P 16 -n "$COUNT" -e Bench -o "$T/refused" \
	>"$T/http.out" 2>"$T/http.log"
CLIENT=$SPAWNED
# Once events flow, stop the broker for 3 s: the requests wait unread
# longer than http.timeout, and /health is still answered.
flowing() { counter_over events 500 || not_alive "$CLIENT"; }
wait_for "500 events accepted" 30 flowing
kill -STOP "$BROKER_PID"
_end=$(($(date +%s) + 3))
while [ "$(date +%s)" -lt "$_end" ]; do
	sleep 0.2
done
health || {
	kill -CONT "$BROKER_PID"
	fail "GET /health not answered while requests are paused"
}
kill -CONT "$BROKER_PID"

wait_for "the client to finish" 120 not_alive "$CLIENT"
wait "$CLIENT" || fail "loadgen http failed: $(cat "$T/http.log")"
forget "$CLIENT"
accepted=$(kv status_202 "$T/http.out")
[ "$(kv non_202 "$T/http.out")" = 0 ] && [ "$(kv errors "$T/http.out")" = 0 ] || {
	sort -k 2 "$T/refused" | awk '{ print $2 }' | uniq -c
	fail "requests not accepted while the broker was connected: $(cat "$T/http.out")"
}
[ "$accepted" = "$COUNT" ] || fail "$accepted of $COUNT accepted: $(cat "$T/http.out")"
wait_for "every accepted event at the subscriber" 60 not_alive "$SUBSCRIBER"
wait "$SUBSCRIBER"
forget "$SUBSCRIBER"
[ "$(kv received "$T/sub.out")" = "$COUNT" ] ||
	fail "$(kv received "$T/sub.out") of $COUNT accepted events delivered"
log_has "queue down to a quarter: requests are read again" || fail "no resume logged"
hcurl "http://127.0.0.1:$HTTP_PORT/status" >"$T/status.json" || fail "GET /status failed"
/usr/bin/python3 -c '
import json, sys
c = json.load(open(sys.argv[1], encoding="utf-8"))["counters"]
assert c["http_pauses"] >= 1, c
assert c["events_refused"] == 0, c
' "$T/status.json" || fail "bad /status counters: $(cat "$T/status.json")"

# The broker gone while congested: the pause ends, the requests are
# queued up to queue.max_messages, and the rest answered 503 queue_full.
# The broker stopped first, so the queue stays congested until it dies.
before=$(hcurl --max-time 2 "http://127.0.0.1:$HTTP_PORT/status" | /usr/bin/python3 -c '
import json, sys
print(json.load(sys.stdin)["counters"]["http_pauses"])')
kill -STOP "$BROKER_PID"
spawn "$LOADGEN" http -p "$HTTP_PORT" -c 4 -P 16 -n 2000 -e Bench >"$T/http2.out" \
	2>"$T/http2.log"
CLIENT=$SPAWNED
wait_for "a pause with the broker stopped" 30 counter_over http_pauses "$before"
# TERM is acted on once it runs again: it closes the daemon's connection.
kill -TERM "$BROKER_PID"
kill -CONT "$BROKER_PID"
wait "$BROKER_PID" 2>/dev/null
forget "$BROKER_PID"
wait_for "the client to finish" 60 not_alive "$CLIENT"
wait "$CLIENT" || fail "loadgen http failed: $(cat "$T/http2.log")"
forget "$CLIENT"
[ "$(kv non_202 "$T/http2.out")" -gt 0 ] && [ "$(kv errors "$T/http2.out")" = 0 ] ||
	fail "no 503 queue_full once disconnected with a full queue: $(cat "$T/http2.out")"
[ "$(kv status_202 "$T/http2.out")" -ge 200 ] ||
	fail "fewer than queue.max_messages accepted: $(cat "$T/http2.out")"
log_has "not connected: requests are read again" || fail "no resume on the lost link"
stop_daemon
exit 0
