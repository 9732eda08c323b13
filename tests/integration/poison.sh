#!/bin/sh
# poison.sh: a message the broker keeps refusing never wedges the queue
# (issue 13, point 3; DESIGN §7, last point, and §4 broker.max_packet).
#
# 1. mosquitto with max_packet_size 2000, the daemon's broker.max_packet
#    left at its default (1 MiB), reconnect_min 1: a 3000-byte QoS 1
#    POST /publish is accepted (200) and then makes mosquitto close the
#    connection each time it is sent. 5 normal QoS 1 publishes after it
#    (allow_queueing) must reach a subscriber within 30 s: after the
#    third connection in a row closed with it oldest, the daemon drops it
#    (logged with its topic and size, counted as poison_dropped). At most
#    5 connections in all (the broker's log, and /status connects).
# 2. broker.max_packet = 2000 in the daemon: a publish that would encode
#    larger is refused up front, 413 {"error": "payload_too_large"}, for
#    POST /publish and for a large POST /events/{name}.
#
# On the code before issue 13 this failed with:
#   FAIL: 0 of the 5 messages behind the big one arrived within 30 s; the
#   broker saw 30 connections from poison-test (want at most 5);
#   poison_dropped missing from /status; /status connects = 30 (want at
#   most 5); no log line names poison/big and its size
# and, with part 1 skipped, part 2 with "FAIL: POST /publish of 3000
# bytes: expected HTTP 413, got 200: {"accepted":true}".
# shellcheck source=tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"

CID=poison-test

healthy() {
	[ "$(hcurl -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/health")" = 200 ]
}

# expect_too_large: the last answer is 413 with error payload_too_large.
expect_too_large() {
	[ "$CODE" = 413 ] || fail "$1: expected HTTP 413, got $CODE: $(cat "$T/body")"
	/usr/bin/python3 -c '
import json, sys
m = json.load(open(sys.argv[1], encoding="utf-8"))
assert m.get("error") == "payload_too_large", m
assert isinstance(m.get("message"), str) and m["message"], m
' "$T/body" || fail "$1: bad 413 answer: $(cat "$T/body")"
}

BIG=$(printf '%03000d' 0)

BROKER_EXTRA="persistence false
max_packet_size 2000"
start_broker
start_sub 'poison/#' "$T/sub.out" -q 1
daemon_conf "$T/d.conf" false <<EOF2
broker.client_id = $CID
broker.reconnect_min = 1
broker.reconnect_max = 2
EOF2
start_daemon "$T/d.conf"
wait_for "the daemon to connect" 10 healthy

post /publish "{\"topic\":\"poison/big\",\"payload\":\"$BIG\",\"qos\":1}"
expect_answer 200 '{"accepted":true}'
i=0
while [ "$i" -lt 5 ]; do
	post /publish "{\"topic\":\"poison/n\",\"payload\":\"n$i\",\"qos\":1,\"allow_queueing\":true}"
	expect_answer 200 '{"accepted":true}'
	i=$((i + 1))
done

# Polled for the whole 30 s if need be, then everything is reported.
_end=$(($(date +%s) + 30))
while ! count_messages "$T/sub.out" 5 && [ "$(date +%s)" -lt "$_end" ]; do
	alive "$DAEMON_PID" || fail "octomqttd died"
	sleep 0.1
done
errs=""
bad() {
	errs="$errs${errs:+; }$*"
}
got=$(messages "$T/sub.out" | grep -c -x -E 'poison/n n[0-4]')
[ "$got" -eq 5 ] || bad "$got of the 5 messages behind the big one arrived within 30 s"
conns=$(grep -c "New client connected from .* as $CID " "$T/broker.log")
[ "$conns" -le 5 ] || bad "the broker saw $conns connections from $CID (want at most 5)"
hcurl -o "$T/status" "http://127.0.0.1:$HTTP_PORT/status" || fail "GET /status failed"
/usr/bin/python3 - "$T/status" >"$T/status.kv" <<'PY' || fail "bad /status: $(cat "$T/status")"
import json, sys
c = json.load(open(sys.argv[1]))["counters"]
for k in ("connects", "poison_dropped"):
    print(k, c.get(k, "missing"))
PY
dropped=$(sed -n 's/^poison_dropped //p' "$T/status.kv")
case $dropped in
missing) bad "poison_dropped missing from /status" ;;
1) ;;
*) bad "poison_dropped = $dropped (want 1)" ;;
esac
connects=$(sed -n 's/^connects //p' "$T/status.kv")
[ "$connects" -le 5 ] || bad "/status connects = $connects (want at most 5)"
# The drop is logged with the topic and the size (payload 3000 bytes,
# the packet a little more).
log_has "warn: .*poison/big.*[^0-9]30[0-9][0-9][^0-9]" ||
	bad "no log line names poison/big and its size"
echo "poison: $got of 5 arrived, $conns connection(s) at the broker; /status:" \
	"$(tr '\n' ' ' <"$T/status.kv")"
[ -z "$errs" ] || fail "$errs"
messages "$T/sub.out" | grep -q '^poison/big ' && fail "the big message reached the subscriber"
stop_sub
stop_daemon

# 2. broker.max_packet = 2000: refused up front, nothing sent.
daemon_conf "$T/small.conf" false <<EOF2
broker.client_id = $CID-small
broker.max_packet = 2000
EOF2
start_daemon "$T/small.conf" "$T/daemon-small.log"
wait_for "the daemon to connect (max_packet 2000)" 10 healthy
post /publish "{\"topic\":\"poison/big\",\"payload\":\"$BIG\",\"qos\":1}"
expect_too_large "POST /publish of 3000 bytes"
post /events/Big "{\"pad\":\"$BIG\"}"
expect_too_large "POST /events/Big of 3000 bytes"
post /publish '{"topic":"poison/n","payload":"small","qos":1}'
expect_answer 200 '{"accepted":true}'
alive "$DAEMON_PID" || fail "octomqttd died"
stop_daemon
exit 0
