#!/bin/sh
# queue.sh: events accepted while the broker is down are queued and arrive
# in order once it is back (publish.queue_events); a full queue and a
# disabled queue answer 503 with the reason, nothing dropped silently.
#
# The subscriber must not miss what the daemon sends the moment it
# reconnects, whatever the timing: so it holds a persistent session
# (clean session off, QoS 1) in a broker that keeps its database across
# the restart and queues QoS 0 messages for offline sessions.
. "$TESTS_SRCDIR/integration/lib.sh"

mkdir "$T/db"
BROKER_EXTRA="persistence true
persistence_location $T/db/
queue_qos0_messages true
max_queued_messages 1000"
start_broker
PORT=$BROKER_PORT
start_sub 'octoprint/#' "$T/sub.out" -c -i octomqttd-queue-test -q 1
stop_sub

daemon_conf "$T/d.conf" <<EOF2
publish.timestamp = false
EOF2
start_daemon "$T/d.conf"
wait_for "the first connection" 10 log_has "connected to broker 127.0.0.1:$PORT"
stop_broker
wait_for "the daemon to see the broker gone" 10 log_has "retrying in"

i=0
while [ "$i" -lt 50 ]; do
	post /events/Q "{\"n\":$i}"
	expect_answer 202 '{"accepted":true,"topic":"octoprint/event/Q"}'
	i=$((i + 1))
done

start_broker "$PORT"
wait_for "the queue to be sent" 15 log_has "sending 50 queued message(s)"
: >"$T/sub.out"
start_sub 'octoprint/#' "$T/sub.out" -c -i octomqttd-queue-test -q 1
wait_for "50 queued events" 15 count_messages "$T/sub.out" 50
i=0
messages "$T/sub.out" >"$T/got"
while [ "$i" -lt 50 ]; do
	echo "octoprint/event/Q {\"n\":$i,\"_event\":\"Q\"}"
	i=$((i + 1))
done >"$T/want"
cmp "$T/got" "$T/want" || {
	diff "$T/want" "$T/got" | head -20
	fail "queued events missing or out of order"
}
stop_sub
stop_daemon
stop_broker

# Broker down from the start. queue.max_messages = 5: the sixth is refused.
daemon_conf "$T/full.conf" <<EOF2
queue.max_messages = 5
EOF2
start_daemon "$T/full.conf" "$T/daemon-full.log"
i=0
while [ "$i" -lt 5 ]; do
	post /events/F "{\"n\":$i}"
	expect_answer 202 '{"accepted":true,"topic":"octoprint/event/F"}'
	i=$((i + 1))
done
post /events/F '{"n":5}'
expect_answer 503 '{"accepted":false,"error":"queue_full","message":"offline queue is full (queue.max_messages / queue.max_bytes)"}'
stop_daemon
grep -q "5 message(s) not delivered at shutdown" "$T/daemon-full.log" ||
	fail "messages still queued at shutdown were not reported"

# publish.queue_events = false: refused while disconnected.
daemon_conf "$T/noq.conf" <<EOF2
publish.queue_events = false
EOF2
start_daemon "$T/noq.conf" "$T/daemon-noq.log"
post /events/N '{}'
expect_answer 503 '{"accepted":false,"error":"not_connected","message":"not connected to the broker"}'
stop_daemon
exit 0
