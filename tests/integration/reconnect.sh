#!/bin/sh
# reconnect.sh: the broker is killed and started again on the same port;
# the daemon notices, says so, reconnects on its own, and events flow again.
. "$TESTS_SRCDIR/integration/lib.sh"

start_broker
PORT=$BROKER_PORT
daemon_conf "$T/d.conf" <<EOF2
publish.queue_events = false
EOF2
start_daemon "$T/d.conf"
wait_for "the first connection" 10 log_has "connected to broker 127.0.0.1:$PORT"
start_sub 'octoprint/#' "$T/sub1.out"
post /events/Before '{"n":1}'
expect_answer 202 '{"accepted":true,"topic":"octoprint/event/Before"}'
wait_for "the first event" 10 count_messages "$T/sub1.out" 1
stop_sub

kill -KILL "$BROKER_PID"
wait "$BROKER_PID" 2>/dev/null
forget "$BROKER_PID"
wait_for "the daemon to see the broker gone" 10 log_has "retrying in"
post /events/During '{}'
expect_answer 503 '{"accepted":false,"error":"not_connected","message":"not connected to the broker"}'

start_broker "$PORT"
start_sub 'octoprint/#' "$T/sub2.out"
wait_for "a second connection" 15 \
	sh -c "[ \$(grep -c 'connected to broker 127.0.0.1:$PORT' '$DAEMON_LOG') -ge 2 ]"
post /events/After '{"n":2}'
expect_answer 202 '{"accepted":true,"topic":"octoprint/event/After"}'
wait_for "the event after the restart" 10 count_messages "$T/sub2.out" 1
[ "$(messages "$T/sub2.out")" = 'octoprint/event/After {"n":2,"_event":"After","_timestamp":'"$(messages "$T/sub2.out" | sed -n 's/.*"_timestamp":\([0-9]*\)}$/\1/p')"'}' ] ||
	fail "unexpected message after the restart: $(messages "$T/sub2.out")"
kill -0 "$DAEMON_PID" || fail "octomqttd died"
stop_daemon
exit 0
