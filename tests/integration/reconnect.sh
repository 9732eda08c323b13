#!/bin/sh
# reconnect.sh: the broker is killed and started again on the same port;
# the daemon notices, says so, reconnects on its own, and events flow
# again. With publish.queue_events = false an event is only accepted (202)
# while connected, so "202 and the message arrives" is the signal that the
# daemon is connected.
# shellcheck source=tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"

# delivered FILE NAME N: the subscriber in FILE got event NAME with n = N.
delivered() {
	messages "$1" | grep -q -F -x "octoprint/event/$2 {\"n\":$3,\"_event\":\"$2\"}"
}

# post_until_delivered FILE NAME SECONDS: POST /events/NAME {"n": k} with
# k = 0, 1, ... until one is answered 202 and reaches the subscriber
# writing FILE. 503 not_connected means "not yet"; anything else fails.
post_until_delivered() {
	_pud_end=$(($(date +%s) + $3 + 1))
	_pud_k=0
	while :; do
		[ "$(date +%s)" -lt "$_pud_end" ] || fail "no $2 event delivered within $3 s"
		post "/events/$2" "{\"n\":$_pud_k}"
		if [ "$CODE" = 202 ]; then
			expect_answer 202 "{\"accepted\":true,\"topic\":\"octoprint/event/$2\"}"
			wait_for "event $2 n=$_pud_k at the subscriber" 5 delivered "$1" "$2" "$_pud_k"
			return 0
		fi
		expect_refused not_connected
		_pud_k=$((_pud_k + 1))
		sleep 0.1
	done
}

start_broker
PORT=$BROKER_PORT
daemon_conf "$T/d.conf" false <<EOF
publish.queue_events = false
EOF
start_sub 'octoprint/#' "$T/sub1.out"
start_daemon "$T/d.conf"
post_until_delivered "$T/sub1.out" Before 10
log_has "connected to broker 127\.0\.0\.1:$PORT" || fail "the connection was not logged"
stop_sub

# Not a clean stop: the daemon sees the TCP connection closed under it.
kill -KILL "$BROKER_PID"
wait "$BROKER_PID" 2>/dev/null
forget "$BROKER_PID"
"$FREEPORT" -c "$PORT" 10 || fail "the killed broker's port is still open"
LOST="broker 127\.0\.0\.1:$PORT( closed the connection|: (read|write) failed).*retrying in"
wait_for "the daemon to log the lost connection" 10 log_has "$LOST"
post /events/During '{"n":0}'
expect_refused not_connected

start_broker "$PORT"
start_sub 'octoprint/#' "$T/sub2.out"
post_until_delivered "$T/sub2.out" After 15
log_has "connected to broker 127\.0\.0\.1:$PORT" 2 || fail "the reconnect was not logged"
messages "$T/sub2.out" | grep -q 'During' && fail "an event refused with 503 was published"
alive "$DAEMON_PID" || fail "octomqttd died"
stop_sub
stop_daemon
exit 0
